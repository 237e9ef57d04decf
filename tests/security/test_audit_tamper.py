"""Attacks on the audit log that went undetected before: an unsealed tail, a key beside the log,
lines split on U+2028, refused requests leaving no trace, reads that write.

The attacker here can rewrite the data directory but does not hold the signing key (kept
outside it) and cannot reach the witness's directory, which is the DPO's.
"""

from __future__ import annotations

import json
import os
import sys
import time

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from apiserver import Server
from linkage.audit import AuditLog
from linkage.audit.log import _hash, _mac, canonical_json
from linkage.audit.signer import Signer
from linkage.cli import app
from linkage.errors import Conflict
from registry import register

runner = CliRunner()


def offsite_key(tmp_path):
    """A signing key kept outside the data directory (LINKAGE_AUDIT_KEY_FILE)."""
    path = tmp_path / "offsite" / "audit.pem"
    path.parent.mkdir(exist_ok=True)
    key = Ed25519PrivateKey.generate()
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    return path


def sealed_at(log, seq, within=30):
    """Wait until the sealer's thread has sealed ``seq`` (it seals when it will: under load, late)."""
    deadline = time.monotonic() + within
    while (log.last_checkpoint() or {}).get("seq") != seq and time.monotonic() < deadline:
        time.sleep(0.02)
    assert (log.last_checkpoint() or {}).get("seq") == seq, f"not sealed at {seq} within {within} s"


@pytest.fixture
def served(request, tmp_path, monkeypatch):
    """A running log (N=10, T=0.3 s) with its key off-site, 12 entries, sealed by the timer.
    Which checkpoints lie under 12 is the sealer's timing; a test that needs one there asks for
    the entries in batches (``indirect``), each sealed before the next is written."""
    home = tmp_path / "data"
    monkeypatch.setenv("LINKAGE_AUDIT_KEY_FILE", str(offsite_key(tmp_path)))
    from linkage.config import get_settings

    get_settings.cache_clear()
    from linkage.audit.signer import signer_from_settings

    log = AuditLog(home, 10, signer_from_settings(home, get_settings()), checkpoint_seconds=0.3)
    done = 0
    for batch in getattr(request, "param", (12,)):
        for i in range(done, done + batch):
            log.append({"request_id": f"r{i}", "client_id": "c", "action": "view", "children": [f"C-{i}"],
                        "decision": "allow"})
        done += batch
        sealed_at(log, done)
    yield home, log
    log.close()


def cli(*args):
    result = runner.invoke(app, [*map(str, args)])
    result.said = " ".join(result.output.split())          # rich wraps long lines
    return result


def witness(home, store):
    return cli("audit", "witness", "--store", store, "--data-dir", home)


def rows(home):
    return [json.loads(x) for x in (home / "audit" / "log.jsonl").read_bytes().split(b"\n") if x]


def write_rows(home, recs):
    (home / "audit" / "log.jsonl").write_text("".join(canonical_json(r, True) + "\n" for r in recs))


def test_the_tail_is_sealed_within_n_entries_or_t_seconds(served):
    home, log = served
    assert log.last_checkpoint()["seq"] == 12
    # The 10th entry woke the sealer (it seals the head it finds), the timer the rest; on a busy
    # machine the timer may come first. Only the count's trigger alone: test_audit_sealer.py.
    seqs = [c["seq"] for c in log.checkpoints()]
    assert seqs == sorted(set(seqs)) and seqs[-1] == 12


@pytest.mark.parametrize("served", [(9, 3)], indirect=True)   # a checkpoint at 9, then 12 (10, 11: maybe)
def test_truncating_the_last_entries_is_caught(served, tmp_path):
    home, log = served
    store = tmp_path / "dpo-witness"
    assert witness(home, store).exit_code == 0
    write_rows(home, rows(home)[:-3])                     # drop the last three entries
    cps = (home / "audit" / "checkpoints.jsonl").read_text().splitlines()
    kept = [cp for cp in cps if json.loads(cp)["seq"] <= 9]         # and the checkpoints over them
    assert json.loads(kept[-1])["seq"] == 9 and len(kept) < len(cps)
    (home / "audit" / "checkpoints.jsonl").write_text("".join(cp + "\n" for cp in kept))
    result = cli("audit", "verify", "--witness", store, "--data-dir", home)
    assert result.exit_code == 1 and "truncated" in result.said
    again = witness(home, store)
    assert again.exit_code == 1 and "truncated or rolled back" in again.said


def test_editing_the_last_line_and_recomputing_its_hash_is_caught(served, tmp_path):
    home, log = served
    store = tmp_path / "dpo-witness"
    assert witness(home, store).exit_code == 0
    recs = rows(home)
    recs[-1]["entry"]["decision"] = "deny"
    recs[-1]["hash"] = _hash(recs[-1]["prev"], recs[-1]["entry"])
    write_rows(home, recs)
    result = cli("audit", "verify", "--witness", store, "--data-dir", home)
    assert result.exit_code == 1 and "line 12" in result.said and "witnessed checkpoint" in result.said


def test_a_forged_correctly_chained_line_is_caught_and_never_sealed(served, tmp_path):
    home, log = served
    store = tmp_path / "dpo-witness"
    assert witness(home, store).exit_code == 0
    recs = rows(home)
    forged = {"v": 2, "seq": 13, "prev": recs[-1]["hash"], "entry": {
        "request_id": "x", "client_id": "someone-else", "action": "view", "children": ["C-1"], "decision": "allow",
        "time": recs[-1]["entry"]["time"]}}
    forged["hash"] = _hash(forged["prev"], forged["entry"])
    forged["mac"] = _mac(b"guess" * 7, 13, forged["hash"])           # the key is not in the data directory
    write_rows(home, recs + [forged])
    log.append({"request_id": "after", "client_id": "c", "action": "view", "decision": "allow"})
    time.sleep(0.8)                                                     # the timer tries to seal it
    assert log.last_checkpoint()["seq"] == 12                           # and refuses
    result = cli("audit", "verify", "--witness", store, "--data-dir", home)
    assert result.exit_code == 1 and "line 13" in result.said and "MAC" in result.said
    assert cli("audit", "seal", "--data-dir", home).exit_code == 2
    stalled = cli("audit", "witness", "--store", store, "--data-dir", home, "--max-unsealed", "0.5")
    assert stalled.exit_code == 1 and "sealing is failing" in stalled.said     # the DPO hears of it
    # Having read the report, the operator goes on sealing; the log says so, and still shows the line.
    assert cli("audit", "seal", "--acknowledge", "--data-dir", home).exit_code == 0
    assert rows(home)[-1]["entry"]["action"] == "audit.tamper_acknowledged"
    assert "line 13" in cli("audit", "verify", "--data-dir", home).said
    assert witness(home, store).exit_code == 0


def test_junk_in_the_checkpoint_file_neither_stops_auditing_nor_passes(served):
    home, log = served
    with open(home / "audit" / "checkpoints.jsonl", "a") as fh:
        fh.write('not json\n{"seq": 99, "hash": "00", "signature": "AAAA"}\n')
    for i in range(12):
        log.append({"request_id": f"after{i}", "client_id": "c", "action": "view", "decision": "allow"})
    # Sealing carried on past the junk (the sealer thread, woken by the count, seals within moments).
    deadline = time.time() + 10
    while (log.last_checkpoint() or {}).get("seq", 0) < 20 and time.time() < deadline:
        time.sleep(0.05)
    assert log.last_checkpoint()["seq"] >= 20
    problems = [f.problem for f in log.verify()]
    assert problems.count("signed checkpoint signature is not valid") == 2


def test_an_older_copy_put_in_place_of_a_running_log_loses_no_entry(served):
    """Someone who can write the audit directory puts last hour's copy of the log in its place (or
    removes it) while the server runs. Each worker kept appending to the file it had open, now
    seen by no one and gone when the server stops: every access after went unrecorded. The log the
    server wrote is now put back (the file found kept beside it) and the event recorded, once."""
    home, log = served
    other = AuditLog(home, 10, log.signer)          # a second worker on the same log
    path = home / "audit" / "log.jsonl"
    older = path.read_bytes()
    add = lambda to, i: to.append({"request_id": f"x{i}", "client_id": "c", "action": "view",   # noqa: E731
                                   "children": [f"C-{i}"], "decision": "allow"})
    for i in range(5):
        add((log, other)[i % 2], i)
    stale = home / "stale.jsonl"
    stale.write_bytes(older)
    os.replace(stale, path)                         # the older copy, in one rename
    for i in range(5, 10):
        add((other, log)[i % 2], i)
    path.unlink()                                   # and then no log at all
    for i in range(10, 14):
        add((log, other)[i % 2], i)
    other.close()
    recs = rows(home)
    assert [r["seq"] for r in recs] == list(range(1, len(recs) + 1))
    assert {f"x{i}" for i in range(14)} <= {r["entry"]["request_id"] for r in recs}
    events = [r["entry"] for r in recs if r["entry"]["action"] == "security.audit_log_replaced"]
    assert [(e["found_seq"], e["restored_to_seq"]) for e in events] == [(12, 17), (None, 23)], events
    assert (home / "audit" / events[0]["kept_as"]).read_bytes() == older and events[1]["kept_as"] is None
    result = cli("audit", "verify", "--data-dir", home)
    assert result.exit_code == 0 and "intact" in result.said, result.said


def test_a_full_rewrite_resigned_with_the_data_directory_key_is_caught(tmp_path):
    """The default key sits in keys/; an attacker rewrites everything and re-signs with it."""
    home, store = tmp_path / "data", tmp_path / "dpo-witness"
    log = AuditLog(home, checkpoint_every=5)
    for i in range(10):
        log.append({"request_id": f"r{i}", "client_id": "c", "action": "view", "decision": "allow"})
    assert witness(home, store).exit_code == 0
    log.close()

    def rewrite(mac_key):
        recs, prev = rows(home), "0" * 64
        recs[1]["entry"]["decision"] = "deny"
        for rec in recs:
            rec["prev"], rec["hash"] = prev, _hash(prev, rec["entry"])
            rec["mac"], prev = _mac(mac_key, rec["seq"], rec["hash"]), rec["hash"]
        write_rows(home, recs)
        (home / "audit" / "checkpoints.jsonl").unlink()

    rewrite(log.signer.mac_key)
    AuditLog(home).checkpoint()                                       # re-signed with keys/audit_ed25519.pem
    assert cli("audit", "verify", "--data-dir", home).exit_code == 0   # on its own, it looks intact
    result = cli("audit", "verify", "--witness", store, "--data-dir", home)
    assert result.exit_code == 1 and "witnessed checkpoint (log rewritten)" in result.said
    assert witness(home, store).exit_code == 1
    # With a new key instead, the witness's pinned key tells. (The attacker writes it: a missing key is
    # no longer made afresh over a log that has entries.)
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    (home / "keys" / "audit_ed25519.pem").write_bytes(Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    fresh = AuditLog(home)
    rewrite(fresh.signer.mac_key)
    fresh.checkpoint()
    changed = witness(home, store)
    assert changed.exit_code == 1 and "pinned" in changed.said


def test_the_witness_accepts_a_log_that_only_grew(served, tmp_path):
    home, log = served
    store = tmp_path / "dpo-witness"
    assert witness(home, store).exit_code == 0
    for i in range(25):
        log.append({"request_id": f"more{i}", "client_id": "c", "action": "view", "decision": "allow"})
    log.checkpoint()
    grew = witness(home, store)
    assert grew.exit_code == 0 and "latest seq 37" in grew.said
    assert cli("audit", "verify", "--witness", store, "--data-dir", home).exit_code == 0


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(texts=st.lists(st.text(), min_size=1, max_size=5),          # lone surrogates too
       special=st.sampled_from(["\u2028", "\u2029", "\u0085", "\r", "\x1c", "\x0b", "\x0c", "\n"]))
def test_any_text_in_any_field_round_trips(tmp_path_factory, texts, special):
    home = tmp_path_factory.mktemp("unicode")
    log = AuditLog(home, checkpoint_every=3)
    written = []
    for i, text in enumerate(texts):
        entry = {"request_id": f"r{i}", "client_id": text, "agency": f"Agency{special}{text}", "action": "view",
                 "children": [text + special], "decision": "allow", "note": {special: text}}
        log.append(entry)
        written.append(entry)
    log.close()
    assert AuditLog(home).verify() == []
    assert [{k: r["entry"][k] for k in written[0]} for r in AuditLog(home).entries()] == written
    total, found = AuditLog(home).index.search(agency=written[0]["agency"])
    assert total >= 1 and found[0]["entry"]["agency"] == written[0]["agency"]


def test_a_sign_command_keeps_the_key_out_of_the_process(tmp_path):
    key_path = offsite_key(tmp_path)
    key = serialization.load_pem_private_key(key_path.read_bytes(), None)
    pub = tmp_path / "offsite" / "audit.pub"
    pub.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                  serialization.PublicFormat.SubjectPublicKeyInfo))
    script = tmp_path / "offsite" / "sign.py"
    script.write_text("import sys, base64\nfrom cryptography.hazmat.primitives import serialization\n"
                      f"k = serialization.load_pem_private_key(open({str(key_path)!r}, 'rb').read(), None)\n"
                      "print(base64.b64encode(k.sign(sys.stdin.buffer.read())).decode())\n")
    from linkage.audit.signer import signer_from_settings
    from linkage.config import Settings

    s = Settings(audit_sign_command=f"{sys.executable} {script}", audit_public_key_file=pub)
    log = AuditLog(tmp_path / "data", 2, signer_from_settings(tmp_path / "data", s))
    for i in range(4):
        log.append({"request_id": f"r{i}", "client_id": "c", "action": "view", "decision": "allow"})
    assert len(log.checkpoints()) == 2 and log.verify() == []
    assert not (tmp_path / "data" / "keys" / "audit_ed25519.pem").exists()
    assert Signer(key=key).mac_key == log.signer.mac_key


# ---------------------------------------------------------------- against a real server

@pytest.fixture(scope="module")
def server(tmp_path_factory):
    home = tmp_path_factory.mktemp("audit-server") / "data"
    dpo, dpo_secret = register(home, "Northshire DPO", "dpo", "dpo", org="Northshire Council", code="931")
    sw, sw_secret = register(home, "Northshire social care", "social_care", "social_worker",
                             org="Northshire Children's Services", code="932")
    # Sealing only on request here, so that any checkpoint written is one a request wrote.
    srv = Server(home, env={"LINKAGE_AUDIT_CHECKPOINT_SECONDS": "3600", "LINKAGE_AUDIT_CHECKPOINT_EVERY": "10000"})
    yield {"home": home, "srv": srv, "dpo": (dpo.client_id, dpo_secret), "sw": (sw.client_id, sw_secret)}
    srv.stop()


def _token(server, who):
    r = httpx.post(server["srv"].url + "/oauth/token", data={"grant_type": "client_credentials"},
                   auth=server[who])
    assert r.status_code == 200, r.text
    return r.json()["access_token"]


def _entries(server):
    return [json.loads(x)["entry"] for x in (server["home"] / "audit" / "log.jsonl").read_bytes().split(b"\n") if x]


def test_refused_requests_are_security_events_without_personal_data(server):
    url = server["srv"].url
    pseudonym = "P-SECRETPSEUDONYM123"
    no_token = httpx.get(f"{url}/v1/children/{pseudonym}", headers={"X-Purpose": "safeguarding"})
    bad_token = httpx.get(f"{url}/v1/children/{pseudonym}?name=Alice",
                          headers={"X-Purpose": "safeguarding", "Authorization": "Bearer not.a.token"})
    tok = _token(server, "sw")
    invalid = httpx.get(f"{url}/v1/children/{pseudonym}", headers={"X-Purpose": "shopping",
                                                                      "Authorization": f"Bearer {tok}"})
    wrong_secret = httpx.post(url + "/oauth/token", data={"grant_type": "client_credentials"},
                              auth=(server["sw"][0], "Xq7-not-the-secret"))
    assert [r.status_code for r in (no_token, bad_token, invalid, wrong_secret)] == [401, 401, 422, 401]
    by_id = {e["request_id"]: e for e in _entries(server)}
    for r, action in ((no_token, "security.unauthenticated"), (bad_token, "security.unauthenticated"),
                      (invalid, "security.invalid_request"), (wrong_secret, "security.auth_failed")):
        e = by_id[r.headers["X-Request-ID"]]
        assert e["action"] == action and e["decision"] == "refused"
        assert e.get("status", 401) == r.status_code        # a failed login's entry is the token flow's own
    assert by_id[invalid.headers["X-Request-ID"]]["client_id"] == server["sw"][0]
    route = by_id[invalid.headers["X-Request-ID"]]["route"]
    assert route.startswith("/v1/children/{") and route.endswith("}")          # the template
    assert by_id[no_token.headers["X-Request-ID"]]["client_id"] is None
    raw = (server["home"] / "audit" / "log.jsonl").read_text()
    for secret in (pseudonym, "Alice", "not.a.token", tok, "shopping", "Xq7-not-the-secret"):
        assert secret not in raw
    # The DPO finds them.
    dpo = {"Authorization": f"Bearer {_token(server, 'dpo')}", "X-Purpose": "audit"}
    found = httpx.get(url + "/v1/audit", params={"decision": "refused"}, headers=dpo).json()
    assert found["total"] >= 4 and {"security.unauthenticated", "security.invalid_request"} <= {
        e["action"] for e in found["entries"]}


def test_rate_limited_requests_are_security_events(tmp_path):
    """429 comes from whichever limiter raises TooManyRequests; the app records it the same way."""
    from fastapi.testclient import TestClient

    from linkage.api import create_app
    from linkage.config import get_settings
    from linkage.errors import TooManyRequests

    application = create_app(tmp_path / "data", get_settings())

    @application.get("/v1/limited/{child_id}")
    def limited(child_id: str):
        raise TooManyRequests("too many requests: slow down", 7)

    with TestClient(application) as client:
        r = client.get("/v1/limited/P-ABC123?q=secret")
    assert r.status_code == 429
    e = [json.loads(x)["entry"] for x in (tmp_path / "data" / "audit" / "log.jsonl").read_text().splitlines()][-1]
    assert e["action"] == "security.rate_limited" and e["route"] == "/v1/limited/{child_id}"
    assert "P-ABC123" not in json.dumps(e) and "secret" not in json.dumps(e)


def test_reading_checkpoints_writes_none_and_a_url_witness_checks_the_server(server, tmp_path):
    url, home = server["srv"].url, server["home"]
    dpo = {"Authorization": f"Bearer {_token(server, 'dpo')}", "X-Purpose": "audit"}
    cps = home / "audit" / "checkpoints.jsonl"

    def count():
        return len(cps.read_text().splitlines()) if cps.exists() else 0
    before = count()
    for _ in range(3):
        got = httpx.get(url + "/v1/audit/checkpoints", headers=dpo)
        assert got.status_code == 200
    assert count() == before                                    # three reads, no checkpoint written
    sealed = httpx.post(url + "/v1/audit/checkpoints", headers=dpo)
    assert sealed.status_code == 201 and sealed.json()["seq"] >= got.json()["head"]
    store = tmp_path / "witness"
    env = {"LINKAGE_WITNESS_CLIENT_ID": server["dpo"][0], "LINKAGE_WITNESS_CLIENT_SECRET": server["dpo"][1]}
    first = runner.invoke(app, ["audit", "witness", "--store", str(store), "--from", url], env=env)
    assert first.exit_code == 0, first.output
    for _ in range(15):
        httpx.get(url + "/v1/audit/checkpoints", headers=dpo)
    httpx.post(url + "/v1/audit/checkpoints", headers=dpo)
    proof = httpx.get(url + "/v1/audit/proof", params={"from": 1, "to": 3}, headers=dpo).json()
    assert len(proof["leaves"]) == 2 and all(len(x) == 64 for x in proof["leaves"])
    second = runner.invoke(app, ["audit", "witness", "--store", str(store), "--from", url], env=env)
    assert second.exit_code == 0 and "witnessed 1 new checkpoints" in second.output, second.output


def test_serve_warns_when_the_key_is_in_the_data_directory(server, tmp_path):
    """The module's server keeps its key in its data directory, as a new one does; a server of its
    own is given a key elsewhere."""
    outside = Server(tmp_path / "outside", env={"LINKAGE_AUDIT_KEY_FILE": str(offsite_key(tmp_path))})
    outside.stop()
    assert "audit signing key is in the data directory" in server["srv"].printed()
    assert "audit signing key" not in outside.printed()


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=8),
                           lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=5), kids,
                                                                                     max_size=3), max_leaves=8)
garbage = st.one_of(st.text(max_size=40).map(lambda t: t.replace("\n", " ")),
                    json_values.map(lambda v: json.dumps(v)),
                    st.fixed_dictionaries({"seq": json_values, "prev": json_values, "entry": json_values,
                                           "hash": json_values, "v": json_values}).map(json.dumps))


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(at=st.integers(0, 6), line=garbage)
def test_any_junk_written_into_the_log_is_reported_never_crashes(tmp_path_factory, at, line):
    home = tmp_path_factory.mktemp("junk")
    log = AuditLog(home, checkpoint_every=4)
    for i in range(6):
        log.append({"request_id": f"r{i}", "client_id": "c", "action": "view", "children": ["C-1"],
                    "decision": "allow"})
    lines = log.path.read_text().splitlines()
    lines.insert(at, line)
    log.path.write_text("\n".join(lines) + "\n")
    assert log.verify()                                  # something is reported
    log.index.search(child_id="C-1")                     # and the DPO's search still answers
    if at >= 4 and line:                                 # after the checkpoint at seq 4: never sealed
        with pytest.raises(Conflict, match="not sealing"):
            log.checkpoint()


def test_a_flood_of_refused_requests_is_capped_and_counted(tmp_path):
    from fastapi.testclient import TestClient

    from linkage.api import create_app
    from linkage.config import Settings

    application = create_app(tmp_path / "data", Settings(audit_security_events_per_second=3))
    log = tmp_path / "data" / "audit" / "log.jsonl"
    with TestClient(application) as client:
        start = time.monotonic()
        for _ in range(30):
            assert client.get("/v1/cme", headers={"X-Purpose": "cme"}).status_code == 401
        took = time.monotonic() - start
        written = len(log.read_text().splitlines())
        assert written <= 3 * (int(took) + 2)              # 3 a second at most, not 30
        time.sleep(1.1)
        client.get("/v1/cme", headers={"X-Purpose": "cme"})
    entries = [json.loads(x)["entry"] for x in log.read_text().splitlines()]
    assert {e["action"] for e in entries} == {"security.unauthenticated"}
    assert len(entries) + sum(e.get("not_recorded_before", 0) for e in entries) == 31    # every one counted




def test_an_offset_or_entry_number_past_what_sql_holds_is_refused_not_a_crash(server):
    """``offset`` and a proof's ``from``/``to`` had a lower bound only: 2**63 passed validation and
    reached SQLite (PostgreSQL: bigint), whose overflow was a 500 "internal error" (session 28).
    Now a 422 like any value out of range, recorded as a refused request."""
    url = server["srv"].url
    dpo = {"Authorization": f"Bearer {_token(server, 'dpo')}", "X-Purpose": "audit"}
    big = str(2**63)
    for path, query in (("/v1/audit", {"offset": big}), ("/v1/audit", {"offset": "1" + "0" * 30}),
                        ("/v1/audit/proof", {"from": big, "to": big + "1"}),
                        ("/v1/audit/proof", {"from": str(2**53), "to": str(2**53 + 1)})):
        r = httpx.get(url + path, params=query, headers=dpo)
        assert r.status_code == 422, (path, query, r.status_code, r.text)
        assert by_request(server, r)["action"] == "security.invalid_request"
    assert httpx.get(url + "/v1/audit", params={"offset": str(2**53)}, headers=dpo).json()["entries"] == []


def by_request(server, r) -> dict:
    return next(e for e in _entries(server) if e["request_id"] == r.headers["X-Request-ID"])
