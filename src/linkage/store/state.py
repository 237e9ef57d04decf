"""Service state (clients, consents, agency pseudonyms) in SQLite.

SQLite in WAL mode lets ``linkage clients add`` and the running server share it.
It holds no names, dates of birth or addresses: only pseudonymous identifiers,
hashes of secrets, consent decisions, and clerical review decisions (record keys,
an append-only log; free-text notes sealed).
"""

from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path

__all__ = ["ServiceState"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS clients (
  client_id TEXT PRIMARY KEY, name TEXT NOT NULL, agency TEXT NOT NULL, agency_type TEXT NOT NULL,
  role TEXT NOT NULL, secret_hash TEXT NOT NULL, created_at TEXT NOT NULL, disabled INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS consents (
  consent_id TEXT PRIMARY KEY, child_id TEXT NOT NULL, category TEXT NOT NULL, actor TEXT NOT NULL,
  purpose TEXT NOT NULL, provision TEXT NOT NULL, given_by TEXT NOT NULL, given_on TEXT NOT NULL,
  expires_on TEXT, recorded_by TEXT NOT NULL, recorded_at TEXT NOT NULL, withdrawn_at TEXT, withdrawn_by TEXT);
CREATE INDEX IF NOT EXISTS consents_child ON consents(child_id);
CREATE TABLE IF NOT EXISTS break_glass (
  review_id TEXT PRIMARY KEY, request_id TEXT, client_id TEXT, child_id TEXT, justification TEXT,
  at TEXT, reviewed_by TEXT, reviewed_at TEXT);
CREATE TABLE IF NOT EXISTS pseudonyms (
  agency TEXT NOT NULL, pseudonym TEXT NOT NULL, child_id TEXT NOT NULL, PRIMARY KEY (agency, pseudonym));
CREATE TABLE IF NOT EXISTS review_decisions (
  decision_id INTEGER PRIMARY KEY AUTOINCREMENT, pair_id TEXT NOT NULL, record_key_l TEXT NOT NULL,
  record_key_r TEXT NOT NULL, content_sha_l TEXT, content_sha_r TEXT, decision TEXT NOT NULL, kind TEXT NOT NULL,
  child_id TEXT, match_probability REAL, match_weight REAL, reviewer TEXT NOT NULL, note TEXT NOT NULL,
  channel TEXT NOT NULL, client_id TEXT, decided_at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS review_decisions_pair ON review_decisions(pair_id);
CREATE TRIGGER IF NOT EXISTS review_decisions_no_update BEFORE UPDATE ON review_decisions
  BEGIN SELECT RAISE(ABORT, 'review decisions are append-only'); END;
CREATE TRIGGER IF NOT EXISTS review_decisions_no_delete BEFORE DELETE ON review_decisions
  BEGIN SELECT RAISE(ABORT, 'review decisions are append-only'); END;
"""


class ServiceState:
    def __init__(self, home: Path) -> None:
        path = Path(home) / "service.sqlite"
        path.parent.mkdir(parents=True, exist_ok=True)
        new = not path.exists()
        self._local = threading.local()
        self.path = path
        con = self.connection()
        con.executescript(_SCHEMA)
        if new:
            os.chmod(path, 0o600)

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
