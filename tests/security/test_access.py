"""Attacks on who may ask: free-text roles and agencies, tokens that outlive their client, forged
lifetimes, secrets that cannot be rotated, and guessing secrets at the token endpoint.

Each test drives a real ``linkage serve`` (tests/apiserver.py) and the real CLI.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import time

import httpx
import pytest

import incli
from apiserver import Server
from linkage.access.clients import ClientRegistry
from linkage.access.tokens import JsonWebKey, JsonWebToken
from linkage.errors import Conflict, LinkageError
from linkage.store.state import ServiceState
from registry import register

pytestmark = pytest.mark.e2e


def cli(home, *args: str) -> subprocess.CompletedProcess:
    """The real command, in this process (tests/incli.py): the module runs twenty of them."""
    return incli.run(*args, "--data-dir", str(home), env={"COLUMNS": "250"})


def get_token(server, client_id: str, secret: str) -> httpx.Response:
    return httpx.post(server.url + "/oauth/token", data={"grant_type": "client_credentials"},
                      auth=(client_id, secret), timeout=30)


def token_of(server, creds) -> str:
    r = get_token(server, creds[0].client_id, creds[1])
    assert r.status_code == 200, r.text
    return r.json()["access_token"]


def cme(server, tok: str) -> int:
    return httpx.get(server.url + "/v1/cme?page_size=1", timeout=30,
                     headers={"Authorization": f"Bearer {tok}", "X-Purpose": "cme"}).status_code


def hot(server, tok: str) -> set[int]:
    """The statuses of a lookup and a child's view: the routes that read the caller from the
    register in their worker thread (``api.deps.PendingDep``) rather than in a dependency."""
    headers = {"Authorization": f"Bearer {tok}", "X-Purpose": "admission"}
    return {httpx.post(server.url + "/v1/lookup", timeout=30, headers=headers,
                       json={"forename": "Ann", "surname": "Lee", "date_of_birth": "2015-01-02"}).status_code,
            httpx.get(server.url + "/v1/children/C0000000000", timeout=30, headers=headers).status_code}


def audit(home) -> list[dict]:
    path = home / "audit" / "log.jsonl"
    return [json.loads(line)["entry"] for line in path.read_text().splitlines()] if path.exists() else []


# ---------------------------------------------------------------- one server, no data, two workers

@pytest.fixture(scope="module")
def office(tmp_path_factory, idp):
    """An LA's CME office and an AP school, served by two worker processes."""
    home = tmp_path_factory.mktemp("access") / "data"
    creds = {"cme": register(home, "cme desk", "la_education", "cme_officer", org="Northshire Education",
                             code="873"),
             "ap": register(home, "admissions", "ap_school", "admissions", org="Oak AP Academy", code="141234")}
    from idp import ISSUER       # the provider's machine client its tokens name (``idp.token``'s sub)
    ClientRegistry(ServiceState(home)).add("CME feed", "873", "cme_officer", idp_issuer=ISSUER, idp_subject="sw-42")
    server = Server(home, env=idp.env, workers=2)
    yield {"home": home, "server": server, "creds": creds}
    server.stop()


# ---------------------------------------------------------------- roles and organisations are registered

def test_a_role_outside_the_organisation_types_closed_list_is_refused(tmp_path):
    """An ap_school client registered as a social worker could break glass and see every section."""
    with pytest.raises(LinkageError, match="admissions, designated_safeguarding_lead, ap_leader"):
        register(tmp_path, "spoof", "ap_school", "social_worker", org="Oak AP Academy")
    org = cli(tmp_path, "orgs", "add", "--name", "Elm AP", "--type", "ap_school", "--code", "141999")
    assert org.returncode == 0, org.stderr
    out = cli(tmp_path, "clients", "add", "--name", "spoof", "--org", "141999", "--role", "social_worker")
    assert out.returncode == 2 and "valid roles: admissions, designated_safeguarding_lead, ap_leader" in out.stderr
    assert "Traceback" not in out.stderr and len(out.stderr.strip().splitlines()) == 1
    # Types are a closed list; codes are official and well-formed; one (type, code), one organisation.
    for kind, code in (("bank", "123"), ("ap_school", "12345"), ("social_care", "87"), ("health", "123"),
                       ("ap_school", "141999")):
        bad = cli(tmp_path, "orgs", "add", "--name", f"X {kind} {code}", "--type", kind, "--code", code)
        assert bad.returncode == 2, (kind, code, bad.stdout)


def test_a_stored_role_outside_the_closed_list_is_refused_on_the_next_request(office):
    """The role is read from the register, and checked against the type's roles, on every request."""
    home, server = office["home"], office["server"]
    sneaky = register(home, "sneaky", "ap_school", "admissions", org="Oak AP Academy")
    tok = token_of(server, sneaky)
    assert cme(server, tok) == 403                                     # admissions may not list CME
    assert 401 not in hot(server, tok)
    with sqlite3.connect(home / "service.sqlite") as con:
        con.execute("UPDATE clients SET role = 'social_worker' WHERE client_id = ?", (sneaky[0].client_id,))
    assert cme(server, tok) == 401
    assert set().union(*(hot(server, tok) for _ in range(4))) == {401}     # both workers


def test_an_organisation_is_not_its_display_name(tmp_path_factory, linked_store):
    """A health client registered under an AP school's name resolved that school's pseudonyms."""
    home = tmp_path_factory.mktemp("names") / "data"
    linked_store.checkpoint()
    shutil.copytree(linked_store.home, home, ignore=shutil.ignore_patterns("tmp"))
    ap = register(home, "admissions", "ap_school", "admissions", org="Oak AP Academy")
    dsl = register(home, "dsl", "ap_school", "designated_safeguarding_lead", org="Oak AP Academy")
    with pytest.raises(Conflict):
        register(home, "nurse", "health", "school_nurse", org="oak  AP academy")
    nurse = register(home, "nurse", "health", "school_nurse", org="Northshire Community Health")
    # Even two organisations that do share a name (two St Mary's) share no pseudonyms: they hang off the id.
    with sqlite3.connect(home / "service.sqlite") as con:
        con.execute("UPDATE organisations SET name = 'Oak AP Academy' WHERE org_id = ?", (nurse[0].org.org_id,))
    f, s, dob, pc = linked_store.rows("SELECT forename, surname, date_of_birth, postcode FROM store.records "
                                      "WHERE source = 'education' ORDER BY record_key LIMIT 1")[0]
    server = Server(home)
    try:
        def ask(creds, method, path, purpose, **kw):
            return httpx.request(method, server.url + path, timeout=30, **kw, headers={
                "Authorization": f"Bearer {token_of(server, creds)}", "X-Purpose": purpose})

        found = ask(ap, "POST", "/v1/lookup", "admission", json={
            "forename": f, "surname": s, "date_of_birth": dob.isoformat(), "postcode": pc})
        assert found.status_code == 200, found.text
        assert found.json()["match"], found.text                                # one confident match
        ref = found.json()["match"]["child_id"]
        assert ask(dsl, "GET", f"/v1/children/{ref}", "admission").status_code == 200   # same organisation
        assert ask(nurse, "GET", f"/v1/children/{ref}", "care").status_code == 404       # same name, other org
    finally:
        server.stop()


# ---------------------------------------------------------------- revocation

def test_disabling_a_client_or_its_organisation_stops_its_tokens_at_once_in_every_worker(office):
    home, server, creds = office["home"], office["server"], office["creds"]["cme"]
    tok = token_of(server, creds)
    assert cme(server, tok) == 200
    ap_tok = token_of(server, office["creds"]["ap"])
    assert 401 not in hot(server, ap_tok)
    assert cli(home, "clients", "disable", creds[0].client_id).returncode == 0
    assert {cme(server, tok) for _ in range(8)} == {401}               # both workers, no grace period
    assert set().union(*(hot(server, tok) for _ in range(4))) == {401}
    assert cli(home, "clients", "disable", office["creds"]["ap"][0].client_id).returncode == 0
    assert set().union(*(hot(server, ap_tok) for _ in range(4))) == {401}
    assert cli(home, "clients", "enable", office["creds"]["ap"][0].client_id).returncode == 0
    assert get_token(server, creds[0].client_id, creds[1]).status_code == 401
    assert cli(home, "clients", "enable", creds[0].client_id).returncode == 0
    assert cme(server, tok) == 401                                     # enabling does not revive old tokens
    fresh = token_of(server, creds)
    assert cme(server, fresh) == 200
    assert cli(home, "orgs", "disable", "873").returncode == 0
    assert {cme(server, fresh) for _ in range(8)} == {401}
    assert get_token(server, creds[0].client_id, creds[1]).status_code == 401
    assert cli(home, "orgs", "enable", "873").returncode == 0
    assert cme(server, fresh) == 401                                   # nor does enabling the organisation
    assert cme(server, token_of(server, creds)) == 200
    listed = cli(home, "clients", "list")
    assert "Northshire Education" in listed.stdout and "cme_officer" in listed.stdout and "active" in listed.stdout


def test_rotating_a_secret_stops_the_old_secret_and_its_tokens(office):
    home, server = office["home"], office["server"]
    creds = register(home, "rotating", "la_education", "cme_officer", org="Northshire Education")
    old_token = token_of(server, creds)
    out = cli(home, "clients", "rotate", creds[0].client_id)
    assert out.returncode == 0, out.stderr
    new_secret = out.stdout.split("client_secret: ")[1].split()[0]
    assert new_secret != creds[1]
    assert get_token(server, creds[0].client_id, creds[1]).status_code == 401
    assert cme(server, old_token) == 401
    assert cme(server, token_of(server, (creds[0], new_secret))) == 200
    assert new_secret.encode() not in b"".join(p.read_bytes() for p in home.glob("service.sqlite*"))


# ---------------------------------------------------------------- token lifetime

def _resigned(home, genuine: str, **times) -> str:
    """A genuine token's claims with other times, signed with the server's own key (as if stolen)."""
    import base64

    key = JsonWebKey.import_key(json.loads((home / "keys" / "token_ed25519.jwk.json").read_text()))
    body = genuine.split(".")[1]
    claims = {**json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))), **times}
    return JsonWebToken(["EdDSA"]).encode({"alg": "EdDSA"}, {k: v for k, v in claims.items() if v is not None},
                                          key).decode()


def test_a_token_signed_to_live_ten_years_is_refused(office):
    """Self-signed with the server's own key (a stolen key file, or a buggy issuer): still capped."""
    home, server = office["home"], office["server"]
    genuine = token_of(server, register(home, "lifetime", "la_education", "cme_officer",
                                        org="Northshire Education"))
    now = int(time.time())
    assert cme(server, _resigned(home, genuine, exp=now + 120)) == 200                    # within the cap
    assert cme(server, _resigned(home, genuine, exp=now + 10 * 365 * 86400)) == 401     # ten years
    assert cme(server, _resigned(home, genuine, iat=now - 3000, nbf=now - 3000, exp=now + 60)) == 401
    assert cme(server, _resigned(home, genuine, iat=None)) == 401                       # no issue time
    assert cme(server, _resigned(home, genuine, iat=now + 600, exp=now + 700)) == 401   # issued later


def test_an_identity_provider_token_must_name_a_registered_organisation_and_live_briefly(office, idp):
    server = office["server"]
    old = {"linkage_agency": "Northshire Education", "linkage_agency_type": "la_education"}
    # An earlier test of the module disables and enables this organisation: a provider's token issued
    # (whole seconds) in the same second is refused by design (``clients._issued_after``), so the first
    # token here is asked for in the next second.
    time.sleep(1.01 - time.time() % 1)
    assert cme(server, idp.token("873", "cme_officer", **old)) == 200
    assert cme(server, idp.token("873", "cme_officer", exp=int(time.time()) + 10 * 365 * 86400, **old)) == 401
    assert cme(server, idp.token("999", "cme_officer", **old)) == 401               # no such organisation
    assert cme(server, idp.token("873", "social_worker", **old)) == 401             # not an LA education role
    assert cme(server, idp.token("Northshire Education", "cme_officer", **old)) == 401   # names are not ids


# ---------------------------------------------------------------- guessing secrets

def test_wrong_secrets_lock_the_client_out_everywhere_and_are_logged_and_audited(office):
    """On the module's two workers (a server of its own was a second two-worker start), with
    clients of its own."""
    home, server = office["home"], office["server"]
    creds = register(home, "victim", "la_education", "cme_officer", org="Northshire Education")
    lucky = register(home, "lucky", "la_education", "cme_officer", org="Northshire Education")
    # A success before the lock resets the count.
    for _ in range(2):
        assert [get_token(server, lucky[0].client_id, f"guess-{i}").status_code for i in range(4)] == [401] * 4
        assert get_token(server, lucky[0].client_id, lucky[1]).status_code == 200
    codes = [get_token(server, creds[0].client_id, f"guess-{i}").status_code for i in range(5)]
    assert codes == [401, 401, 401, 401, 429]
    wrong = get_token(server, creds[0].client_id, "guess-5")             # every further guess, now
    assert wrong.status_code == 429 and int(wrong.headers["Retry-After"]) > 60
    # The right secret passes (256 random bits: refusing it guarded nothing, session 26).
    assert get_token(server, creds[0].client_id, creds[1]).status_code == 200
    deadline = time.time() + 30                 # the server's output is read as it comes
    while not ("security.lockout" in server.printed() and creds[0].client_id in server.printed()):
        assert time.time() < deadline, server.printed()
        time.sleep(0.1)
    output = server.printed()
    entries = [e for e in audit(home) if e["action"].startswith("security.")]
    mine = [e for e in entries if e["client_id"] == creds[0].client_id]
    assert [e["action"] for e in mine][:6] == ["security.auth_failed"] * 5 + ["security.lockout"]
    assert all(e["decision"] == "refused" for e in entries)
    flow = [e for e in entries if e["action"] in ("security.auth_failed", "security.lockout")]
    assert flow and all(e["remote"] == "127.0.0.0/24" for e in flow)     # the token flow's own entries
    assert mine[0]["agency"] == "Northshire Education"
    assert "security.lockout" in output and creds[0].client_id in output
    log = (home / "audit" / "log.jsonl").read_text()
    for secret in ("guess-0", creds[1], lucky[1]):
        assert secret not in log and secret not in output


def test_a_stranger_who_knows_a_client_id_cannot_lock_its_holder_out(tmp_path):
    """Five wrong secrets locked the client out for everyone, and ten requests filled its token
    bucket for everyone: anyone who knew (or guessed) a client id could keep an organisation's
    system out, a quarter of an hour at a time. Session 25 kept lock-outs by network, which still
    kept out a holder behind the stranger's own NAT, or at a site it had not used. A lock-out now
    refuses only wrong secrets: the right one (256 random bits, beyond any guessing) passes it
    from anywhere. The token bucket is per client and network."""
    home = tmp_path / "data"
    victim = register(home, "victim", "la_education", "cme_officer", org="Northshire Education")
    server = Server(home, env={"LINKAGE_TRUSTED_PROXIES": "127.0.0.1"})

    def attempt(at: str, secret: str) -> int:
        return httpx.post(server.url + "/oauth/token", data={"grant_type": "client_credentials"}, timeout=30,
                          auth=(victim[0].client_id, secret), headers={"X-Forwarded-For": at}).status_code

    try:
        assert attempt("198.51.100.7", victim[1]) == 200                      # the holder's own system
        assert [attempt("203.0.113.66", f"guess-{i}") for i in range(5)] == [401] * 4 + [429]
        assert attempt("203.0.113.66", "guess-5") == 429                      # that network stays locked
        assert attempt("192.0.2.9", "guess-6") == 429                         # and every new one
        assert attempt("192.0.2.9", victim[1]) == 200                         # but not to the holder
        assert attempt("203.0.113.70", victim[1]) == 200                      # at a new site or the NAT
        assert attempt("198.51.100.7", victim[1]) == 200
        # A stranger's burst of requests does not use up the holder's allowance either.
        assert {attempt("203.0.114.1", "x") for _ in range(12)} == {429}
        assert attempt("198.51.100.7", victim[1]) == 200
    finally:
        server.stop()
    locks = [(e["scope"], e["remote"]) for e in audit(home) if e["action"] == "security.lockout"]
    assert locks[:2] == [("network", "203.0.113.0/24"), ("everywhere", "203.0.113.0/24")]
    # Wrong secrets while locked out are still counted: the burst's run of five locks it again.
    assert locks[2:] == [("network", "203.0.114.0/24"), ("everywhere", "203.0.114.0/24")] * 2, locks


def test_the_token_endpoint_is_throttled_per_client_id_and_per_address(tmp_path):
    """One server throttling per client id (5 at once) and per address (10 at once): the client's
    guesses come through the trusted proxy from an address of their own, so the sixth is refused
    by the client's bucket alone; the fresh ids then come straight from loopback, whose address
    has its whole allowance. (Two servers, one per limit, were two starts.) The lock-out, which counts
    an unknown id's wrong secrets as a registered one's (session 32), comes after 20 here: the buckets alone."""
    server = Server(tmp_path / "data", env={"LINKAGE_TOKEN_CLIENT_BURST": "5", "LINKAGE_TOKEN_CLIENT_PER_MINUTE": "6",
                                            "LINKAGE_TOKEN_ADDRESS_BURST": "10",
                                            "LINKAGE_TOKEN_ADDRESS_PER_MINUTE": "6",
                                            "LINKAGE_TRUSTED_PROXIES": "127.0.0.1",
                                            "LINKAGE_LOCKOUT_AFTER_FAILURES": "20"})
    try:
        codes = [httpx.post(server.url + "/oauth/token", data={"grant_type": "client_credentials"}, timeout=30,
                            auth=("lk_0000000000000000", "x"), headers={"X-Forwarded-For": "198.51.100.7"}).status_code
                 for _ in range(12)]
        assert codes[:6] == [401] * 5 + [429], codes         # the client's bucket, inside the address's 10
        responses = [get_token(server, f"lk_{i:016x}", "x") for i in range(25)]
        codes = [r.status_code for r in responses]
        assert codes[:10] == [401] * 10 and 429 in codes                  # fresh ids do not escape it
        assert int(next(r for r in responses if r.status_code == 429).headers["Retry-After"]) >= 1
        # An id that is not registered is a claim, never the actor: typed as a staff member's
        # "user:" id it must not put that person into the DPO's views.
        assert get_token(server, "user:0123456789abcdef", "x").status_code in (401, 429)
    finally:
        server.stop()
    failed = [e for e in audit(tmp_path / "data") if e["action"] == "security.auth_failed"]
    assert failed and not any(e["client_id"] for e in failed)
    assert {e["claimed_client"] for e in failed} >= {"lk_0000000000000000", "lk_0000000000000001"}
