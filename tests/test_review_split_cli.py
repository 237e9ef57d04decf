"""`linkage review split` and `review decide` as a new data manager types them.

Before: without ``--reviewer`` they said "a decision needs the reviewer's name" (which flag?);
a record key typed as the id a source knows (``P000000033``, not ``health:P000000033``), or
pasted with a space, was "not part of child ..." though it was.
"""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from apiserver import linked_home
from conftest import EXTRACT_DATE
from linkage.cli import app
from test_pipeline_e2e import exported

pytestmark = pytest.mark.e2e


def run(*args: str):
    return CliRunner().invoke(app, [*args])


def test_the_split_names_the_flag_and_the_record_key_a_source_id_stands_for(tmp_path, synth_month1):
    home = tmp_path / "data"
    linked_home(home, synth_month1, EXTRACT_DATE, children=0)
    ids = exported(home, tmp_path / "ids.csv")
    by_child: dict[str, list[str]] = {}
    for key, child in ids.items():
        by_child.setdefault(child, []).append(key)
    child, members = next((c, sorted(m)) for c, m in sorted(by_child.items()) if len(m) >= 3)
    key = members[0]
    out = run("review", "split", child, key, "--data-dir", str(home))
    assert out.exit_code == 2 and "--reviewer" in out.output, out.output
    out = run("review", "decide", "rv-0000000000000000", "--match", "--data-dir", str(home))
    assert out.exit_code == 2 and "--reviewer" in out.output, out.output
    bare = key.split(":", 1)[1]
    out = run("review", "split", child, bare, "--reviewer", "Ann Clerk", "--data-dir", str(home))
    assert out.exit_code == 2 and f"did you mean {key}?" in out.output, out.output
    out = run("review", "split", child, f" {key} ", "--reviewer", "Ann Clerk", "--data-dir", str(home))
    assert out.exit_code == 0 and f"recorded: {key} split out of {child}" in out.output, out.output
