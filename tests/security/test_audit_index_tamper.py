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

OTHER = "C-OTHER00000001"


def _sar(server: Server, headers: dict, child: str) -> list[dict]:
    r = httpx.get(f"{server.url}/v1/audit/subject/{child}", headers=headers)
    assert r.status_code == 200, r.text
    return [e for e in r.json()["entries"] if not e["action"].startswith("security.")]


def _verify(home) -> tuple[int, str]:
    done = CliRunner().invoke(app, ["audit", "verify", "--data-dir", str(home)])
    return done.exit_code, done.output


# Each edit an attacker with write access to the data directory might make to the index, to the
# accesses of {child}. The edits of a backend share one server and log, each to a child of its own
# (the one before it left the log verified and its index rebuilt): a server start each was most of
# the module's time.
EDITS = {
    "a child's rows deleted": ["DELETE FROM entry_children WHERE child_id = '{child}'"],
    "entries deleted": ["DELETE FROM entries WHERE seq IN (SELECT seq FROM entry_children WHERE child_id = "
                        "'{child}')"],
    "an access moved to another child": [f"UPDATE entry_children SET child_id = '{OTHER}' "
                                         "WHERE child_id = '{child}'"],
    "an entry's organisation changed": ["UPDATE entries SET agency = 'Someone Else', client_id = 'lk_x' WHERE seq = "
                                        "(SELECT min(seq) FROM entry_children WHERE child_id = '{child}')"],
}


def _child(edit: str) -> str:
    """The child whose accesses ``edit`` tampers with: one per edit, never OTHER."""
    return f"C-SEEN{sorted({**EDITS, **PG_EDITS}).index(edit):09d}"


def _three_accesses(log, child: str) -> None:
    """Three views of ``child`` by one AP school, written to ``log`` (then closed) as the server would."""
    for i in range(3):
        log.append({"request_id": f"{child}-r{i}", "client_id": "lk_oak", "agency": "Oak AP Academy",
                    "action": "view", "children": [child], "fields": ["identity.demographics"], "decision": "allow"})
    log.close()


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A DPO's client and a real server on a data directory whose log is in files."""
    home = tmp_path_factory.mktemp("index") / "data"
    dpo = register(home, "dpo", "dpo", "dpo", org="Northshire DPO", code="934")
    server = Server(home)
    yield home, server, dpo
    server.stop()


@pytest.mark.parametrize("edit", list(EDITS))
def test_an_edited_search_index_is_reported_by_verify_and_rebuilt(served, edit):
    home, server, dpo = served
    child = _child(edit)
    headers = {"Authorization": f"Bearer {server.token(*dpo)}", "X-Purpose": "audit"}
    from linkage.audit import AuditLog

    assert _verify(home)[0] == 0
    _three_accesses(AuditLog(home), child)   # accesses to the child, as the server writes them (same log, same lock)
    before = _sar(server, headers, child)
    assert len(before) == 3
    assert _verify(home)[0] == 0
    con = sqlite3.connect(home / "audit" / "index.sqlite")
    with con:
        for sql in EDITS[edit]:
            con.execute(sql.format(child=child))
    con.close()
    code, out = _verify(home)
    assert code == 1 and "index" in out, out
    assert [e["seq"] for e in _sar(server, headers, child)] == [e["seq"] for e in before]
    assert _sar(server, headers, OTHER) == []
    assert _verify(home)[0] == 0, "rebuilt from the log"


# The same edits to the PostgreSQL backend's search columns, by someone who can write to the
# database and turns the append-only trigger off first (as its owner can).
PG_EDITS = {
    "a child's accesses moved to another child": f"UPDATE audit_entries SET children = ARRAY['{OTHER}'] "
                                                 "WHERE '{child}' = ANY(children)",
    "a child's accesses hidden from every child": "UPDATE audit_entries SET children = '{{}}' "
                                                  "WHERE '{child}' = ANY(children)",
    "an entry's organisation changed": "UPDATE audit_entries SET agency = 'Someone Else', client_id = 'lk_x' "
                                       "WHERE seq = (SELECT min(seq) FROM audit_entries "
                                       "WHERE '{child}' = ANY(children))",
}


@pytest.fixture(scope="module")
def served_pg(tmp_path_factory, postgres_server):
    """As ``served``, the log in a database of its own on the session's PostgreSQL."""
    url = postgres_server.fresh()
    home = tmp_path_factory.mktemp("index-pg") / "data"
    dpo = register(home, "dpo", "dpo", "dpo", org="Northshire DPO", code="934")
    server = Server(home, env={"LINKAGE_AUDIT_URL": url})
    yield home, server, dpo, url
    server.stop()


@pytest.mark.parametrize("edit", list(PG_EDITS))
def test_edited_search_columns_in_postgresql_are_reported_by_verify_and_rewritten(served_pg, monkeypatch, edit):
    home, server, dpo, postgres_url = served_pg
    child = _child(edit)
    monkeypatch.setenv("LINKAGE_AUDIT_URL", postgres_url)
    get_settings.cache_clear()
    headers = {"Authorization": f"Bearer {server.token(*dpo)}", "X-Purpose": "audit"}
    from linkage.audit.pg import PostgresAuditLog

    assert _verify(home)[0] == 0
    _three_accesses(PostgresAuditLog(home, url=postgres_url), child)
    before = _sar(server, headers, child)
    assert len(before) == 3
    assert _verify(home)[0] == 0
    with psycopg.connect(postgres_url, autocommit=True) as con:
        con.execute("ALTER TABLE audit_entries DISABLE TRIGGER USER")
        con.execute(PG_EDITS[edit].format(child=child))
        con.execute("ALTER TABLE audit_entries ENABLE TRIGGER USER")
    code, out = _verify(home)
    assert code == 1 and "search columns" in out, out
    assert [e["seq"] for e in _sar(server, headers, child)] == [e["seq"] for e in before]
    assert _sar(server, headers, OTHER) == []
    assert _verify(home)[0] == 0, "rewritten from the lines"
    with psycopg.connect(postgres_url) as con, pytest.raises(psycopg.Error, match="append-only"):
        con.execute("DELETE FROM audit_entries")     # the repair left the trigger on
