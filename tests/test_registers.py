"""The organisation and client registers on their own: code formats, lock-out timing, revocation,
and what happens to tables from before organisations were registered."""

from __future__ import annotations

import sqlite3

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from linkage.access.clients import ClientRegistry
from linkage.access.orgs import CODE_FORMATS, OrgRegistry
from linkage.access.tokens import AuthError, TokenClaims
from linkage.errors import Conflict, LinkageError
from linkage.policy import roles
from linkage.store.state import ServiceState


def test_every_organisation_type_has_an_official_code_format():
    assert set(roles()) <= set(CODE_FORMATS)


@settings(max_examples=60, deadline=None)
@given(code=st.text(alphabet="0123456789ABCDEFXYZ -", max_size=8))
def test_codes_are_accepted_only_in_their_official_format(tmp_path_factory, code):
    orgs = OrgRegistry(ServiceState(tmp_path_factory.mktemp("codes")))
    for kind, (_, pattern) in CODE_FORMATS.items():
        ok = bool(pattern.fullmatch(code.strip().upper()))
        try:
            orgs.add(f"{kind} {code}", kind, code)
            assert ok, (kind, code)
        except LinkageError:
            assert not ok, (kind, code)


def test_one_organisation_per_type_and_code_and_per_name(tmp_path):
    orgs = OrgRegistry(ServiceState(tmp_path))
    org = orgs.add("Oak AP Academy", "ap_school", "141234")
    with pytest.raises(Conflict):
        orgs.add("Another", "ap_school", "141234")
    with pytest.raises(Conflict):
        orgs.add(" OAK  ap academy", "health", "RYX")
    assert orgs.find("141234") == orgs.find(org.org_id) == org


@pytest.fixture
def registry(tmp_path):
    state = ServiceState(tmp_path)
    OrgRegistry(state).add("Northshire Education", "la_education", "873")
    return ClientRegistry(state, lockout_after=3, lockout_seconds=600)


def test_a_lock_out_ends_after_its_period_with_a_fresh_count(registry):
    client, secret = registry.add("desk", "873", "cme_officer")
    t = 1_000_000.0
    assert [registry.authenticate(client.client_id, "x", t).outcome for _ in range(3)] == ["wrong_secret"] * 3
    assert registry.authenticate(client.client_id, secret, t + 599).outcome == "locked"
    assert registry.authenticate(client.client_id, secret, t + 601).outcome == "ok"
    first = [registry.authenticate(client.client_id, "x", t + 602) for _ in range(3)]
    assert [f.locked_now for f in first] == [False, False, True]


def test_tokens_from_before_a_rotation_or_a_disable_are_revoked(registry):
    client, _ = registry.add("desk", "873", "cme_officer")
    claims = TokenClaims(client.client_id, client.org.org_id, "linkage", "j", generation=0)
    assert registry.caller(claims).org_code == "873"
    registry.rotate(client.client_id)
    with pytest.raises(AuthError):
        registry.caller(claims)
    now = TokenClaims(client.client_id, client.org.org_id, "linkage", "j", generation=1)
    assert registry.caller(now).role == "cme_officer"
    registry.set_active(client.client_id, False)
    registry.set_active(client.client_id, True)
    with pytest.raises(AuthError):
        registry.caller(now)


def test_tables_from_before_organisations_are_set_aside(tmp_path):
    with sqlite3.connect(tmp_path / "service.sqlite") as con:
        con.execute("CREATE TABLE clients (client_id TEXT PRIMARY KEY, name TEXT, agency TEXT, agency_type TEXT, "
                    "role TEXT, secret_hash TEXT, created_at TEXT, disabled INTEGER)")
        con.execute("INSERT INTO clients VALUES ('lk_1', 'x', 'Oak', 'ap_school', 'social_worker', 'h', 't', 0)")
        con.execute("CREATE TABLE pseudonyms (agency TEXT, pseudonym TEXT, child_id TEXT)")
    state = ServiceState(tmp_path)
    assert ClientRegistry(state).get("lk_1") is None
    assert state.execute("SELECT count(*) FROM clients_v0").fetchone()[0] == 1
    assert state.execute("SELECT count(*) FROM pseudonyms_v0").fetchone()[0] == 0
