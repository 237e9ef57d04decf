"""The DPO's unusual patterns, found in a constructed audit log read back through its index."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from linkage.audit import AuditLog
from linkage.audit.pg import PostgresAuditLog
from linkage.service.patterns import Rules, find_patterns

MONDAY = datetime(2026, 3, 2, tzinfo=timezone.utc)          # GMT: London time is UTC
JULY_MONDAY = datetime(2026, 7, 6, tzinfo=timezone.utc)     # BST: London time is UTC + 1
RULES = Rules(tz="Europe/London", hours=(8, 18), days=(0, 1, 2, 3, 4), many=20, minutes=60, follow_hours=72)


def at(day: datetime, hh: int, mm: int = 0) -> str:
    return (day + timedelta(hours=hh, minutes=mm)).isoformat()


def entry(log: AuditLog, client: str, agency: str, action: str, children: list[str], when: str,
          decision: str = "allow") -> None:
    log.append({"request_id": "r", "client_id": client, "agency": agency, "purpose": "admission", "action": action,
                "children": children, "decision": decision, "time": when})


def findings(log: AuditLog, until: datetime, now: datetime):
    facts = log.index.facts(MONDAY - timedelta(days=1), until + timedelta(hours=RULES.follow_hours))
    return {(f.kind, f.client_id): f for f in find_patterns(facts, RULES, until.timestamp(), now.timestamp())}


def test_out_of_hours_many_children_and_unfollowed_lookups(tmp_path):
    log = AuditLog(tmp_path)
    # Out of hours: 21:30 on a Monday, a Saturday morning, and 18:00 exactly (the end is exclusive).
    entry(log, "user:a", "Oak", "view", ["C-1"], at(MONDAY, 10))
    entry(log, "user:a", "Oak", "view", ["C-2"], at(MONDAY, 21, 30))
    entry(log, "user:a", "Oak", "view", ["C-3"], at(MONDAY + timedelta(days=5), 11))
    entry(log, "user:a", "Oak", "view", ["C-3"], at(MONDAY, 18))
    entry(log, "user:a", "Oak", "view", ["C-4"], at(MONDAY, 7, 59), decision="deny")    # refused: not an access
    entry(log, "user:e", "Elm", "view", ["C-5"], at(MONDAY, 8))                         # 08:00 is working time
    # In summer 07:30 UTC is 08:30 in London: working time, not out of hours.
    entry(log, "user:e", "Elm", "view", ["C-6"], at(JULY_MONDAY, 7, 30))
    # Many children: 25 different children in half an hour; another opens 25 over five hours.
    for i in range(25):
        entry(log, "user:b", "Elm", "view", [f"K-{i}"], at(MONDAY, 14, i))
        entry(log, "user:c", "Elm", "view", [f"K-{i}"], at(MONDAY + timedelta(days=1), 9, i * 12))
    for i in range(30):                      # the same child over and over is not "many children"
        entry(log, "user:f", "Elm", "view", ["K-0"], at(MONDAY + timedelta(days=2), 9, i))
    # Lookups: X followed by a colleague's view; Y never opened; Z opened only by another organisation;
    # W looked up an hour before the end (not judged yet); a lookup with no match names nobody.
    entry(log, "user:d", "Ash", "lookup", ["X"], at(MONDAY, 9))
    entry(log, "user:g", "Ash", "view", ["X"], at(MONDAY, 11))
    entry(log, "user:d", "Ash", "lookup", ["Y"], at(MONDAY, 9, 30))
    entry(log, "user:d", "Ash", "lookup", ["Z"], at(MONDAY, 10))
    entry(log, "user:a", "Oak", "view", ["Z"], at(MONDAY, 10, 30))
    entry(log, "user:d", "Ash", "lookup", [], at(MONDAY, 10, 45))
    until = MONDAY + timedelta(days=10, hours=12)        # a Thursday noon
    entry(log, "user:d", "Ash", "lookup", ["W"], (until - timedelta(hours=1)).isoformat())
    found = findings(log, until, now=until + timedelta(hours=2))

    late = found[("out_of_hours", "user:a")]
    assert late.count == 3 and "naming 2 children" in late.detail
    assert (late.first, late.last) == (MONDAY + timedelta(hours=18), MONDAY + timedelta(days=5, hours=11))
    assert ("out_of_hours", "user:e") not in found
    many = found[("many_children", "user:b")]
    assert many.count == 25 and many.organisation == "Elm"
    assert ("many_children", "user:c") not in found and ("many_children", "user:f") not in found
    missed = found[("lookup_not_followed", "user:d")]
    assert missed.count == 2 and missed.detail.startswith("2 of 3 confident lookups")
    assert {k for k, _ in found} == {"out_of_hours", "many_children", "lookup_not_followed"}
    assert len(found) == 3

    # Once W's 72 hours have passed without a view, it is judged too.
    later = findings(log, until, now=until + timedelta(days=4))
    assert later[("lookup_not_followed", "user:d")].count == 3
    log.close()


def test_the_window_threshold_is_the_setting(tmp_path):
    log = AuditLog(tmp_path)
    for i in range(21):                        # 21 children in 21 minutes: just over 20
        entry(log, "user:b", "Elm", "view", [f"K-{i}"], at(MONDAY, 14, i))
    until = MONDAY + timedelta(days=1)
    assert ("many_children", "user:b") in findings(log, until, until)
    facts = log.index.facts(MONDAY - timedelta(days=1), until)
    strict = Rules(many=21, minutes=60)
    short = Rules(many=20, minutes=10)
    assert not [f for f in find_patterns(facts, strict, until.timestamp()) if f.kind == "many_children"]
    assert not [f for f in find_patterns(facts, short, until.timestamp()) if f.kind == "many_children"]
    log.close()


@pytest.fixture(params=["file", "postgres"])
def any_log(request, tmp_path):
    if request.param == "file":
        log = AuditLog(tmp_path)
    else:
        log = PostgresAuditLog(tmp_path, url=request.getfixturevalue("postgres_url"))
    yield log
    log.close()


def test_both_audit_backends_give_the_same_facts(any_log):
    """The file log's index and PostgreSQL's table answer ``facts`` alike: times, columns, children."""
    for i in range(30):
        entry(any_log, f"user:{i % 3}", ["Oak", "Elm"][i % 2], ["view", "lookup", "audit.search"][i % 3],
              [f"K-{i}", f"K-{i + 1}"] if i % 4 else [], at(MONDAY, 9, i), decision=["allow", "deny"][i % 5 == 0])
    facts = any_log.index.facts(MONDAY + timedelta(hours=9, minutes=5), MONDAY + timedelta(hours=9, minutes=20))
    assert [f[0] for f in facts] == list(range(6, 22))
    first = facts[0]
    assert first[2] == (MONDAY + timedelta(hours=9, minutes=5)).timestamp()
    assert first[3:8] == ("user:2", "Elm", "admission", "audit.search", "deny")
    assert sorted(first[9]) == ["K-5", "K-6"] and facts[3][9] == []
    assert all(isinstance(f[8], bool) for f in facts)
