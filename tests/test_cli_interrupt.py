"""Ctrl-C in the middle of a command is one line, not a traceback.

DuckDB turns a SIGINT met inside a query into RuntimeError("Query interrupted") raised from
the KeyboardInterrupt (^C during `linkage link`'s training printed a page of traceback). A real
SIGINT reaches a running query only now and then (DuckDB looks for it between tasks), so the
command raises what DuckDB raises, in a real process through the real ``linkage`` App.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

INTERRUPTED = """
from linkage.cli.common import App

app = App()


@app.command()
def slow() -> None:
    try:
        raise KeyboardInterrupt
    except KeyboardInterrupt as exc:
        raise RuntimeError("Query interrupted") from exc     # duckdb 1.x, word for word


@app.command()
def other() -> None:
    raise RuntimeError("a bug")


app()
"""


def _run(tmp_path: Path, command: str) -> subprocess.CompletedProcess:
    script = tmp_path / "cli.py"
    script.write_text(INTERRUPTED)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1] / "src"), "COLUMNS": "200"}
    return subprocess.run([sys.executable, str(script), command], capture_output=True, text=True, env=env, timeout=120)


def test_ctrl_c_inside_a_query_is_one_line(tmp_path):
    done = _run(tmp_path, "slow")
    assert "Traceback" not in done.stderr and done.stderr.count("\n") == 1, done.stderr
    assert done.stderr == "stopped: Ctrl-C before the command finished; run it again\n"
    assert done.returncode == 130


def test_a_bug_is_still_a_traceback_to_report(tmp_path):
    done = _run(tmp_path, "other")              # not an interruption: not dressed up as one
    assert "RuntimeError: a bug" in done.stderr and done.returncode == 1
