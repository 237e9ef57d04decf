"""Every policy test in policies/tests is a request with its expected decision."""

import pytest
import yaml

from conftest import REPO
from linkage.policy import PolicyEngine, Principal

CASES = yaml.safe_load((REPO / "policies" / "tests" / "decisions.yaml").read_text())


@pytest.fixture(scope="module")
def engine():
    return PolicyEngine()


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_policy_decision(engine, case):
    p = Principal("client-1", "Test Agency", case["principal"]["agency_type"], case["principal"]["role"])
    ctx = dict(case["context"])
    flags = {k: ctx.pop(k, False) for k in ("consent", "consent_denied", "break_glass")}
    purpose = ctx.pop("purpose")
    d = engine.decide(p, case["action"], purpose, [case["resource"]],
                      consent={case["resource"]: flags["consent"]},
                      consent_denied={case["resource"]: flags["consent_denied"]},
                      break_glass=flags["break_glass"], context=ctx or None)
    assert ("Allow" if d.any else "Deny") == case["expect"]
    if "basis" in case:
        assert case["basis"].lower() in d.allowed[case["resource"]].lower()


def test_policy_version_changes_with_text(tmp_path):
    a = PolicyEngine()
    for f in (REPO / "policies").iterdir():
        if f.is_file():
            (tmp_path / f.name).write_text(f.read_text())
    (tmp_path / "extra.cedar").write_text('@id("x")\nforbid (principal, action, resource) when { context.purpose == "nothing" };\n')
    assert PolicyEngine(tmp_path).version != a.version


def test_policies_that_break_the_schema_are_refused(tmp_path):
    from linkage.errors import ConfigError

    for f in (REPO / "policies").iterdir():
        if f.is_file():
            (tmp_path / f.name).write_text(f.read_text())
    (tmp_path / "bad.cedar").write_text('permit (principal, action, resource) when { principal.shoe_size > 3 };\n')
    with pytest.raises(ConfigError):
        PolicyEngine(tmp_path)


def test_every_type_and_role_the_policies_name_is_in_the_closed_list():
    import cedarpy

    from linkage.policy import roles
    from linkage.policy.roles import named_in_policies

    closed = roles()
    types, named = named_in_policies(cedarpy.policies_to_json_str((REPO / "policies" / "sharing.cedar").read_text()))
    assert types and named                      # the walk finds them at all
    assert types <= closed.keys()
    assert named <= {r for rs in closed.values() for r in rs}


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_decision_cases_use_registrable_principals(case):
    from linkage.policy import roles

    assert case["principal"]["role"] in roles()[case["principal"]["agency_type"]]


def test_policies_naming_a_role_outside_the_closed_list_are_refused(tmp_path):
    from linkage.errors import ConfigError

    for f in (REPO / "policies").iterdir():
        if f.is_file():
            (tmp_path / f.name).write_text(f.read_text())
    (tmp_path / "typo.cedar").write_text('permit (principal, action, resource) when '
                                         '{ principal.role == "social_workr" };\n')
    with pytest.raises(ConfigError, match="social_workr"):
        PolicyEngine(tmp_path)


# ---------------------------------------------------------------- purposes a role may take up

PURPOSES = ("admission", "safeguarding", "cme", "care", "data_management", "audit", "outcomes")


def _every_principal():
    from linkage.policy import roles

    return [Principal("client-1", "Test Agency", kind, role, "org_1", "123")
            for kind, names in roles().items() for role in names]


def _may(engine, who, action: str, purpose: str) -> bool:
    return engine.decide(who, action, purpose, list(engine.categories)).any


def test_only_the_cme_and_consent_officers_of_the_las_roles_work_under_the_cme_purpose(engine):
    """The purpose is the caller's to name (``X-Purpose``). The CME permit named the organisation
    type only, so a commissioner (published aggregates only) and the data manager opened any
    child's record (social care episodes, GP) by naming ``cme``. Only the CME officer, and the
    consent officer (who finds the child whose consent it records), work for it."""
    for who in _every_principal():
        if who.agency_type != "la_education":
            continue
        for purpose in PURPOSES:
            works = who.role in ("cme_officer", "consent_officer") and purpose == "cme"
            for action in ("view", "lookup", "list_cme"):
                assert _may(engine, who, action, purpose) == works, (who.role, action, purpose)


def test_identity_changes_are_followed_only_under_a_purpose_the_role_finds_children_for(engine):
    """A refusal of consent is given for one purpose, and hides the child from the refused
    organisation's changes under that purpose (``service/identity.py``). Any purpose of five
    would do for following changes: under another one, the refusal did not apply and the refused
    school learnt the pseudonym of a child split off. Now a role follows changes only for a
    purpose it looks children up for, where the refusal applies."""
    for who in _every_principal():
        for purpose in PURPOSES:
            if _may(engine, who, "sync_pseudonyms", purpose):
                assert _may(engine, who, "lookup", purpose), (who.agency_type, who.role, purpose)


def test_a_refused_category_reaches_no_one_by_any_child_level_action_but_a_safeguarding_override(engine):
    """Every action that discloses a child's data (opening, finding a child, an AP
    leader's own pupils' outcomes), for every role and purpose: a category refused to the caller
    is never allowed, unless a safeguarding role works under ``safeguarding``. The hard rule named
    ``view`` and ``lookup`` only, and ``read_outcome_children`` let an AP leader read a pupil's
    education after the AP (next school, exclusions, attendance) that a parent refused it. (The
    CME worklist leaves out a child refused to the caller in the service, ``service/cme.py``.)"""
    cats = list(engine.categories)
    for who in _every_principal():
        for purpose in PURPOSES:
            override = purpose == "safeguarding" and who.role in (
                "social_worker", "team_manager", "designated_safeguarding_lead")
            for action in ("view", "lookup", "read_outcome_children"):
                d = engine.decide(who, action, purpose, cats, consent_denied={c: True for c in cats})
                assert override or not d.allowed, (who.agency_type, who.role, action, purpose, sorted(d.allowed))


def test_a_consent_is_read_only_by_the_roles_that_record_consent_or_work_with_the_child(engine):
    """Who recorded a consent, and to whom it is addressed, is an organisation: every role of it was
    a party. The LA's commissioner (published aggregates only) and its data manager read every
    consent the LA's consent officer recorded, the evidence naming the parent included, by naming
    any purpose (``outcomes`` too); social care's business support, its social workers'. For every
    role, purpose and party: a consent is read only by a role that records consent or opens or finds
    children under some purpose, its evidence only by one that records consent (or the consent
    officer, and the DPO auditing), and never under ``outcomes``."""
    cats = list(engine.categories)
    parties = [{"recorded_by_caller": rec, "caller_is_recipient": isr, "recipient_type": "ap_school"}
               for rec in (False, True) for isr in (False, True)]
    for who in _every_principal():
        works = any(_may(engine, who, action, p) for action in ("view", "lookup") for p in PURPOSES)
        records = any(engine.decide(who, "record_consent", p, cats, context={**c, "recipient_type": t}).any
                      for p in PURPOSES for c in parties for t in ("ap_school", "health", "dpo"))
        for purpose in PURPOSES:
            for context in parties:
                reads = engine.decide(who, "read_consent", purpose, cats, context=context).any
                evidence = engine.decide(who, "read_consent_evidence", purpose, cats, context=context).any
                auditing = who.agency_type == "dpo" and purpose == "audit"
                if reads and not auditing:
                    assert (works or records) and purpose != "outcomes", (who.role, purpose, context)
                if evidence and not auditing:
                    assert records and purpose != "outcomes", (who.role, purpose, context)


def test_under_the_cme_purpose_no_role_reads_health_data_but_the_gp_practice(engine):
    """Finding a child missing education needs where the child is registered with a GP, not what
    each health contact was: the CME officer had that limit, a social worker or team manager did
    not (``social-care-safeguarding`` named ``cme`` beside ``safeguarding`` for every category), and
    read every health contact of any child on the worklist. For every role, with or without consent
    (the lawful basis is the purpose, not a consent), by every action that discloses a child's data."""
    health = [c for c, spec in engine.categories.items() if spec["group"] == "health"]
    assert "health.gp" in health and len(health) > 1
    for who in _every_principal():
        for consent in (False, True):
            for action in ("view", "lookup", "list_cme"):
                d = engine.decide(who, action, "cme", health, consent={c: consent for c in health})
                assert set(d.allowed) <= {"health.gp"}, (who.agency_type, who.role, action, consent, sorted(d.allowed))
    social_worker = Principal("client-1", "Test Agency", "social_care", "social_worker", "org_1", "123")
    assert set(engine.decide(social_worker, "view", "safeguarding", health).allowed) == set(health)
    assert "health.gp" in engine.decide(social_worker, "view", "cme", health).allowed
