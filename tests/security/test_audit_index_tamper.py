"""The DPO's search index, edited in the data directory, against a real server and the real CLI.

Searches and subject access reports find entries through ``audit/index.sqlite``, a file of its
own beside the log. Deleting a child's rows from it hid every access to that child from the
subject access report, and adding rows invented accesses, while ``linkage audit verify`` said
the log was intact (the log itself was untouched). Verify now checks the index against the log,
reports a disagreement as tampering and rebuilds the index from the log.

With the log in PostgreSQL the index is the entries table's own search columns, written beside
each line: moving a child's accesses to another child (or to none) in those columns alone hid them
from the subject access report while ``audit verify`` said "intact" (the lines, which the chain
covers, were untouched). Verify now compares every row's columns with its own line, reports a
disagreement and rewrites the columns from the line.
"""

from __future__ import annotations

import sqlite3

import psycopg

import httpx
import pytest
from typer.testing import CliRunner

from apiserver import Server
from linkage.cli import app
from linkage.config import get_settings
from registry import register

pytestmark = pytest.mark.e2e

CHILD, OTHER = "C-SEEN000000001", "C-OTHER00000001"


def _sar(server: Server, headers: dict, child: str) -> list[dict]:
    r = httpx.get(f"{server.url}/v1/audit/subject/{child}", headers=headers)
    assert r.status_code == 200, r.text
    return [e for e in r.json()["entries"] if not e["action"].startswith("security.")]


def _verify(home) -> tuple[int, str]:
    done = CliRunner().invoke(app, ["audit", "verify", "--data-dir", str(home)])
    return done.exit_code, done.output


# Each edit an attacker with write access to the data directory might make to the index.
EDITS = {
    "a child's rows deleted": [f"DELETE FROM entry_children WHERE child_id = '{CHILD}'"],
    "entries deleted": [f"DELETE FROM entries WHERE seq IN (SELECT seq FROM entry_children WHERE child_id = "
                        f"'{CHILD}')"],
    "an access moved to another child": [f"UPDATE entry_children SET child_id = '{OTHER}' WHERE child_id = '{CHILD}'"],
    "an entry's organisation changed": ["UPDATE entries SET agency = 'Someone Else', client_id = 'lk_x' WHERE seq = "
                                        f"(SELECT min(seq) FROM entry_children WHERE child_id = '{CHILD}')"],
}



def _three_accesses(log) -> None:
    """Three views of CHILD by one AP school, written to ``log`` (then closed) as the server would."""
    for i in range(3):
        log.append({"request_id": f"r{i}", "client_id": "lk_oak", "agency": "Oak AP Academy", "action": "view",
                    "children": [CHILD], "fields": ["identity.demographics"], "decision": "allow"})
    log.close()

@pytest.mark.parametrize("edit", list(EDITS))
def test_an_edited_search_index_is_reported_by_verify_and_rebuilt(tmp_path, edit):
    home = tmp_path / "data"
    dpo = register(home, "dpo", "dpo", "dpo", org="Northshire DPO", code="934")
    server = Server(home)
    try:
        headers = {"Authorization": f"Bearer {server.token(*dpo)}", "X-Purpose": "audit"}
        from linkage.audit import AuditLog

        _three_accesses(AuditLog(home))   # accesses to CHILD, as the server writes them (same log, same lock)
        before = _sar(server, headers, CHILD)
        assert len(before) == 3
        assert _verify(home)[0] == 0
        con = sqlite3.connect(home / "audit" / "index.sqlite")
        with con:
            for sql in EDITS[edit]:
                con.execute(sql)
        con.close()
        code, out = _verify(home)
        assert code == 1 and "index" in out, out
        assert [e["seq"] for e in _sar(server, headers, CHILD)] == [e["seq"] for e in before]
        assert _sar(server, headers, OTHER) == []
        assert _verify(home)[0] == 0, "rebuilt from the log"
    finally:
        server.stop()


# The same edits to the PostgreSQL backend's search columns, by someone who can write to the
# database and turns the append-only trigger off first (as its owner can).
PG_EDITS = {
    "a child's accesses moved to another child": f"UPDATE audit_entries SET children = ARRAY['{OTHER}'] "
                                                 f"WHERE '{CHILD}' = ANY(children)",
    "a child's accesses hidden from every child": f"UPDATE audit_entries SET children = '{{}}' "
                                                  f"WHERE '{CHILD}' = ANY(children)",
    "an entry's organisation changed": "UPDATE audit_entries SET agency = 'Someone Else', client_id = 'lk_x' "
                                       f"WHERE seq = (SELECT min(seq) FROM audit_entries WHERE '{CHILD}' = ANY(children))",
}


@pytest.mark.parametrize("edit", list(PG_EDITS))
def test_edited_search_columns_in_postgresql_are_reported_by_verify_and_rewritten(tmp_path, postgres_url,
                                                                                  monkeypatch, edit):
    home = tmp_path / "data"
    monkeypatch.setenv("LINKAGE_AUDIT_URL", postgres_url)
    get_settings.cache_clear()
    dpo = register(home, "dpo", "dpo", "dpo", org="Northshire DPO", code="934")
    server = Server(home, env={"LINKAGE_AUDIT_URL": postgres_url})
    try:
        headers = {"Authorization": f"Bearer {server.token(*dpo)}", "X-Purpose": "audit"}
        from linkage.audit.pg import PostgresAuditLog

        _three_accesses(PostgresAuditLog(home, url=postgres_url))
        before = _sar(server, headers, CHILD)
        assert len(before) == 3
        assert _verify(home)[0] == 0
        with psycopg.connect(postgres_url, autocommit=True) as con:
            con.execute("ALTER TABLE audit_entries DISABLE TRIGGER USER")
            con.execute(PG_EDITS[edit])
            con.execute("ALTER TABLE audit_entries ENABLE TRIGGER USER")
        code, out = _verify(home)
        assert code == 1 and "search columns" in out, out
        assert [e["seq"] for e in _sar(server, headers, CHILD)] == [e["seq"] for e in before]
        assert _sar(server, headers, OTHER) == []
        assert _verify(home)[0] == 0, "rewritten from the lines"
        with psycopg.connect(postgres_url) as con, pytest.raises(psycopg.Error, match="append-only"):
            con.execute("DELETE FROM audit_entries")     # the repair left the trigger on
    finally:
        server.stop()
        get_settings.cache_clear()
