"""A throwaway PostgreSQL server for tests: initdb in a temporary directory, started with
pg_ctl on a free loopback port, removed afterwards. As root it runs as the ``postgres``
user (PostgreSQL refuses to run as root). Each test gets a fresh database in it."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

from apiserver import free_port


def _bin(name: str) -> str:
    found = shutil.which(name) or next(iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)),
                                       None)
    if not found:
        raise RuntimeError(f"{name} not found: install PostgreSQL (`apt-get install -y postgresql`, or `make test`)")
    return found


class PostgresServer:
    def __init__(self, *, fsync: bool = False) -> None:
        """``fsync=False`` for tests (nothing to keep); True where a benchmark measures durable commits."""
        self.dir = Path(tempfile.mkdtemp(prefix="linkage-pg-"))
        self.port = free_port()
        self._prefix: list[str] = []
        self.user = pwd.getpwuid(os.getuid()).pw_name
        if os.getuid() == 0:
            self.user = "postgres"
            entry = pwd.getpwnam(self.user)
            os.chown(self.dir, entry.pw_uid, entry.pw_gid)
            self._prefix = ["runuser", "-u", self.user, "--"]
        data = self.dir / "data"
        self._run(_bin("initdb"), "-D", str(data), "-U", self.user, "-A", "trust", "-E", "UTF8", "--no-sync")
        self.data = data
        self._options = (f"-h 127.0.0.1 -p {self.port} -k {self.dir} -c fsync={'on' if fsync else 'off'} "
                         "-c max_connections=200")
        self._start()
        self._n = 0
        self.version = self.admin("SHOW server_version")

    def _start(self) -> None:
        # -t: pg_ctl's own 60 s wait for the server to accept connections is short on a loaded
        # 2-core CI machine starting eight other things.
        self._run(_bin("pg_ctl"), "-D", str(self.data), "-l", str(self.dir / "log"), "-w", "-t", "300",
                  "-o", self._options, "start")

    def crash(self) -> None:
        """Stop at once, as a crash would (no clean shutdown: recovery from the WAL on start)."""
        self._run(_bin("pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop")

    def start(self) -> None:
        """Start again after ``crash``, on the same port."""
        self._start()

    def _run(self, *cmd: str) -> str:
        return subprocess.run([*self._prefix, *cmd], check=True, capture_output=True, text=True,
                              cwd=self.dir).stdout

    def url(self, db: str = "postgres") -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{db}"

    def admin(self, sql: str) -> str:
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as con:
            cur = con.execute(sql)
            return cur.fetchone()[0] if cur.description else ""

    def fresh(self) -> str:
        """The URL of a new, empty database."""
        self._n += 1
        name = f"t{self._n}"
        self.admin(f"CREATE DATABASE {name}")
        return self.url(name)

    def stop(self) -> None:
        try:
            self._run(_bin("pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)
