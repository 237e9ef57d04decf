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
