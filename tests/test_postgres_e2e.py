"""Two `linkage serve` processes, as on two machines, sharing one PostgreSQL: one service state
and one audit chain between them."""

from __future__ import annotations

import json
import shutil

import httpx
import psycopg
import pytest
from typer.testing import CliRunner

from apiserver import Server, linked_home
from conftest import EXTRACT_DATE
from linkage.cli import app
from linkage.config import get_settings
from registry import register

pytestmark = pytest.mark.e2e


def _rows(url: str) -> list[dict]:
    with psycopg.connect(url) as con:
        return [json.loads(r[0]) for r in con.execute("SELECT line FROM audit_entries ORDER BY seq")]


def test_two_servers_share_state_and_one_audit_chain(tmp_path, synth_month1, postgres_url, monkeypatch):
    one = tmp_path / "one" / "data"
    ((child, (f, s, dob, pc)),) = linked_home(one, synth_month1, EXTRACT_DATE)
    monkeypatch.setenv("LINKAGE_STATE_URL", postgres_url)
    get_settings.cache_clear()
    sw, sw_secret = register(one, "sw client", "social_care", "social_worker", org="Northshire Children's Services")
    env = {"LINKAGE_STATE_URL": postgres_url, "LINKAGE_AUDIT_CHECKPOINT_EVERY": "4"}
    servers = [Server(one, env)]
    try:
        # The second machine: the same linked data and keys (made by the first server's start),
        # none of the first one's state or audit files.
        two = tmp_path / "two" / "data"
        shutil.copytree(one, two, ignore=shutil.ignore_patterns("service.sqlite*", "audit"))
        dpo, dpo_secret = register(two, "dpo client", "dpo", "dpo", org="Northshire Council")
        servers.append(Server(two, env))
        sw_token = servers[0].token(sw, sw_secret)             # issued by one, honoured by both
        dpo_token = servers[1].token(dpo, dpo_secret)
        sent = []

        def call(n, token, method, path, purpose, **kw):
            r = httpx.request(method, servers[n].url + path, timeout=30, **kw,
                              headers={"Authorization": f"Bearer {token}", "X-Purpose": purpose})
            sent.append(r.headers["X-Request-ID"])
            return r

        lookup = {"forename": f, "surname": s, "date_of_birth": dob.isoformat(), "postcode": pc}
        ref = call(0, sw_token, "POST", "/v1/lookup", "safeguarding", json=lookup).json()["match"]["child_id"]
        for i in range(9):     # the pseudonym one server issued resolves on the other, and back
            r = call((i + 1) % 2, sw_token, "GET", f"/v1/children/{ref}", "safeguarding")
            assert r.status_code == 200 and r.json()["child_id"] == ref, r.text
        assert call(1, sw_token, "POST", "/v1/lookup", "safeguarding", json=lookup).json()["match"]["child_id"] == ref

        # Every request is one entry in one chain, whichever server it reached.
        rows = _rows(postgres_url)
        assert [r["seq"] for r in rows] == list(range(1, len(rows) + 1))
        mine = [r["entry"]["request_id"] for r in rows if r["entry"].get("request_id") in set(sent)]
        assert sorted(mine) == sorted(sent) and len(rows) == len(sent)
        assert not (one / "audit" / "log.jsonl").exists() or not (one / "audit" / "log.jsonl").read_text()
        verify = call(1, dpo_token, "GET", "/v1/audit/verify", "audit").json()
        assert verify["ok"] and verify["entries"] == len(rows) + 1, verify       # + its own entry
        result = CliRunner().invoke(app, ["audit", "verify", "--data-dir", str(one)])
        assert result.exit_code == 0 and f"{len(_rows(postgres_url))} entries" in result.output, result.output
        seen = call(0, dpo_token, "GET", f"/v1/audit/subject/{child}", "audit").json()["entries"]
        assert len(seen) == 11                                  # both servers' reads of this child

        # Disabled through one machine's register: the other refuses the next request at once.
        assert CliRunner().invoke(app, ["clients", "disable", sw.client_id, "--data-dir", str(one)]).exit_code == 0
        assert call(1, sw_token, "GET", f"/v1/children/{ref}", "safeguarding").status_code == 401
        assert call(0, sw_token, "GET", f"/v1/children/{ref}", "safeguarding").status_code == 401
    finally:
        for srv in servers:
            srv.stop()
    result = CliRunner().invoke(app, ["audit", "verify", "--data-dir", str(two)])
    assert result.exit_code == 0, result.output
