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


IDP = {"issuer": "https://idp.example", "subject": "5e1-sam"}


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
                      subject="bad-mallory")
    assert reg.find(sam.user_id).role == "admissions" and len(reg.list()) == 1
    bo, _ = reg.add("bo@oak.example", "Bo", "140001", "admissions", PW)
    with pytest.raises(Conflict, match="another registered person"):             # nor can Sam take Bo's
        reg.provision("bo@oak.example", "Sam Shah", "140001", "admissions", **IDP)
    assert reg.provider_sign_in("https://idp.example/", "5e1-sam", "").user_id == sam.user_id
    assert reg.provider_sign_in("https://idp.example", "bo-at-idp", "bo@oak.example").user_id == bo.user_id
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
