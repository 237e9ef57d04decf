"""Every file the real CLI writes at a path the operator names, whatever was at that path before.

``review show --chart`` (both records' names, dates of birth and addresses in Splink's chart)
and ``outcomes report`` opened the path as it found it: a file already there kept its mode
(0644: readable by every local user) and its owner (another user who planted it reads what
was written), and a symbolic link planted there was followed, so the export overwrote the
link's target. ``audit checkpoints`` made the file 0600 but also followed a link, and
``export-ids`` and ``quarantine export`` wrote the children's identifiers into a file another
user owned. Each now writes a new 0600 file and renames it into place.
"""

from __future__ import annotations

import functools
import json
import os
import stat
import subprocess
from pathlib import Path

import pytest

import incli
from apiserver import linked_home
from conftest import EXTRACT_DATE

pytestmark = pytest.mark.e2e

VICTIM = "a file the export must not touch\n"
NOBODY = 65534


def cli(home: Path, *args: str) -> subprocess.CompletedProcess:
    """The real command under a loose umask, as an operator's shell may have (tests/incli.py)."""
    return incli.run(*args, "--data-dir", str(home), env={"LINKAGE_HOME": str(home)}, umask=0o022)


@pytest.fixture(scope="module")
def home(tmp_path_factory, synth_month1):
    """A copy of the session's linked month 1 (``linked_store``'s): the exports are the real
    commands; what they read needs no CLI-made run. A CLI-linked template of the same month was
    this module's alone, a second training of month 1 in every suite run (the exports written
    from either are the same size, docs/benchmarks.md "Session 34: suite2")."""
    home = tmp_path_factory.mktemp("exports") / "data"
    linked_home(home, synth_month1, EXTRACT_DATE, children=0)
    return home


@functools.cache
def _pair(home: Path) -> str:
    """A pair of the review queue: ``review list`` once for the module's ``home``, not per export."""
    done = cli(home, "review", "list", "--limit", "0", "--format", "json")
    assert done.returncode == 0, done.stderr
    pairs = json.loads(done.stdout)
    assert pairs, "the linked population leaves a pair to review"
    return pairs[0]["id"]


# Each export: the arguments given a target path, and the file under it that holds the export.
EXPORTS = {
    "export-ids": lambda home, out: (["export-ids", str(out)], out),
    "quarantine export": lambda home, out: (["quarantine", "export", str(out)], out),
    "audit checkpoints": lambda home, out: (["audit", "checkpoints", str(out)], out),
    "review show --chart": lambda home, out: (["review", "show", _pair(home), "--chart", str(out)], out),
    "outcomes report": lambda home, out: (["outcomes", "report", "--out", str(out.parent)], out.parent / "outcomes.html"),
}


def _plant(kind: str, target: Path, victim: Path, earlier: bytes) -> None:
    if kind == "symlink":
        victim.write_text(VICTIM)
        target.symlink_to(victim)
    elif kind == "readable":                        # an earlier export (anything else is refused), left 0644
        target.write_bytes(earlier)
        target.chmod(0o644)
    else:                                           # another local user's file, writable by all
        target.write_text("")
        target.chmod(0o666)
        os.chown(target, NOBODY, NOBODY)


@pytest.mark.parametrize("kind", ["symlink", "readable", "foreign"])
@pytest.mark.parametrize("export", list(EXPORTS))
def test_an_export_never_writes_through_what_was_at_its_path(home, tmp_path, export, kind):
    if kind == "foreign" and os.geteuid() != 0:
        pytest.skip("making a file owned by another user needs root")
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    args, written = EXPORTS[export](home, out_dir / "export.out")
    victim = tmp_path / "victim.txt"
    earlier = b""
    if kind == "readable":
        assert cli(home, *args).returncode == 0
        earlier = written.read_bytes()
        written.unlink()
    _plant(kind, written, victim, earlier)
    done = cli(home, *args)
    assert done.returncode == 0, done.stderr
    info = os.lstat(written)
    assert stat.S_ISREG(info.st_mode), "the link itself is replaced, not followed"
    assert stat.S_IMODE(info.st_mode) == 0o600 and info.st_uid == os.getuid(), (oct(info.st_mode), info.st_uid)
    assert written.stat().st_size > 0
    if kind == "symlink":
        assert victim.read_text() == VICTIM, "the link's target was overwritten"
    assert not [p for p in written.parent.iterdir() if p.name.endswith(".part")], "no temporary file left"


def test_an_export_naming_a_directory_is_one_line_and_exit_2(home, tmp_path):
    done = cli(home, "export-ids", str(tmp_path))
    assert done.returncode == 2 and "directory" in done.stderr and "Traceback" not in done.stderr, done.stderr


def test_a_data_directory_another_user_could_write_is_refused(tmp_path):
    """A local user who makes the data directory first (``.linkage`` where the operator runs a
    command, or in a shared directory) owns where the keys, the database and the audit log go: free
    to plant a key of their own, a link, or an older log. The commands used it without a word."""
    if os.geteuid() != 0:
        pytest.skip("making a directory owned by another user needs root")
    planted = tmp_path / "planted"
    planted.mkdir()
    planted.chmod(0o777)
    os.chown(planted, NOBODY, NOBODY)
    shared = tmp_path / "shared"                    # root's, but anyone may rename what is in it
    shared.mkdir()
    shared.chmod(0o777)
    for home in (planted, shared / "data"):
        done = cli(home, "orgs", "add", "--name", "Oak AP Academy", "--type", "ap_school", "--code", "140001")
        assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
        assert len(done.stderr.strip().splitlines()) == 1 and "uid" in done.stderr, done.stderr
        assert not [p for p in home.rglob("*") if not p.is_dir()], "nothing written there"
    sticky = tmp_path / "sticky"                    # /tmp's kind: others cannot move this user's files
    sticky.mkdir()
    sticky.chmod(0o1777)
    done = cli(sticky / "data", "orgs", "add", "--name", "Oak AP Academy", "--type", "ap_school", "--code", "140001")
    assert done.returncode == 0, done.stderr
    assert stat.S_IMODE((sticky / "data").stat().st_mode) == 0o700
