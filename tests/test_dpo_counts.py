"""The DPO's counts and patterns from the audit index's SQL aggregates equal the same counts
made in Python over every index row, on a constructed log with edge cases and a random one."""

from __future__ import annotations

import random
from collections import Counter
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from linkage.audit import AuditLog
from linkage.audit.pg import PostgresAuditLog
from linkage.service.patterns import Rules, find_patterns, find_patterns_sql

START = datetime(2026, 3, 23, tzinfo=timezone.utc)      # spans the change to summer time (29 March)
RULES = Rules(tz="Europe/London", hours=(8, 18), days=(0, 1, 2, 3, 4), many=6, minutes=30, follow_hours=24,
              misses=20)


def fill(log: AuditLog, n: int, seed: int) -> None:
    rng = random.Random(seed)
    for i in range(n):
        kids = rng.choice([[], [f"C-{rng.randrange(40)}"], [f"C-{rng.randrange(40)}", f"C-{rng.randrange(40)}"]])
        log.append({"request_id": "r", "client_id": rng.choice([f"user:{k}" for k in range(6)] + ["api:x"]),
                    "agency": rng.choice(["Oak", "Elm", "Ash", None, ""]),
                    "purpose": rng.choice(["admission", "cme", None]),
                    "action": rng.choice(["view", "view", "view", "lookup", "lookup.withheld", "list_cme",
                                          "audit.search", None]),
                    "children": kids, "decision": rng.choice(["allow"] * 6 + ["deny", "refused", "not_found", "withheld", None]),
                    "time": (START + timedelta(seconds=rng.randrange(14 * 86400))).isoformat()})
    # a scan: one system trying 40 sets of details, naming three children (one withheld by a refusal)
    for k in range(40):
        log.append({"request_id": "r", "client_id": "api:scan", "agency": "Elm", "purpose": "admission",
                    "action": "lookup.withheld" if k == 7 else "lookup", "children": [f"S-{k}"] if k in (3, 7, 30) else [],
                    "decision": "withheld" if k == 7 else "allow",
                    "time": (START + timedelta(days=4, minutes=k)).isoformat()})
    # a burst: one person opening 12 children in 12 minutes, six each side of a 30-minute slot boundary
    for k in range(12):
        log.append({"request_id": "r", "client_id": "user:burst", "agency": "Oak", "purpose": "cme",
                    "action": "view", "children": [f"B-{k}"], "decision": "allow",
                    "time": (START + timedelta(days=3, hours=10, minutes=24 + k)).isoformat()})


def python_counts(facts, agency=None, decision=None):
    tz = ZoneInfo(RULES.tz)
    rows = [f for f in facts if (agency is None or f[4] == agency) and (decision is None or f[7] == decision)]
    days = Counter((datetime.fromtimestamp(f[2], tz).date().isoformat(), f[7] == "allow") for f in rows)
    orgs = Counter((f[4] or "(unknown: refused before sign-in)", f[7] == "allow") for f in rows)
    purposes = Counter((f[5] or "(none given)", f[7] == "allow") for f in rows)
    return days, orgs, purposes, Counter(f[7] or "" for f in rows), len(rows)


def sql_counts(agg, s, u, agency=None, decision=None):
    tz = ZoneInfo(RULES.tz)
    days, orgs, purposes = Counter(), Counter(), Counter()
    for q, allowed, n in agg.counts(["quarter", "allowed"], s, u, agency=agency, decision=decision):
        days[(datetime.fromtimestamp(int(q) * 900, tz).date().isoformat(), bool(allowed))] += n
    for k, allowed, n in agg.counts(["agency", "allowed"], s, u, agency=agency, decision=decision):
        orgs[(k or "(unknown: refused before sign-in)", bool(allowed))] += n
    for k, allowed, n in agg.counts(["purpose", "allowed"], s, u, agency=agency, decision=decision):
        purposes[(k or "(none given)", bool(allowed))] += n
    decisions = Counter({k or "": n for k, n in agg.counts(["decision"], s, u, agency=agency, decision=decision)})
    return days, orgs, purposes, decisions, sum(decisions.values())


@pytest.fixture(params=["file", "postgres"])
def log(request, tmp_path):
    if request.param == "file":
        log = AuditLog(tmp_path, checkpoint_every=1000)
    else:
        log = PostgresAuditLog(tmp_path, checkpoint_every=1000, url=request.getfixturevalue("postgres_url"))
    yield log
    log.close()


def test_sql_counts_and_patterns_equal_python(log):
    fill(log, 1500, seed=7)
    agg = log.index.aggregates()
    since, until = START + timedelta(days=1), START + timedelta(days=11)
    s, u = since.timestamp(), until.timestamp()
    facts = log.index.facts(since, until)
    for agency, decision in ((None, None), ("Oak", None), (None, "allow"), ("Elm", "deny")):
        assert sql_counts(agg, s, u, agency, decision) == python_counts(facts, agency, decision)
    refused = Counter((f[6] or "", f[7]) for f in facts if f[7] in ("deny", "refused"))
    assert Counter({(a or "", d): n for a, d, n in agg.counts(["action", "decision"], s, u,
                                                               ("deny", "refused"))}) == refused
    now = (until + timedelta(days=2)).timestamp()
    expected = find_patterns(log.index.facts(since, until + timedelta(hours=RULES.follow_hours)), RULES, u, now)
    got = find_patterns_sql(agg, RULES, s, u, now)
    assert {p.kind for p in expected} == {"out_of_hours", "many_children", "lookup_not_followed",
                                          "lookups_naming_nobody"}
    scan = [p for p in got if p.kind == "lookups_naming_nobody" and p.client_id == "api:scan"]
    assert [(p.count, p.detail, p.organisation) for p in scan] == [(38, "38 of 40 lookups named no child", "Elm")]
    assert [p.model_dump() for p in got] == [p.model_dump() for p in expected]
    latest = agg.latest(s, u)               # each client's latest entry in the window, read back
    assert latest == {c: max(f[0] for f in facts if f[3] == c) for c in {f[3] for f in facts}}
    assert [r["seq"] for r in log.index.records(sorted(latest.values()))] == sorted(latest.values())
