"""The staff register and web sessions, against a real SQLite service state."""

from __future__ import annotations

import pytest

from linkage.access.orgs import OrgRegistry
from linkage.access.users import SessionStore, UserRegistry
from linkage.config import Settings
from linkage.errors import Conflict, LinkageError, NotFound
from linkage.store.state import ServiceState

PW = "a long synthetic password 1"


@pytest.fixture
def reg(tmp_path):
    state = ServiceState(tmp_path)
    orgs = OrgRegistry(state)
    orgs.add("Oak AP Academy", "ap_school", "140001")
    orgs.add("Northshire Council", "dpo", "801")
    return UserRegistry(state, orgs, lockout_after=3, lockout_seconds=600)


def test_the_staff_register_keeps_no_client_lockouts(reg):
    """It made a whole client register (with that register's lock-out tracker over the clients'
    sign-ins) only to check a person's role; the role check is the organisations' own now."""
    from linkage.access.lockout import Lockouts

    held, frontier = [], [reg]
    while frontier:       # every object of ours the register holds, however deep
        frontier = [v for o in frontier for v in vars(o).values() if type(v).__module__.startswith("linkage.")
                    and hasattr(v, "__dict__") and all(v is not h for h in held)]
        held += frontier
    assert [h.table for h in held if isinstance(h, Lockouts)] == ["users"]


def test_people_belong_to_a_registered_organisation_in_one_of_its_roles(reg):
    user, password = reg.add("Amy@Oak.example ", "Amy  Adeyemi", "140001", "admissions")
    assert user.email == "amy@oak.example" and user.name == "Amy Adeyemi" and len(password) >= 16
    assert user.principal().client_id == f"user:{user.user_id}" and user.principal().agency_type == "ap_school"
    stored = reg.state.execute("SELECT password_hash FROM users").fetchone()[0]
    assert stored.startswith("$argon2id$") and password not in stored
    with pytest.raises(LinkageError, match="not a role of ap_school"):
        reg.add("x@oak.example", "X", "140001", "dpo")
    with pytest.raises(NotFound):
        reg.add("x@oak.example", "X", "999999", "admissions")
    with pytest.raises(LinkageError, match="email"):
        reg.add("not an email", "X", "140001", "admissions")
    with pytest.raises(LinkageError, match="12 to 256"):
        reg.add("y@oak.example", "Y", "140001", "admissions", "short")
    with pytest.raises(Conflict):
        reg.add("AMY@oak.example", "Amy again", "140001", "admissions")


def test_sign_in_outcomes_and_lock_out(reg):
    user, _ = reg.add("amy@oak.example", "Amy", "140001", "admissions", PW)
    assert reg.authenticate("AMY@oak.example", PW).user == user
    assert reg.authenticate("nobody@oak.example", PW).outcome == "unknown"
    now = 1_000_000.0
    outcomes = [reg.authenticate(user.email, "wrong password here", now) for _ in range(3)]
    assert [o.outcome for o in outcomes] == ["wrong_password"] * 3 and outcomes[-1].locked_now
    assert reg.authenticate(user.email, PW, now + 1).outcome == "locked"            # even the right password
    assert reg.authenticate(user.email, PW, now + 601).outcome == "ok"              # after the lock-out


def test_a_browser_that_signed_the_person_in_keeps_working_through_a_strangers_lock_out(reg):
    """Session 25 kept lock-outs by network: a stranger behind the person's own NAT (or cloud /24)
    locked her network, and one anywhere kept her out of every network she had not used yet. A
    browser that signed her in now holds a device token, and with it her attempts are its own
    (OWASP's device cookies): no network's lock-out binds it. No guess is added: without the
    token a stranger meets the same lock-outs, and with a stolen one, that device's own."""
    user, _ = reg.add("amy@oak.example", "Amy", "140001", "admissions", PW)
    office, now = "198.51.100.0/24", 1_000_000.0
    first = reg.authenticate(user.email, PW, now, network=office)
    assert first.outcome == "ok" and len(first.device) >= 40
    stranger = [reg.authenticate(user.email, f"guess {i} at the office", now + 1, network=office) for i in range(3)]
    assert stranger[-1].locked_now and stranger[-1].locks == ("network", "everywhere")
    assert reg.authenticate(user.email, PW, now + 2, network=office).outcome == "locked"    # a new browser
    again = reg.authenticate(user.email, PW, now + 2, network=office, device=first.device)
    assert again.outcome == "ok" and again.device != first.device
    away = reg.authenticate(user.email, PW, now + 3, network="10.20.30.0/24", device=again.device)
    assert away.outcome == "ok"                                                             # a new site
    for token in (first.device, again.device, "made-up-token", "x" * 5000):     # spent, forged, absurd
        assert reg.authenticate(user.email, PW, now + 4, network="10.99.0.0/24", device=token).outcome == "locked"
    # The device's own guesses lock it out, and only it.
    mine = [reg.authenticate(user.email, "not it at all", now + 5, network=office, device=away.device)
            for _ in range(3)]
    assert mine[-1].locked_now and "device" in mine[-1].locks
    assert reg.authenticate(user.email, PW, now + 6, network=office, device=away.device).outcome == "locked"
    assert reg.authenticate(user.email, PW, now + 607, network=office, device=away.device).outcome == "ok"
    reg.set_password(user.email, PW + "x")       # a new password: no device is trusted any longer
    assert reg.lockouts.source(user.user_id, office, away.device) == office


def test_disabling_a_person_or_their_organisation_stops_them(reg):
    user, _ = reg.add("amy@oak.example", "Amy", "140001", "admissions", PW)
    disabled = reg.set_active(user.email, False)
    assert disabled.generation == user.generation + 1 and not reg.usable(disabled)
    assert reg.authenticate(user.email, PW).outcome == "inactive"
    assert reg.usable(reg.set_active(user.user_id, True))
    reg.orgs.set_active("140001", False)
    assert not reg.usable(reg.get(user.user_id)) and reg.authenticate(user.email, PW).outcome == "inactive"


def test_forgetting_or_replacing_a_persons_subject_ends_their_sessions(reg):
    """Sessions carry the person's generation: forgetting the provider's subject, or recording
    another, moved nothing, and a session its sign-in began lived on."""
    user, _ = reg.add("amy@oak.example", "Amy", "140001", "admissions", PW)
    first = reg.set_subject(user.email, "https://idp.example", "amy-1").generation
    assert reg.set_subject(user.email, "https://idp.example", "amy-1").generation == first      # the same: nothing
    assert reg.set_subject(user.email, "https://idp.example", "amy-2").generation == first + 1
    assert reg.set_subject(user.email, "https://idp.example", None).generation == first + 2
    assert reg.set_subject(user.email, "https://idp.example", None).generation == first + 2     # none to forget


def test_disabling_an_organisation_ends_what_its_people_and_clients_hold_for_good(reg):
    """Enabling the organisation again revived every session and token from before it was disabled
    (a person's or client's own disabling does not): its generation did not move."""
    from linkage.access.clients import ClientRegistry

    user, _ = reg.add("amy@oak.example", "Amy", "140001", "admissions", PW)
    clients = ClientRegistry(reg.state, reg.orgs)
    client, _ = clients.add("oak api", "140001", "admissions")
    reg.orgs.set_active("140001", False)
    reg.orgs.set_active("140001", True)
    assert reg.get(user.user_id).generation == user.generation + 1 and reg.usable(reg.get(user.user_id))
    assert clients.get(client.client_id).generation == client.generation + 1


def test_a_new_password_ends_old_sessions(reg):
    user, _ = reg.add("amy@oak.example", "Amy", "140001", "admissions", PW)
    new = reg.set_password(user.email)
    assert reg.get(user.user_id).generation == user.generation + 1
    assert reg.authenticate(user.email, PW).outcome == "wrong_password"
    assert reg.authenticate(user.email, new).outcome == "ok"


def test_sessions_end_when_idle_or_old(reg):
    user, _ = reg.add("amy@oak.example", "Amy", "140001", "admissions", PW)
    sessions = SessionStore(reg.state, idle_seconds=1800, absolute_seconds=36_000)
    t = 5_000_000.0
    sid, rec = sessions.create(user, now=t)
    assert sid not in {r[0] for r in reg.state.execute("SELECT id_hash FROM web_sessions")}   # only its hash
    assert sessions.load(sid, now=t + 1799).user_id == user.user_id
    assert sessions.check(sid, now=t + 1799 + 1801) == (None, "idle", user.user_id)          # idle: whose, for the DPO
    assert sessions.check(sid, now=t + 1799 + 1802) == (None, "no_such_session", None)
    assert sessions.check(None) == (None, None, None)                                        # no cookie: no refusal
    sid, _ = sessions.create(user, now=t)
    for step in range(1, 21):                                 # kept busy, yet still ends after 10 hours
        assert sessions.load(sid, now=t + step * 1700) is not None
    assert sessions.check(sid, now=t + 36_001) == (None, "too_old", user.user_id)
    assert sessions.load("made-up", now=t) is None and sessions.load("x" * 1000, now=t) is None


def test_plain_http_cookies_only_on_loopback(monkeypatch):
    assert not Settings(web_cookie_secure=False).web_cookie_secure
    with pytest.raises(ValueError, match="only when serving on loopback"):
        Settings(web_cookie_secure=False, host="0.0.0.0", allow_remote=True)
    with pytest.raises(ValueError, match="https"):
        Settings(oidc_issuer="http://idp.example", oidc_client_id="a", oidc_client_secret="b")


IDP = {"issuer": "https://idp.example", "subject": "5e1-sam", "email_verified": True}


def test_an_identity_providers_claims_name_a_registered_organisation_and_role(reg):
    user = reg.provision("Sam@oak.example", "Sam Shah", "140001", "admissions", **IDP)
    assert (user.org.code, user.role, user.email) == ("140001", "admissions", "sam@oak.example")
    assert reg.subjects(user.user_id) == {"https://idp.example": "5e1-sam"}
    assert reg.authenticate(user.email, PW).outcome == "unknown"        # no password: the provider vouches
    moved = reg.provision(user.email, "Sam Shah", "140001", "ap_leader", **IDP)
    assert moved.user_id == user.user_id and moved.generation == user.generation + 1   # other sessions end
    with pytest.raises(LinkageError, match="not a role"):
        reg.provision(user.email, "Sam", "140001", "dpo", **IDP)
    with pytest.raises(NotFound):
        reg.provision(user.email, "Sam", "Nowhere", "admissions", **IDP)
    reg.set_active(user.email, False)
    assert not reg.usable(reg.provision(user.email, "Sam", "140001", "admissions", **IDP))     # stays disabled


def test_a_provisioned_person_is_the_providers_subject_whatever_email_it_gives(reg):
    """Provisioning found the person by the email claim, which a provider may let a person set: another
    person's address took over their record (organisation, role and sessions), and a changed address
    made a second record. It is found by the provider's subject now; the email follows it."""
    sam = reg.provision("sam@oak.example", "Sam Shah", "140001", "admissions", **IDP)
    renamed = reg.provision("sam.shah@oak.example", "Sam Shah", "140001", "admissions", **IDP)
    assert (renamed.user_id, renamed.email) == (sam.user_id, "sam.shah@oak.example")
    assert reg.by_email("sam@oak.example") is None and len(reg.list()) == 1
    with pytest.raises(Conflict, match="another of the provider's subjects"):     # Sam's address, not Sam
        reg.provision("sam.shah@oak.example", "Mallory", "140001", "ap_leader", issuer=IDP["issuer"],
                      subject="bad-mallory", email_verified=True)
    assert reg.find(sam.user_id).role == "admissions" and len(reg.list()) == 1
    bo, _ = reg.add("bo@oak.example", "Bo", "140001", "admissions", PW)
    with pytest.raises(Conflict, match="another registered person"):             # nor can Sam take Bo's
        reg.provision("bo@oak.example", "Sam Shah", "140001", "admissions", **IDP)
    assert reg.provider_sign_in("https://idp.example/", "5e1-sam", "", email_verified=True).user_id == sam.user_id
    assert reg.provider_sign_in("https://idp.example", "bo-at-idp", "bo@oak.example",
                                email_verified=True).user_id == bo.user_id
    assert reg.subjects(bo.user_id) == {"https://idp.example": "bo-at-idp"}    # recorded at the first


def test_the_users_command(tmp_path):
    from typer.testing import CliRunner

    from linkage.cli import app

    home = str(tmp_path / "home")
    run = CliRunner().invoke
    assert run(app, ["orgs", "add", "--name", "Oak AP Academy", "--type", "ap_school", "--code", "140001",
                     "--data-dir", home]).exit_code == 0
    out = run(app, ["users", "add", "--email", "amy@oak.example", "--name", "Amy", "--org", "140001",
                    "--role", "admissions", "--data-dir", home])
    assert out.exit_code == 0 and "password: " in out.output
    password = out.output.split("password: ")[1].split()[0]
    reg = UserRegistry(ServiceState(tmp_path / "home"))
    assert reg.authenticate("amy@oak.example", password).outcome == "ok"
    out = run(app, ["users", "add", "--email", "bo@oak.example", "--name", "Bo", "--org", "140001",
                    "--role", "admissions", "--password-stdin", "--data-dir", home], input=PW + "\n")
    assert out.exit_code == 0 and "password:" not in out.output and PW not in out.output
    assert reg.authenticate("bo@oak.example", PW).outcome == "ok"
    bad = run(app, ["users", "add", "--email", "cy@oak.example", "--name", "Cy", "--org", "140001",
                    "--role", "dpo", "--data-dir", home])
    assert bad.exit_code == 2 and "not a role of ap_school" in bad.output
    assert run(app, ["users", "disable", "bo@oak.example", "--data-dir", home]).exit_code == 0
    listed = run(app, ["users", "list", "--data-dir", home]).output
    assert "bo@oak.example" in listed and "disabled" in listed
    assert run(app, ["users", "disable", "nobody@oak.example", "--data-dir", home]).exit_code == 2
    # Each change to the registers is in the audit log (the command line left none: the DPO could not
    # see who was given access or disabled); never a password.
    import json

    log = [json.loads(line)["entry"] for line in (tmp_path / "home" / "audit" / "log.jsonl").read_text().splitlines()]
    assert [(e["action"], e.get("target_person"), e["channel"]) for e in log] == [
        ("admin.org_added", None, "cli"), ("admin.user_added", "amy@oak.example", "cli"),
        ("admin.user_added", "bo@oak.example", "cli"), ("admin.user_disabled", "bo@oak.example", "cli")]
    assert all(e["operator"] and e["decision"] == "allow" for e in log)
    assert password not in json.dumps(log) and PW not in json.dumps(log)


def test_the_providers_subject_is_recorded_from_the_command_line(tmp_path, monkeypatch):
    """For a person who uses the API before the staff sign-in, or whose API tokens name another subject
    than it recorded, and for the provider's machine clients: each change audited."""
    import json

    from typer.testing import CliRunner

    from linkage.access.clients import ClientRegistry
    from linkage.cli import app
    from linkage.config import get_settings

    home, run = str(tmp_path / "home"), CliRunner().invoke
    monkeypatch.setenv("LINKAGE_EXTERNAL_ISSUER", "https://idp.example/")
    monkeypatch.setenv("LINKAGE_EXTERNAL_AUDIENCE", "linkage")
    get_settings.cache_clear()
    try:
        assert run(app, ["orgs", "add", "--name", "Oak AP Academy", "--type", "ap_school", "--code", "140001",
                         "--data-dir", home]).exit_code == 0
        out = run(app, ["users", "add", "--email", "amy@oak.example", "--name", "Amy", "--org", "140001",
                        "--role", "admissions", "--idp-subject", "a-1", "--data-dir", home])
        assert out.exit_code == 0, out.output
        out = run(app, ["users", "add", "--email", "bo@oak.example", "--name", "Bo", "--org", "140001",
                        "--role", "admissions", "--idp-subject", "a-1", "--data-dir", home])
        assert out.exit_code == 2 and "already registered" in out.output              # and Bo is not added
        out = run(app, ["clients", "add", "--name", "Roll feed", "--org", "140001", "--role", "admissions",
                        "--idp-subject", "feed-9", "--data-dir", home])
        assert out.exit_code == 0 and "client_secret" not in out.output and "feed-9" in out.output
        assert run(app, ["users", "subject", "amy@oak.example", "--clear", "--data-dir", home]).exit_code == 0
        assert run(app, ["users", "subject", "amy@oak.example", "--data-dir", home]).exit_code == 2
        assert run(app, ["users", "subject", "amy@oak.example", "--idp-subject", "feed-9",
                         "--data-dir", home]).exit_code == 2                            # the client's
    finally:
        get_settings.cache_clear()
    state = ServiceState(tmp_path / "home")
    reg = UserRegistry(state)
    assert reg.by_email("bo@oak.example") is None and reg.subjects(reg.by_email("amy@oak.example").user_id) == {}
    feed = [c for c in ClientRegistry(state).list() if c.idp_subject == "feed-9"]
    assert feed and feed[0].idp_issuer == "https://idp.example"
    log = [json.loads(line)["entry"] for line in (tmp_path / "home" / "audit" / "log.jsonl").read_text().splitlines()]
    assert [(e["action"], e.get("idp_subject")) for e in log[1:]] == [
        ("admin.user_added", "a-1"), ("admin.client_added", "feed-9"), ("admin.user_subject_set", None)]


def test_a_subject_at_an_issuer_this_service_does_not_trust_is_said(tmp_path, monkeypatch):
    """An operator pinning a person to the provider's subject with a misspelt issuer (a capital in
    the host, Microsoft's v1 issuer for its v2) was told it was done: the pin named no one, and the
    person's address stayed open to whoever claimed it first at the real provider. Now it is said;
    a subject pasted with spaces round it is still the subject."""
    import incli
    from linkage.config import get_settings

    home = str(tmp_path / "home")
    monkeypatch.setenv("LINKAGE_EXTERNAL_ISSUER", "https://idp.example/realms/la")
    monkeypatch.setenv("LINKAGE_EXTERNAL_AUDIENCE", "linkage")
    get_settings.cache_clear()
    try:
        assert incli.run("orgs", "add", "--name", "Oak AP Academy", "--type", "ap_school", "--code", "140001",
                         "--data-dir", home).returncode == 0
        assert incli.run("users", "add", "--email", "amy@oak.example", "--name", "Amy", "--org", "140001",
                         "--role", "admissions", "--data-dir", home).returncode == 0
        for issuer, warned in (("https://IDP.example/realms/la", True), ("https://idp.example/realms/la/", False),
                               ("https://idp.example/realms/other", True)):
            done = incli.run("users", "subject", "amy@oak.example", "--idp-subject", " a-1 ", "--idp-issuer", issuer,
                             "--data-dir", home)
            assert done.returncode == 0 and ("is neither LINKAGE_EXTERNAL_ISSUER" in done.stderr) == warned, done
    finally:
        get_settings.cache_clear()
    assert UserRegistry(ServiceState(tmp_path / "home")).by_subject("https://idp.example/realms/la", "a-1")


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_two_first_sign_ins_at_once_with_one_address_make_one_person(kind, tmp_path, request, quick_hashes):
    """A person's first sign-in with the provider records its subject, found by their address. Two
    at once (a stranger who set the person's address at a self-service provider, and the person)
    were both the person, and the later subject replaced the earlier: 90 rounds in 100 on SQLite.
    One is, the other is refused, and the subject recorded is the one that was let in."""
    import threading

    url = request.getfixturevalue("postgres_url") if kind == "postgres" else None
    state = ServiceState(tmp_path / "home", url)
    OrgRegistry(state).add("Oak AP Academy", "ap_school", "140001")
    users = UserRegistry(state)
    for i in range(30):
        email, got = f"p{i}@oak.example", {}
        users.add(email, "Pat", "140001", "admissions")
        gate = threading.Barrier(2)

        def first(subject: str) -> None:
            gate.wait()
            try:
                got[subject] = users.provider_sign_in("https://idp.example", subject, email,
                                                      email_verified=True) is not None
            except Conflict:
                got[subject] = False

        threads = [threading.Thread(target=first, args=(s,)) for s in (f"pat-{i}", f"mallory-{i}")]
        [t.start() for t in threads]
        [t.join() for t in threads]
        let_in = [s for s, ok in got.items() if ok]
        assert len(let_in) == 1, (i, got)
        assert users.subjects(users.by_email(email).user_id) == {"https://idp.example": let_in[0]}
    state.close()


def test_a_refused_first_sign_in_records_no_subject(reg):
    """A leaver disabled in the register, whose address the council gives a new starter: the new
    starter's first sign-in with the provider was refused (the leaver is disabled), but recorded
    their subject as the leaver's, so re-enabling the leaver's record (they came back) let the new
    starter in as them, and refused the leaver."""
    reg.add("jo.smith@oak.example", "Jo Smith", "140001", "admissions")
    reg.set_active("jo.smith@oak.example", False)
    user = reg.provider_sign_in("https://idp.example", "new-starter-1", "jo.smith@oak.example", email_verified=True)
    assert not reg.usable(user) and reg.subjects(user.user_id) == {}
    reg.set_active("jo.smith@oak.example", True)
    assert reg.provider_sign_in("https://idp.example", "jo-returning", "jo.smith@oak.example",
                                email_verified=True).user_id == user.user_id
    assert reg.by_subject("https://idp.example", "new-starter-1") is None


def test_a_cleared_subject_keeps_the_persons_email_match_closed_until_the_operator_opens_it(reg):
    """`linkage users subject --clear` forgot the person's subject, and with it reopened the one-time
    email match: the next sign-in with their address, by whoever had set it as theirs at the provider
    (or the provider's email left unverified-but-silent, as Entra ID's is), recorded that subject as
    theirs. Clearing keeps the match closed; the operator records the subject, or opens the match."""
    from linkage.access.users import EmailUnverified

    iss = "https://idp.example"
    amy, _ = reg.add("amy@oak.example", "Amy", "140001", "admissions", PW)
    reg.set_subject(amy.user_id, iss, "amy-1")
    reg.set_subject(amy.user_id, iss + "/", None)                       # --clear (the issuer as a setting)
    assert reg.subjects(amy.user_id) == {} and reg.closed_matches(amy.user_id) == [iss]
    for stranger in ("mallory-9", "amy-2"):                             # a stranger, or Amy's new account
        with pytest.raises(Conflict, match="was cleared"):
            reg.provider_sign_in(iss, stranger, "amy@oak.example", email_verified=True)
        with pytest.raises(Conflict, match="was cleared"):              # provisioning too
            reg.provision("amy@oak.example", "Mallory", "140001", "ap_leader", issuer=iss, subject=stranger,
                          email_verified=True)
    assert reg.subjects(amy.user_id) == {} and reg.find(amy.user_id).role == "admissions" and len(reg.list()) == 1
    other = "https://api-idp.example"                                   # another provider's match: untouched
    assert reg.provider_sign_in(other, "amy-api", "amy@oak.example", email_verified=True).user_id == amy.user_id
    reg.set_subject(amy.user_id, iss, None, allow_email_match=True)     # --clear --allow-email-match
    assert reg.closed_matches(amy.user_id) == []
    with pytest.raises(EmailUnverified):                                # opened to a verified email only
        reg.provider_sign_in(iss, "amy-2", "amy@oak.example", email_verified=False)
    assert reg.provider_sign_in(iss, "amy-2", "amy@oak.example", email_verified=True).user_id == amy.user_id
    assert reg.subjects(amy.user_id) == {iss: "amy-2", other: "amy-api"}
    reg.set_subject(amy.user_id, iss, None)
    reg.set_subject(amy.user_id, iss, "amy-3")                          # recording one settles it
    assert reg.closed_matches(amy.user_id) == [] and reg.by_subject(iss, "amy-3").user_id == amy.user_id


def test_a_person_the_providers_subject_names_is_them_whatever_email_verified_says(reg):
    """The subject is the person's stable name at the provider; an email claim marked unverified
    refused a person already known by it (and by email their first time: still refused). An
    unverified email is not taken over as the recorded one."""
    from linkage.access.users import EmailUnverified

    iss = "https://idp.example"
    amy, _ = reg.add("amy@oak.example", "Amy", "140001", "admissions", PW)
    with pytest.raises(EmailUnverified):
        reg.provider_sign_in(iss, "amy-1", "amy@oak.example", email_verified=False)
    assert reg.subjects(amy.user_id) == {}                              # recorded nothing
    assert reg.provider_sign_in(iss, "amy-1", "amy@oak.example", email_verified=True).user_id == amy.user_id
    for email in ("amy@oak.example", "someone.else@oak.example", ""):
        assert reg.provider_sign_in(iss, "amy-1", email, email_verified=False).user_id == amy.user_id
    sam = reg.provision("sam@oak.example", "Sam", "140001", "admissions", **IDP)
    again = reg.provision("not.sam@oak.example", "Sam S", "140001", "ap_leader", issuer=IDP["issuer"],
                          subject=IDP["subject"], email_verified=False)
    assert (again.user_id, again.email, again.name, again.role) == (sam.user_id, "sam@oak.example", "Sam S",
                                                                    "ap_leader")
    with pytest.raises(EmailUnverified):                                # a new person needs a verified email
        reg.provision("nia@oak.example", "Nia", "140001", "admissions", issuer=iss, subject="nia-1",
                      email_verified=False)
    assert reg.by_email("nia@oak.example") is None


def test_a_refused_first_sign_in_that_provisions_changes_no_one(reg):
    """With the organisation and role claims, a first sign-in matched by email to a disabled person (a
    leaver whose address the council gave a new starter) was refused, but first rewrote the leaver's
    name, organisation and role with the new starter's claims."""
    leaver, _ = reg.add("jo.smith@oak.example", "Jo Smith", "140001", "admissions", PW)
    reg.set_active(leaver.user_id, False)
    found = reg.provision("jo.smith@oak.example", "Jo Newstarter", "140001", "ap_leader", issuer="https://idp.example",
                          subject="new-starter-1", email_verified=True)
    assert not reg.usable(found)
    after = reg.find(leaver.user_id)
    assert (after.name, after.role, after.generation) == ("Jo Smith", "admissions", leaver.generation + 1)
    assert reg.subjects(leaver.user_id) == {}


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_one_subject_is_never_both_a_persons_and_a_clients(kind, tmp_path, request, quick_hashes):
    """A person's subject and a machine client's are in two tables, each keyed, and each command
    looked in the other before writing: recorded at once (`linkage users subject` and `linkage
    clients add --idp-subject`), one subject was both, 25 rounds in 100 on SQLite, and the
    provider's tokens for it the person's."""
    import threading

    from linkage.access.clients import ClientRegistry

    url = request.getfixturevalue("postgres_url") if kind == "postgres" else None
    state = ServiceState(tmp_path / "home", url)
    OrgRegistry(state).add("Oak AP Academy", "ap_school", "140001")
    users, clients = UserRegistry(state), ClientRegistry(state)
    for i in range(30):
        user, _ = users.add(f"p{i}@oak.example", "Pat", "140001", "admissions")
        gate, got = threading.Barrier(2), {}

        def person() -> None:
            gate.wait()
            try:
                got["person"] = bool(users.set_subject(user.user_id, "https://idp.example", f"s-{i}"))
            except Conflict:
                got["person"] = False

        def client() -> None:
            gate.wait()
            try:
                got["client"] = bool(clients.add("Feed", "140001", "admissions", idp_issuer="https://idp.example",
                                                 idp_subject=f"s-{i}"))
            except Conflict:
                got["client"] = False

        threads = [threading.Thread(target=person), threading.Thread(target=client)]
        [t.start() for t in threads]
        [t.join() for t in threads]
        assert sorted(got.values()) == [False, True], (i, got)
    state.close()


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_two_first_sign_ins_at_once_that_record_a_new_person_make_one(kind, tmp_path, request):
    """With the organisation and role claims, a person's first sign-in records them. Two at once
    with one new address (a double click, or two tabs) both got past the look for them, and the
    second failed on the database's key: an IntegrityError out of the sign-in, not a refusal, 49 rounds in 50."""
    import threading

    url = request.getfixturevalue("postgres_url") if kind == "postgres" else None
    state = ServiceState(tmp_path / "home", url)
    OrgRegistry(state).add("Oak AP Academy", "ap_school", "140001")
    users = UserRegistry(state)
    for i in range(20):
        gate, got = threading.Barrier(2), []

        def first(subject: str) -> None:
            gate.wait()
            try:
                users.provision(f"n{i}@oak.example", "Nia", "140001", "admissions", issuer="https://idp.example",
                                subject=subject, email_verified=True)
                got.append("in")
            except Conflict:
                got.append("refused")
            except Exception as exc:            # noqa: BLE001 - what the test is about
                got.append(type(exc).__name__)

        threads = [threading.Thread(target=first, args=(s,)) for s in (f"a-{i}", f"b-{i}")]
        [t.start() for t in threads]
        [t.join() for t in threads]
        assert sorted(got) == ["in", "refused"], (i, got)
    state.close()
