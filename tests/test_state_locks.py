"""A process that opens the service state twice must still see what other processes write.

The running server holds SQLite connections for its whole life; anything in it that opened the
state again used to open and close a descriptor on ``service.sqlite`` (to make it 0600), which
drops every POSIX lock the process holds on the file. Its connections then kept reading an old
snapshot: a decision or a disabled user written by another process went unseen.
"""

from __future__ import annotations

import subprocess
import sys

from linkage.store.state import ServiceState

_WRITE = ("import sqlite3, sys; c = sqlite3.connect(sys.argv[1], isolation_level=None); "
          "c.execute('INSERT INTO t VALUES (1)')")


def test_a_second_open_does_not_blind_the_first_to_other_writers(tmp_path):
    first = ServiceState(tmp_path)
    first.execute("CREATE TABLE t (x INTEGER)")
    first.execute("INSERT INTO t VALUES (1)")
    ServiceState(tmp_path)                       # opened again in the same process, as a CLI command might
    for n in (2, 3):
        subprocess.run([sys.executable, "-c", _WRITE, str(tmp_path / "service.sqlite")], check=True)
        assert first.execute("SELECT count(*) FROM t").fetchall()[0][0] == n
    assert (tmp_path / "service.sqlite").stat().st_mode & 0o777 == 0o600
