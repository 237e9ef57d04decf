"""The real ``linkage`` command run in the test's own process (typer's runner), as a command's
process would see it: its environment, a umask, fresh settings. An interpreter of its own costs
each command 0.6 to 1.2 s of CPU (``clients list``, ``publish``) and 1.5 to 3 s of wall on the
loaded machine before it does anything (docs/benchmarks.md "Suite time (s28-suite-serve)"); a
test about what a command does, not about its process, runs it here."""

from __future__ import annotations

import os
import subprocess

from linkage.config import get_settings


def run(*args: str, env: dict[str, str] | None = None, umask: int | None = None) -> subprocess.CompletedProcess:
    """``linkage *args``: its exit code, what it printed and what it said on stderr, as
    ``subprocess.run(..., capture_output=True, text=True)`` gives them. A bug's exception is
    raised here (where a process of its own would print a traceback). The runner calls the
    command itself, not ``App.__call__``: a test of the one line said for a failure no command
    caught runs the command in a process of its own."""
    from typer.testing import CliRunner

    from linkage.cli import app

    old = os.umask(0o077)                  # the command sets its own (``_private_files``): put back after
    os.umask(old if umask is None else umask)
    get_settings.cache_clear()
    try:
        done = CliRunner().invoke(app, list(args), env=env)
    finally:
        os.umask(old)
        get_settings.cache_clear()
    if done.exception is not None and not isinstance(done.exception, SystemExit):
        raise done.exception
    return subprocess.CompletedProcess(list(args), done.exit_code, done.stdout, done.stderr)
