"""Every service-state repository on both backends: the embedded SQLite file and a real PostgreSQL."""

from __future__ import annotations

import threading
import time
from datetime import date, datetime, timedelta, timezone

import pytest

from linkage.access.clients import ClientRegistry
from linkage.access.pseudonyms import Pseudonyms
from linkage.access.relationships import Relationships
from linkage.audit.breakglass import BreakGlassReviews
from linkage.consent.register import ConsentRegister
from linkage.errors import Conflict, LinkageError
from linkage.link.review import ReviewDecisions
from linkage.policy.engine import PolicyEngine
from linkage.store.sealed import Sealer
from linkage.store.state import ServiceState
from linkage.store.state.postgres import PostgresState
from linkage.store.state.sqlite import SQLiteState


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request, tmp_path):
    """(home, url) naming a fresh state database of each kind."""
    if request.param == "sqlite":
        return tmp_path, None
    return tmp_path, request.getfixturevalue("postgres_url")


@pytest.fixture
def state(backend):
    home, url = backend
    s = ServiceState(home, url)
    yield s
    s.close()


def test_the_url_chooses_the_backend(backend, monkeypatch):
    home, url = backend
    if url:
        monkeypatch.setenv("LINKAGE_STATE_URL", url)
    from linkage.config import get_settings

    get_settings.cache_clear()
    s = ServiceState(home)
    assert isinstance(s, PostgresState if url else SQLiteState)
    assert (home / "service.sqlite").exists() is (url is None)
    s.close()


def test_clients_orgs_lockout_and_revocation(state, quick_hashes):
    clients = ClientRegistry(state, lockout_after=3, lockout_seconds=900)
    org = clients.orgs.add("Hill School", "school", "100001")
    with pytest.raises(Conflict):
        clients.orgs.add("Other", "school", "100001")
    assert clients.orgs.by_name("hill school").org_id == clients.orgs.find("100001").org_id == org.org_id
    client, secret = clients.add("Admissions desk", org.org_id, "admissions")
    assert clients.authenticate(client.client_id, secret).outcome == "ok"
    home_net = "198.51.100.0/24"                    # a second network the holder signs in from
    assert clients.authenticate(client.client_id, secret, network=home_net).outcome == "ok"
    now = time.time() + 0.123456
    outcomes = [clients.authenticate(client.client_id, "wrong", now=now) for _ in range(3)]
    assert [o.outcome for o in outcomes] == ["wrong_secret"] * 3 and outcomes[-1].locked_now
    assert outcomes[-1].locks == ("network", "everywhere")
    # A lock-out time survives to the microsecond (PostgreSQL's REAL would round it by minutes).
    assert clients.locked_until(client.client_id) == pytest.approx(now + 900, abs=1e-3)
    # A wrong secret is refused as locked out from that network and every network the client never
    # proved its secret from (and still counted); the right one passes everywhere: a secret is 256
    # random bits, so refusing it protected nothing and let a stranger keep the holder out.
    assert clients.authenticate(client.client_id, "wrong", now=now + 1).outcome == "locked"
    assert clients.authenticate(client.client_id, "wrong", network="192.0.2.0/24", now=now + 1).outcome == "locked"
    assert clients.authenticate(client.client_id, "wrong", network=home_net, now=now + 1).outcome == "wrong_secret"
    assert clients.authenticate(client.client_id, secret, now=now + 1).outcome == "ok"
    assert clients.authenticate(client.client_id, secret, network="192.0.2.0/24", now=now + 1).outcome == "ok"
    # Those three wrong secrets were a second run in a row: every new network is locked out for twice
    # as long (access.lockout); the successes then started the count again.
    assert clients.locked_until(client.client_id, "10.9.9.0/24") == pytest.approx(now + 1 + 1800, abs=1e-3)
    # Guesses spread over networks, one from each, lock the new ones all the same.
    spread = [clients.authenticate(client.client_id, "wrong", network=f"203.0.{i}.0/24", now=now + 1802)
              for i in range(3)]
    assert [o.locks for o in spread] == [(), (), ("everywhere",)] and spread[-1].locked_now
    assert clients.authenticate(client.client_id, "wrong", network="203.0.9.0/24", now=now + 1803).outcome == "locked"
    assert clients.authenticate(client.client_id, secret, network="203.0.8.0/24", now=now + 1803).outcome == "ok"
    # Once their lock-out is over and they have been quiet as long, guessing networks are forgotten
    # (those it signed in from are not): ever more networks cannot grow the table without bound.
    assert clients.lockouts.networks(client.client_id) == 8
    clients.authenticate(client.client_id, "wrong", network="203.0.10.0/24", now=now + 2704)
    assert clients.lockouts.networks(client.client_id) == 5      # "", 192.0.2, home, 203.0.8 and 203.0.10
    new_secret = clients.rotate(client.client_id)
    assert clients.authenticate(client.client_id, new_secret).outcome == "ok"
    generation = clients.get(client.client_id).generation
    off = clients.set_active(client.client_id, False)
    assert not off.active and off.generation == generation + 1
    assert clients.authenticate(client.client_id, new_secret).outcome == "inactive"
    assert [c.client_id for c in clients.list()] == [client.client_id]


def test_lock_outs_grow_with_each_run_in_a_row_until_the_subject_proves_itself(state, quick_hashes):
    """Each run of wrong guesses since the last success locks for twice as long, up to a day: a
    guesser gets one run a day, not 96 (one every 15 minutes). The holder's own network, which
    proved the secret, keeps its own count; its success starts the subject-wide one again."""
    clients = ClientRegistry(state, lockout_after=2, lockout_seconds=900)
    org = clients.orgs.add("Hill School", "school", "100001")
    client, secret = clients.add("Admissions desk", org.org_id, "admissions")
    home_net, stranger = "198.51.100.0/24", "203.0.113.0/24"
    assert clients.authenticate(client.client_id, secret, network=home_net).outcome == "ok"
    now, lengths, told = time.time(), [], []
    for _ in range(10):
        runs = [clients.authenticate(client.client_id, "wrong", network=stranger, now=now) for _ in range(2)]
        assert runs[-1].locks == ("network", "everywhere") and runs[-1].locked_now
        lengths.append(round(clients.locked_until(client.client_id, stranger) - now))
        told.append(runs[-1])
        now += lengths[-1] + 1
    assert lengths == [900, 1800, 3600, 7200, 14400, 28800, 57600, 86400, 86400, 86400]
    assert [(t.retry_after, *t.lock_seconds) for t in told] == [(n, n, n) for n in lengths]   # the 429, the entries
    # The holder's network was never locked, and its right secret passes the stranger's lock-out.
    assert clients.locked_until(client.client_id, home_net) == 0
    assert clients.authenticate(client.client_id, secret, network=stranger, now=now).outcome == "ok"
    # That success starts both counts again: the next run locks for the first length.
    again = [clients.authenticate(client.client_id, "wrong", network=stranger, now=now + 1) for _ in range(2)]
    assert again[-1].lock_seconds == (900, 900)


def _answers(authenticate, subject: str) -> list[list[tuple]]:
    """Four runs of three wrong guesses at ``subject`` from a stranger's network, each run once the
    last lock-out ended: what each answer says (and whether it was refused as locked out)."""
    now, out = time.time(), []
    for _ in range(4):
        runs = [authenticate(subject, "wrong password", network="203.0.113.0/24", now=now) for _ in range(3)]
        out.append([(r.locked_now, r.retry_after, r.locks, r.lock_seconds, r.outcome == "locked") for r in runs])
        now += runs[1].retry_after + 1
    return out


def test_an_email_no_one_holds_is_answered_as_a_registered_one_is(state, quick_hashes):
    """Wrong passwords were counted for registered emails only, so the lock-out's answer told anyone
    which emails are the service's staff. An email no one holds (or one with no password here) is
    now counted, locked and grown as a registered person's is from a network she never used."""
    from linkage.access.users import UserRegistry

    users = UserRegistry(state, lockout_after=2, lockout_seconds=900)
    org = users.orgs.add("Hill School", "school", "100001")
    users.add("amy@hill.example", "Amy", org.org_id, "admissions")
    registered = _answers(users.authenticate, "amy@hill.example")
    assert registered[1][1][:2] == (True, 1800) and registered[0][2][4]     # grown, and locked meanwhile
    assert _answers(users.authenticate, "nobody@hill.example") == registered
    assert _answers(users.authenticate, "NOBODY@hill.example ")[0] != registered[0]    # the same email: goes on


def test_a_client_id_no_one_holds_is_answered_as_a_registered_one_is(state, quick_hashes):
    """Wrong secrets were counted for registered client ids only: the fifth guess at a real id was
    refused as locked out (429) and at a made-up one as unknown (401) for ever, so five requests
    told anyone which client ids exist. An id no one holds, or the identity provider's (no secret
    here), is now counted, locked and grown as a registered client's is from a network it never used."""
    clients = ClientRegistry(state, lockout_after=2, lockout_seconds=900)
    org = clients.orgs.add("Hill School", "school", "100001")
    client, _ = clients.add("Admissions desk", org.org_id, "admissions")
    registered = _answers(clients.authenticate, client.client_id)
    assert registered[1][0][:2] == (True, 1800) and registered[0][2][4]     # grown, and locked meanwhile
    assert _answers(clients.authenticate, "cl_made_up_0001") == registered
    from linkage.access.users import UserRegistry

    users = UserRegistry(state, lockout_after=2, lockout_seconds=900)
    _answers(users.authenticate, "amy@hill.example")                          # an email no one holds, then
    assert _answers(clients.authenticate, "amy@hill.example") == registered   # the same text as a client id: apart


def test_pseudonyms_are_recorded_once_and_resolve(state, backend):
    home, _ = backend
    p = Pseudonyms(home, state)
    a = p.form("org_a", "C-1")
    assert a == p.form("org_a", "C-1") and a != p.form("org_b", "C-1")
    fresh = Pseudonyms(home, state)        # another process: nothing remembered, all in the database
    assert fresh.resolve("org_a", a) == "C-1" and fresh.resolve("org_b", a) is None
    assert state.scalar("SELECT count(*) FROM pseudonyms") == 2
    fresh.form("org_a", "C-1")             # recording it again is not an error
    assert state.scalar("SELECT count(*) FROM pseudonyms") == 2


def test_many_pseudonyms_at_once_equal_one_by_one_and_are_recorded_together(state, backend):
    home, _ = backend
    p = Pseudonyms(home, state)
    first = p.form("org_a", "C-0")                       # issued before, one by one
    children = [f"C-{i}" for i in range(1_200)]          # more than one lookup chunk
    many = p.forms("org_a", children)
    fresh = Pseudonyms(home, state)                      # another process agrees, and can map each back
    assert many["C-0"] == first and many == {c: fresh.form("org_a", c) for c in children}
    assert all(fresh.resolve("org_a", v) == c for c, v in many.items())
    assert state.scalar("SELECT count(*) FROM pseudonyms") == 1_200
    assert fresh.forms("org_b", ["C-1"])["C-1"] != many["C-1"]
    assert p.forms("org_a", []) == {}
    with pytest.raises(ValueError):
        p.forms("", ["C-1"])


def test_relationships_grant_renew_expire(state):
    rel = Relationships(state, days=30)
    t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
    rel.grant("org_a", ["C-1", "C-2"], "lookup", now=t0)
    rel.grant("org_a", ["C-1"], "cme", now=t0 + timedelta(days=20))
    assert rel.current("org_a", "C-1", now=t0 + timedelta(days=40)) == "cme"
    assert rel.current("org_a", "C-2", now=t0 + timedelta(days=40)) is None
    assert rel.current("org_a", "C-9", now=t0, former=("C-2",)) == "lookup"
    assert rel.current("org_b", "C-1", now=t0) is None


def test_a_relationship_lasts_its_days_from_every_lookup_yet_is_written_once_a_day(state):
    """Renewals on one day are not written again; the relationship still lasts ``days`` from the
    latest of them (to that day's end), the next day's renewal is written, and no process's
    write shortens another's."""
    rel = Relationships(state, days=30)
    morning = datetime(2026, 3, 2, 8, tzinfo=timezone.utc)
    rel.grant("org_a", ["C-1"], "lookup", now=morning)
    stored = state.scalar("SELECT expires_at FROM relationships WHERE child_id = 'C-1'")
    state.execute("UPDATE relationships SET reason = 'as stored' WHERE child_id = 'C-1'")
    rel.grant("org_a", ["C-1"], "lookup", now=morning + timedelta(hours=15))     # same day: no write
    assert state.scalar("SELECT reason FROM relationships WHERE child_id = 'C-1'") == "as stored"
    evening = morning + timedelta(hours=15)
    assert rel.current("org_a", "C-1", now=evening + timedelta(days=30) - timedelta(minutes=1)) == "as stored"
    assert rel.current("org_a", "C-1", now=morning + timedelta(days=31)) is None
    rel.grant("org_a", ["C-1"], "lookup", now=morning + timedelta(days=1))       # next day: written
    assert state.scalar("SELECT expires_at FROM relationships WHERE child_id = 'C-1'") > stored
    assert rel.current("org_a", "C-1", now=morning + timedelta(days=31)) == "lookup"
    Relationships(state, days=30).grant("org_a", ["C-1"], "lookup", now=morning)   # an older renewal elsewhere
    assert rel.current("org_a", "C-1", now=morning + timedelta(days=31)) == "lookup"


def test_review_decisions_numbered_atomic_and_append_only(state, backend):
    home, _ = backend
    decisions = ReviewDecisions(state, Sealer(home))
    first = decisions.add([("r1", "r2", None, None, 0.9, 3.0), ("r3", "r4", "s3", "s4", 0.4, -1.0)],
                          decision="match", reviewer="Ann", note="seen 50% of it? yes", channel="cli")
    assert [d.decision_id for d in first] == sorted(d.decision_id for d in first) and first[0].decision_id
    with pytest.raises(LinkageError):
        decisions.add([("r5", "r6", None, None, None, None), ("r7", "r7", None, None, None, None)],
                      decision="match", reviewer="Ann", channel="cli")
    assert len(decisions.all()) == 2, "all or none: the first pair of a refused batch is not kept"
    assert decisions.all()[0].note == "seen 50% of it? yes"
    for sql in ("UPDATE review_decisions SET decision = 'non_match'", "DELETE FROM review_decisions"):
        with pytest.raises(Exception, match="append-only"):
            state.execute(sql)
    assert len(decisions.all()) == 2


def test_a_review_decision_never_overwrites_one_made_since_the_reviewer_looked(state, backend):
    """Two reviewers on one pair, a form left open over lunch, the back button after deciding:
    the later submission silently replaced the earlier decision (the latest counts), and a
    double click recorded the decision twice. Given what the reviewer saw (``seen``), a decision
    made since refuses theirs, naming it; the same decision sent twice is one decision."""
    from linkage.errors import Conflict

    decisions = ReviewDecisions(state, Sealer(backend[0]))
    pair = [("education:A1", "health:H1", "sha-a", "sha-h", 0.4, -0.5)]
    (first,) = decisions.add(pair, decision="match", reviewer="Ann", note="same GP", channel="web", seen=0)
    (again,) = decisions.add(pair, decision="match", reviewer="Ann", note="same GP", channel="web", seen=0)
    assert again.decision_id == first.decision_id                     # the double click: one decision
    with pytest.raises(Conflict, match=r"was decided while you had it open \(match by Ann at .*\): yours was "
                                       r"not recorded"):
        decisions.add(pair, decision="not_match", reviewer="Bo", channel="web", seen=0)
    (changed,) = decisions.add(pair, decision="not_match", reviewer="Bo", channel="web", seen=first.decision_id)
    assert [d.decision for d in decisions.history(first.pair_id)] == ["match", "not_match"]
    assert changed.decision_id > first.decision_id
    (cli,) = decisions.add(pair, decision="unsure", reviewer="Cy", channel="cli")      # no ``seen``: as before
    assert decisions.history(first.pair_id)[-1] == cli


def test_consent_and_break_glass(state, backend):
    home, _ = backend
    clients = ClientRegistry(state)
    org = clients.orgs.add("Hill School", "school", "100001")
    client, _ = clients.add("Desk", org.org_id, "admissions")
    consents = ConsentRegister(state, PolicyEngine(), Sealer(home), clients.orgs.identify)
    rec = consents.record(child_id="C-1", category="health", recipient=consents.recipient(organisation=org.org_id),
                          purpose="admission", provision="permit", given_by="parent", method="written",
                          evidence_ref="form 12", given_on=date(2026, 1, 1), expires_on=None,
                          recorder=client.principal())
    assert consents.evaluate("C-1", client.principal(), "admission", today=date(2026, 2, 1)).permit
    consents.withdraw(rec.consent_id, "officer")
    with pytest.raises(Conflict):
        consents.withdraw(rec.consent_id, "officer")
    assert not consents.evaluate("C-1", client.principal(), "admission", today=date(2026, 2, 1)).permit
    reviews = BreakGlassReviews(state, Sealer(home))
    reviews.record(review_id="bg1", request_id="rq", client_id=client.client_id, child_id="C-1",
                   justification="child at risk")
    assert [(r["review_id"], r["justification"]) for r in reviews.all()] == [("bg1", "child at risk")]


def test_transactions_roll_back_and_nest(state):
    state.create("CREATE TABLE IF NOT EXISTS t (k TEXT PRIMARY KEY, n INTEGER, x REAL)")
    with pytest.raises(RuntimeError):
        with state.transaction():
            state.execute("INSERT INTO t VALUES (?, ?, ?)", ("a", 2**40, 0.5))
            raise RuntimeError
    assert state.scalar("SELECT count(*) FROM t") == 0
    with state.transaction():
        with state.transaction():
            state.executemany("INSERT INTO t VALUES (?, ?, ?)", [("a", 2**40, 0.5), ("b", 1, 1e-9)])
    assert [tuple(r) for r in state.execute("SELECT k, n, x FROM t ORDER BY k")] == [("a", 2**40, 0.5),
                                                                                     ("b", 1, 1e-9)]
    assert state.columns("t") == {"k", "n", "x"} and state.columns("missing") == set()
    assert state.scalar("SELECT k FROM t WHERE k LIKE ?", ("a%",)) == "a"


def test_two_servers_see_each_others_writes(backend):
    """Two openings (two processes, or two machines on PostgreSQL): a client disabled
    through one is refused by the other's next request, and concurrent writers lose nothing."""
    home, url = backend
    one, two = ServiceState(home, url), ServiceState(home, url)
    a, b = ClientRegistry(one), ClientRegistry(two)
    org = a.orgs.add("Hill School", "school", "100001")
    client, _ = a.add("Desk", org.org_id, "admissions")
    assert b.get(client.client_id).active
    a.set_active(client.client_id, False)
    assert not b.get(client.client_id).active
    rel_one, rel_two = Relationships(one, 30), Relationships(two, 30)
    errors = []

    def grant(rel, prefix):
        try:
            for i in range(20):
                rel.grant("org_a", [f"{prefix}{i}"], "lookup")
        except Exception as exc:        # pragma: no cover - reported below
            errors.append(exc)
    threads = [threading.Thread(target=grant, args=(r, p)) for r, p in ((rel_one, "x"), (rel_two, "y"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and one.scalar("SELECT count(*) FROM relationships") == 40
    one.close()
    two.close()


def test_one_servers_state_and_audit_log_move_to_postgresql(tmp_path, postgres_url, monkeypatch, quick_hashes):
    """What is moved is checked by using it (a client, two staff, a pseudonym, a decision, the
    audit chain); the hashes it moves are those of conftest's ``quick_hashes``: which hash a
    secret was stored under is no part of a move."""
    from typer.testing import CliRunner

    from linkage.audit import AuditLog, open_audit_log
    from linkage.audit.witness import LocalSource, Witness
    from linkage.cli import app
    from linkage.config import get_settings
    from registry import register

    home = tmp_path / "home"
    client, secret = register(home, "Desk", "school", "admissions", org="Hill School")
    old = ServiceState(home)
    first = ReviewDecisions(old, Sealer(home)).add([("a", "b", None, None, 0.7, 1.0)], decision="match",
                                                   reviewer="Ann", note="checked", channel="cli")
    form = Pseudonyms(home, old).form(client.org.org_id, "C-1")
    Relationships(old, 30).grant(client.org.org_id, ["C-1"], "lookup")
    from linkage.access.users import UserRegistry       # staff, and whom the identity provider knows them as
    amy, password = UserRegistry(old).add("amy@hill.example", "Amy", client.org.org_id, "admissions")
    UserRegistry(old).set_subject(amy.user_id, "https://idp.example", "a-1")
    bo, _ = UserRegistry(old).add("bo@hill.example", "Bo", client.org.org_id, "admissions")
    UserRegistry(old).set_subject(bo.user_id, "https://idp.example", None)     # cleared: her email match closed
    log = AuditLog(home, checkpoint_every=3)
    _ = [log.append({"request_id": f"r{i}", "action": "view", "decision": "allow"}) for i in range(7)]
    log.close()
    witness = Witness(tmp_path / "witness")
    witness.observe(LocalSource(AuditLog(home)))

    result = CliRunner().invoke(app, ["state", "migrate", "--to", postgres_url, "--data-dir", str(home)])
    assert result.exit_code == 0 and "7 audit entries" in result.output, result.output
    again = CliRunner().invoke(app, ["state", "migrate", "--to", postgres_url, "--data-dir", str(home)])
    assert again.exit_code == 2 and "empty database" in again.output

    monkeypatch.setenv("LINKAGE_STATE_URL", postgres_url)
    get_settings.cache_clear()
    new = ServiceState(home)
    assert isinstance(new, PostgresState)
    assert ClientRegistry(new).authenticate(client.client_id, secret).outcome == "ok"
    assert UserRegistry(new).authenticate("amy@hill.example", password).outcome == "ok"
    assert UserRegistry(new).by_subject("https://idp.example", "a-1").user_id == amy.user_id
    assert UserRegistry(new).closed_matches(bo.user_id) == ["https://idp.example"]
    assert Pseudonyms(home, new).resolve(client.org.org_id, form) == "C-1"
    assert Relationships(new, 30).current(client.org.org_id, "C-1") == "lookup"
    decisions = ReviewDecisions(new, Sealer(home))
    assert [(d.decision_id, d.note) for d in decisions.all()] == [(first[0].decision_id, "checked")]
    nxt = decisions.add([("c", "d", None, None, None, None)], decision="not_match", reviewer="Ann", channel="cli")
    assert nxt[0].decision_id > first[0].decision_id
    moved = open_audit_log(home, checkpoint_every=3)
    moved.append({"request_id": "after", "action": "view", "decision": "allow"})
    moved.checkpoint()
    assert moved.verify() == [] and moved.head() == 8
    outcome = witness.observe(LocalSource(moved))         # the witness goes on: the same chain, no fork
    assert [c["seq"] for c in outcome.accepted] == [8]
    moved.close()
    new.close()
