"""Input built to break the parser, and refusals nobody recorded, against a real server.

Python's ``json`` recurses once per ``[``: 20,000 of them in a request body, in a bearer
token's header, or in one line written into the audit log raised ``RecursionError`` (not a
``ValueError``), which every parser guard let through: a 500 with a traceback on every
route, and a ``linkage audit verify`` that crashed instead of saying where the log was
tampered with. And a refusal inside the staff pages (400, 413, 422, 429) was never audited:
the guard looked for the services on the mounted web application, which holds none, so the
DPO never saw them.
"""

from __future__ import annotations

import base64
import json
import time

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from apiserver import Server
from browserpages import ENV, PASSWORD, add_user, csrf_token
from linkage import boundedjson
from linkage.audit import AuditLog
from linkage.cli import app
from registry import register

pytestmark = pytest.mark.e2e

DEEP = "[" * 20_000 + "]" * 20_000
DAN = "dan@edu.example"
TESS = "tess@edu.example"       # signs in only to be throttled: a person's sign-ins are counted apart


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    home = tmp_path_factory.mktemp("limits") / "data"
    for email, name in ((DAN, "Dan Data"), (TESS, "Tess Throttled")):
        add_user(home, email, name, "Northshire Education", "la_education", "933", "data_manager")
    client, secret = register(home, "sw", "social_care", "social_worker", org="Northshire CSC", code="932")
    # One sign-in a minute per person: Dan's one sign-in passes, Tess's second is throttled.
    server = Server(home, env={**ENV, "LINKAGE_WEB_SIGNIN_BURST": "1", "LINKAGE_WEB_SIGNIN_PER_MINUTE": "1"})
    # Credentials, not a token: one lasts 5 minutes, less than a module can take on a loaded CI
    # machine; ``Server.token`` issues a new one near its end.
    yield {"home": home, "server": server, "creds": (client, secret), "client_id": client.client_id}
    server.stop()


def entries(world) -> list[dict]:
    return [json.loads(line)["entry"] for line in (world["home"] / "audit" / "log.jsonl").read_text().splitlines()]


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).rstrip(b"=").decode()


def test_a_body_nested_past_the_parser_is_refused_on_every_route_not_a_crash(world):
    tok = world["server"].token(*world["creds"])
    url, auth = world["server"].url, {"Authorization": f"Bearer {tok}", "X-Purpose": "safeguarding"}
    spec = httpx.get(url + "/openapi.json").json()
    posts = [p.replace("{child_ref}", "P-X").replace("{consent_id}", "x").replace("{pair_id}", "x")
             .replace("{review_id}", "x") for p, ops in spec["paths"].items() if "post" in ops]
    assert len(posts) >= 5
    for path in posts:
        for body in (DEEP, '{"a":' * 10_000 + "1" + "}" * 10_000):
            for content in (body.encode(), iter([body.encode()])):         # sized, and chunked
                r = httpx.post(url + path, content=content, headers={**auth, "content-type": "application/json"})
                assert r.status_code in (401, 422), (path, r.status_code, r.text[:200])
                assert "Traceback" not in r.text and "Recursion" not in r.text
    ok = httpx.post(url + "/v1/lookup", headers=auth, json={"forename": "Ann", "surname": "Lee",
                                                           "date_of_birth": "2015-01-02"})
    assert ok.status_code in (200, 503), ok.text            # an ordinary body reaches the flow (no population: 503)
    refused = [e for e in entries(world) if e["action"] == "security.invalid_request" and e["status"] == 422]
    assert refused                                          # and the refusals are the DPO's to see


def test_a_token_nested_past_the_parser_is_a_401(world):
    url, header = world["server"].url, _b64(json.dumps({"alg": "EdDSA"}))
    deep_claim = _b64('{"iss":' + DEEP + "}")
    for token in (f"{_b64(DEEP)}.{_b64('{}')}.x", f"{header}.{_b64(DEEP)}.x", f"{header}.{deep_claim}.x"):
        r = httpx.get(url + "/v1/cme", headers={"Authorization": f"Bearer {token}", "X-Purpose": "cme"})
        assert r.status_code == 401, (r.status_code, r.text[:200])


def test_every_refusal_on_a_staff_page_is_audited_naming_the_person(world):
    with httpx.Client(base_url=world["server"].url) as c:
        r = c.post("/app/sign-in", data={"email": DAN, "password": PASSWORD,
                                         "csrf_token": csrf_token(c.get("/app/sign-in").text)})
        assert r.status_code == 303
        before = len(entries(world))
        assert c.get("/app/quarantine", params={"page": "not a number"}).status_code == 422
        assert c.get("/app/review", params={"position": "-1"}).status_code == 422
    new = [e for e in entries(world)[before:] if e["action"].startswith("security.")]
    assert [(e["action"], e["status"], e["person"]) for e in new] == [
        ("security.invalid_request", 422, DAN), ("security.invalid_request", 422, DAN)], new
    assert {e["route"] for e in new} == {"/app/quarantine", "/app/review"}
    log = (world["home"] / "audit" / "log.jsonl").read_text()
    assert "not a number" not in log                         # the route template, never the values


def test_sign_in_throttling_is_audited_once(world):
    """A page that writes its own security event is not recorded a second time by the guard."""
    before = len(entries(world))
    with httpx.Client(base_url=world["server"].url) as c:
        statuses = [c.post("/app/sign-in", data={"email": TESS, "password": "wrong",
                                                 "csrf_token": csrf_token(c.get("/app/sign-in").text)}).status_code
                    for _ in range(3)]
    assert 429 in statuses, statuses
    log = entries(world)[before:]
    throttled = [e for e in log if e["action"] == "security.sign_in_throttled"]
    assert len(throttled) == statuses.count(429)
    assert not [e for e in log if e["action"] == "security.rate_limited"]


def test_a_log_line_nested_past_the_parser_is_reported_not_a_crash(tmp_path):
    home = tmp_path / "data"
    log = AuditLog(home, checkpoint_every=4)
    for i in range(6):
        log.append({"request_id": f"r{i}", "client_id": "c", "action": "view", "children": ["C-1"],
                    "decision": "allow"})
    log.close()
    lines = log.path.read_text().splitlines()
    lines.insert(5, '{"seq": 6, "entry": ' + DEEP + ', "hash": "' + "0" * 64 + '", "prev": ""}')
    log.path.write_text("\n".join(lines) + "\n")
    done = CliRunner().invoke(app, ["audit", "verify", "--data-dir", str(home)])
    assert done.exit_code == 1 and "TAMPERED" in done.output, done.output
    reopened = AuditLog(home, checkpoint_every=4)
    try:
        assert reopened.index.search(child_id="C-1")[0] >= 5      # the DPO's search still answers
    finally:
        reopened.close()


nested = st.recursive(st.none() | st.integers() | st.text(alphabet='[]{}"\\ab', max_size=6),
                      lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=3), kids, max_size=3),
                      max_leaves=30)


def _nesting(v) -> int:
    if isinstance(v, list):
        return 1 + max(map(_nesting, v), default=0)
    if isinstance(v, dict):
        return 1 + max(map(_nesting, v.values()), default=0)
    return 0


@settings(max_examples=300, deadline=None)
@given(value=nested)
def test_the_depth_scan_agrees_with_the_parser(value):
    """Brackets inside strings (escaped quotes too) never count; every real level does."""
    text = json.dumps(value)
    assert boundedjson.depth(text) == _nesting(value) == boundedjson.depth(text.encode())
    assert boundedjson.loads(text, max_depth=_nesting(value)) == value
    if _nesting(value):
        with pytest.raises(ValueError):
            boundedjson.loads(text, max_depth=_nesting(value) - 1)


def test_the_depth_scan_is_linear():
    """No quadratic path: 64 KB of escaped quotes and brackets in a fraction of a second (0.17 s at a
    load average of 27 on two cores; a quadratic scan takes minutes), so a bound of 5 s."""
    started = time.perf_counter()
    boundedjson.depth('"\\"' * 20_000 + "[" * 40)
    boundedjson.depth("[" * 65_536)
    assert time.perf_counter() - started < 5.0


def _lines(path):
    return path.read_text().splitlines(True)


TAMPERING = {   # name: what is done to (log lines, checkpoint lines)
    "reorder two entries": lambda log, cps: (log[:50] + [log[51], log[50]] + log[52:], cps),
    "delete an entry in the middle": lambda log, cps: (log[:60] + log[61:], cps),
    "edit an entry": lambda log, cps: (log[:70] + [log[70].replace('"view"', '"vieW"')] + log[71:], cps),
    "cut the tail by one": lambda log, cps: (log[:-1], cps),
    "cut the tail past a checkpoint": lambda log, cps: (log[:-15], cps),
    "delete the checkpoint file": lambda log, cps: (log, None),
    "empty the checkpoint file": lambda log, cps: (log, []),
    "cut the checkpoints back further than the log": lambda log, cps: (log[:-12], cps[:-4]),
    "a line nested past the parser": lambda log, cps: (log[:80] + ["[" * 50_000 + "]" * 50_000 + "\n"] + log[80:],
                                                         cps),
}


@pytest.fixture(scope="module")
def sealed_log(tmp_path_factory):
    """148 entries sealed every 10, as the service leaves them, and a clean verify."""
    home = tmp_path_factory.mktemp("sealed") / "data"
    log = AuditLog(home, checkpoint_every=10)
    for i in range(148):
        log.append({"request_id": f"r{i}", "client_id": "c", "action": "view", "children": ["C-1"],
                    "decision": "allow"})
    log.close()
    done = CliRunner().invoke(app, ["audit", "verify", "--data-dir", str(home)])
    assert done.exit_code == 0 and "intact" in done.output, done.output
    return home


@pytest.mark.parametrize("how", sorted(TAMPERING))
def test_every_way_of_cutting_or_reordering_the_log_is_reported(sealed_log, tmp_path, how):
    import shutil

    home = tmp_path / "data"
    shutil.copytree(sealed_log, home)
    log_path, cp_path = home / "audit" / "log.jsonl", home / "audit" / "checkpoints.jsonl"
    lines, cps = TAMPERING[how](_lines(log_path), _lines(cp_path))
    log_path.write_text("".join(lines))
    if cps is None:
        cp_path.unlink()
    else:
        cp_path.write_text("".join(cps))
    done = CliRunner().invoke(app, ["audit", "verify", "--data-dir", str(home)])
    assert done.exit_code == 1 and "TAMPERED" in done.output, (how, done.output)
