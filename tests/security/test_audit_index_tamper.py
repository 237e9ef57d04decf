"""The DPO's search index, edited in the data directory, against a real server and the real CLI.

Searches and subject access reports find entries through ``audit/index.sqlite``, a file of its
own beside the log. Deleting a child's rows from it hid every access to that child from the
subject access report, and adding rows invented accesses, while ``linkage audit verify`` said
the log was intact (the log itself was untouched). Verify now checks the index against the log,
reports a disagreement as tampering and rebuilds the index from the log.
"""

from __future__ import annotations

import sqlite3

import httpx
import pytest
from typer.testing import CliRunner

from apiserver import Server
from linkage.cli import app
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


@pytest.mark.parametrize("edit", list(EDITS))
def test_an_edited_search_index_is_reported_by_verify_and_rebuilt(tmp_path, edit):
    home = tmp_path / "data"
    dpo = register(home, "dpo", "dpo", "dpo", org="Northshire DPO", code="934")
    server = Server(home)
    try:
        headers = {"Authorization": f"Bearer {server.token(*dpo)}", "X-Purpose": "audit"}
        from linkage.audit import AuditLog

        log = AuditLog(home)        # accesses to CHILD, as the server writes them (same log, same lock)
        for i in range(3):
            log.append({"request_id": f"r{i}", "client_id": "lk_oak", "agency": "Oak AP Academy", "action": "view",
                        "children": [CHILD], "fields": ["identity.demographics"], "decision": "allow"})
        log.close()
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
