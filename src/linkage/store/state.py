"""Service state (organisations, clients, consents, pseudonyms) in SQLite.

SQLite in WAL mode lets ``linkage clients add`` and the running server share it.
It holds no names, dates of birth or addresses: only pseudonymous identifiers,
hashes of secrets, and consent decisions.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from linkage.files import private_file

__all__ = ["ServiceState"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS organisations (
  org_id TEXT PRIMARY KEY, name TEXT NOT NULL, org_type TEXT NOT NULL, code TEXT NOT NULL,
  active INTEGER NOT NULL DEFAULT 1, created_at TEXT NOT NULL, UNIQUE (org_type, code));
CREATE TABLE IF NOT EXISTS clients (
  client_id TEXT PRIMARY KEY, name TEXT NOT NULL, org_id TEXT NOT NULL REFERENCES organisations (org_id),
  role TEXT NOT NULL, secret_hash TEXT NOT NULL, created_at TEXT NOT NULL, disabled INTEGER NOT NULL DEFAULT 0,
  generation INTEGER NOT NULL DEFAULT 0, failed_logins INTEGER NOT NULL DEFAULT 0,
  locked_until REAL NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS consents (
  consent_id TEXT PRIMARY KEY, child_id TEXT NOT NULL, category TEXT NOT NULL,
  recipient_kind TEXT NOT NULL CHECK (recipient_kind IN ('organisation', 'type')), recipient TEXT NOT NULL,
  purpose TEXT NOT NULL, provision TEXT NOT NULL CHECK (provision IN ('permit', 'deny')),
  given_by TEXT NOT NULL, method TEXT NOT NULL, evidence_ref TEXT NOT NULL,
  given_on TEXT NOT NULL, expires_on TEXT,
  recorder_org TEXT NOT NULL, recorder_type TEXT NOT NULL, recorded_by TEXT NOT NULL, recorded_at TEXT NOT NULL,
  withdrawn_at TEXT, withdrawn_by TEXT);
CREATE INDEX IF NOT EXISTS consents_child ON consents(child_id);
CREATE TABLE IF NOT EXISTS break_glass (
  review_id TEXT PRIMARY KEY, request_id TEXT, client_id TEXT, child_id TEXT, justification TEXT,
  at TEXT, reviewed_by TEXT, reviewed_at TEXT);
CREATE TABLE IF NOT EXISTS pseudonyms (
  org_id TEXT NOT NULL, pseudonym TEXT NOT NULL, child_id TEXT NOT NULL, PRIMARY KEY (org_id, pseudonym));
"""

# Tables from before organisations were registered: their clients named their own agency and
# pseudonyms hung off that free text, so neither can be trusted. Kept, renamed, for the record.
_SUPERSEDED = {"clients": "agency", "pseudonyms": "agency"}


def _retire_unverified_consents(con: sqlite3.Connection) -> None:
    """Consents from before recipients were organisations are kept aside, never evaluated.

    That table keyed consent on the recipient's type and let anyone record it, so its
    permits cannot be trusted; it is renamed for a consent officer to re-record from.
    """
    cols = {r[1] for r in con.execute("PRAGMA table_info(consents)")}
    if "actor" in cols and "recipient_kind" not in cols:
        con.execute("ALTER TABLE consents RENAME TO consents_unverified")
        con.execute("DROP INDEX IF EXISTS consents_child")


class ServiceState:
    def __init__(self, home: Path) -> None:
        path = Path(home) / "service.sqlite"
        path.parent.mkdir(parents=True, exist_ok=True)
        # 0600 before SQLite first opens it: its -wal and -shm files take the database's mode.
        private_file(path)
        self._local = threading.local()
        self.path = path
        con = self.connection()
        _retire_unverified_consents(con)
        for table, old_column in _SUPERSEDED.items():
            if old_column in {r["name"] for r in con.execute(f"PRAGMA table_info({table})")}:
                con.execute(f"ALTER TABLE {table} RENAME TO {table}_v0")
        con.executescript(_SCHEMA)

    def connection(self) -> sqlite3.Connection:
        """One connection per thread; WAL so readers never block the writer."""
        con = getattr(self._local, "con", None)
        if con is None:
            con = sqlite3.connect(self.path, timeout=10, isolation_level=None)
            con.execute("PRAGMA journal_mode=WAL")
            con.execute("PRAGMA synchronous=FULL")
            con.row_factory = sqlite3.Row
            self._local.con = con
        return con

    def execute(self, sql: str, params: tuple = ()) -> sqlite3.Cursor:
        return self.connection().execute(sql, params)
