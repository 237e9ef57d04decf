"""Unusual patterns in the audit log, for the DPO to look into (not proof of wrongdoing):

- **out of hours**: records opened outside working hours (``dpo_working_hours``, in
  ``dpo_timezone``) or on a day not in ``dpo_working_days``;
- **many children**: one person or API client opening more than ``dpo_many_children``
  different children's records within ``dpo_many_children_minutes``;
- **lookup not followed**: a confident lookup (a child named) after which the same
  organisation did not open that child's record within ``dpo_lookup_follow_hours``
  (a lookup is for admitting or helping a child, not for browsing). Lookups younger
  than that are not judged yet;
- **lookups naming nobody**: one person or API client whose lookups named no child more than
  ``dpo_lookup_misses`` times in the period, and more often than they named one: someone
  trying names and dates of birth (or NHS numbers) to find out who is known, rather than
  finding one child (a lookup a refusal withheld named nobody, to them).

``find_patterns_sql`` finds them with the audit index's SQL aggregates (a page reads grouped
rows, and only the stretches of views that could hold "many children"); ``find_patterns`` is
the same rules as a pure function of index rows, the reference the SQL is tested against.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from linkage.service.context import Ctx
from linkage.service.pattern_cache import kept
from linkage.service.schemas_dpo import PatternFinding, Patterns
from linkage.service.subject_access import who

__all__ = ["Rules", "epoch", "find_patterns", "find_patterns_sql", "unusual_patterns"]

_DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
# (seq, offset, at, client, agency, purpose, action, decision, break_glass, children): AuditIndex.facts
SEQ, AT, CLIENT, AGENCY, ACTION, DECISION, CHILDREN = 0, 2, 3, 4, 6, 7, 9


@dataclass(frozen=True)
class Rules:
    tz: str = "Europe/London"
    hours: tuple[int, int] = (8, 18)
    days: tuple[int, ...] = (0, 1, 2, 3, 4)
    many: int = 20
    minutes: int = 60
    follow_hours: int = 72
    misses: int = 50

    @classmethod
    def from_settings(cls, s) -> Rules:
        return cls(s.dpo_timezone, tuple(s.dpo_working_hours), tuple(s.dpo_working_days), s.dpo_many_children,
                   s.dpo_many_children_minutes, s.dpo_lookup_follow_hours, s.dpo_lookup_misses)

    def words(self) -> dict[str, str]:
        days = ", ".join(_DAYS[d] for d in sorted(self.days))
        return {"out_of_hours": f"A child's records used outside {self.hours[0]:02d}:00 to {self.hours[1]:02d}:00 "
                                f"({self.tz}), or on a day other than {days}.",
                "many_children": f"One person or system opening more than {self.many} different children's "
                                 f"records within {self.minutes} minutes.",
                "lookup_not_followed": f"A child found by a confident lookup whose record the same organisation "
                                       f"did not open within {self.follow_hours} hours.",
                "lookups_naming_nobody": f"One person or system whose lookups named no child more than "
                                         f"{self.misses} times in the period, and more often than they named one: "
                                         "trying details to find out who is known, rather than finding a child."}


def epoch(t: datetime) -> float:
    """Epoch seconds, reading a time without a zone as UTC (as the audit index stores times)."""
    return (t if t.tzinfo else t.replace(tzinfo=timezone.utc)).timestamp()


def _when(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, timezone.utc)


def _opens(f) -> bool:
    """An allowed opening of a child's record (break-glass views included)."""
    return f[ACTION] == "view" and f[DECISION] == "allow" and bool(f[CHILDREN])


def _span(fs) -> tuple[datetime, datetime]:
    times = [f[AT] for f in fs]
    return _when(min(times)), _when(max(times))


def _out_of_hours(facts, rules: Rules) -> list[PatternFinding]:
    tz = ZoneInfo(rules.tz)
    late: dict[str, list] = defaultdict(list)
    for f in facts:
        if f[DECISION] != "allow" or not f[CHILDREN] or str(f[ACTION] or "").startswith("audit."):
            continue
        local = datetime.fromtimestamp(f[AT], tz)
        if local.weekday() not in rules.days or not rules.hours[0] <= local.hour < rules.hours[1]:
            late[f[CLIENT]].append(f)
    out = []
    for client, fs in late.items():
        kids = {c for f in fs for c in f[CHILDREN]}
        actions = Counter(f[ACTION] for f in fs)
        first, last = _span(fs)
        out.append(PatternFinding(kind="out_of_hours", client_id=client, organisation=fs[-1][AGENCY], count=len(fs),
                                  first=first, last=last,
                                  detail=f"{len(fs):,} out-of-hours {'access' if len(fs) == 1 else 'accesses'} "
                                         f"naming {len(kids):,} "
                                         f"{'child' if len(kids) == 1 else 'children'} ("
                                         + ", ".join(f"{a} {n:,}" for a, n in actions.most_common()) + ")"))
    return out


def _many_children(facts, rules: Rules) -> list[PatternFinding]:
    span = rules.minutes * 60
    by_client: dict[str, list] = defaultdict(list)
    for f in sorted(facts, key=lambda f: f[AT]):
        if _opens(f):
            by_client[f[CLIENT]].append(f)
    out = []
    for client, fs in by_client.items():
        held: Counter = Counter()
        start, best = 0, (0, 0, 0)          # (distinct children, first index, last index)
        for end, f in enumerate(fs):
            held.update(f[CHILDREN])
            while f[AT] - fs[start][AT] > span:
                held.subtract(fs[start][CHILDREN])
                held += Counter()           # drop the zeros
                start += 1
            if len(held) > best[0]:
                best = (len(held), start, end)
        if best[0] > rules.many:
            first, last = fs[best[1]], fs[best[2]]
            out.append(PatternFinding(kind="many_children", client_id=client, organisation=last[AGENCY],
                                      count=best[0], first=_when(first[AT]), last=_when(last[AT]),
                                      detail=f"{best[0]:,} different children's records opened within "
                                             f"{(last[AT] - first[AT]) / 60:.0f} minutes"))
    return out


def _lookups_not_followed(facts, rules: Rules, until: float, now: float) -> list[PatternFinding]:
    follow = rules.follow_hours * 3600
    opened: dict[tuple[str, str], list[float]] = defaultdict(list)
    for f in facts:
        if _opens(f):
            for c in f[CHILDREN]:
                opened[(f[AGENCY], c)].append(f[AT])
    judged: dict[str, list] = defaultdict(list)
    missed: dict[str, list] = defaultdict(list)
    for f in facts:
        if (f[ACTION] != "lookup" or f[DECISION] != "allow" or not f[CHILDREN] or f[AT] > until
                or f[AT] + follow > now):
            continue
        judged[f[CLIENT]].append(f)
        if not any(f[AT] <= t <= f[AT] + follow for c in f[CHILDREN] for t in opened.get((f[AGENCY], c), ())):
            missed[f[CLIENT]].append(f)
    return [PatternFinding(kind="lookup_not_followed", client_id=client, organisation=fs[-1][AGENCY], count=len(fs),
                           first=_span(fs)[0], last=_span(fs)[1],
                           detail=f"{len(fs):,} of {len(judged[client]):,} confident lookups not followed by opening "
                                  f"the child's record within {rules.follow_hours} hours")
            for client, fs in missed.items()]


_LOOKUPS = ("lookup", "lookup.withheld")


def _naming_nobody(client: str, named: int, missed: int, first: float, last: float) -> PatternFinding:
    return PatternFinding(kind="lookups_naming_nobody", client_id=client, count=missed, first=_when(first),
                          last=_when(last), detail=f"{missed} of {named + missed} lookups named no child")


def _lookups_naming_nobody(facts, rules: Rules) -> list[PatternFinding]:
    named: Counter = Counter()
    missed: dict[str, list] = defaultdict(list)
    for f in facts:
        if f[ACTION] not in _LOOKUPS or f[DECISION] not in ("allow", "withheld"):
            continue
        if f[ACTION] == "lookup" and f[CHILDREN]:
            named[f[CLIENT]] += 1
        else:
            missed[f[CLIENT]].append(f)
    return [_naming_nobody(client, named[client], len(fs), min(f[AT] for f in fs), max(f[AT] for f in fs))
            .model_copy(update={"organisation": fs[-1][AGENCY]})
            for client, fs in missed.items() if len(fs) > rules.misses and len(fs) > named[client]]


def find_patterns(facts: list[tuple], rules: Rules, until: float, now: float | None = None) -> list[PatternFinding]:
    """Every finding in ``facts`` (index rows, oldest first; rows up to ``follow_hours`` after
    ``until`` may be included so late lookups can be judged: only lookups up to ``until`` are)."""
    facts = [f for f in facts if f[AT] is not None]
    now = datetime.now(timezone.utc).timestamp() if now is None else now
    in_window = [f for f in facts if f[AT] <= until]
    found = (_out_of_hours(in_window, rules) + _many_children(in_window, rules)
             + _lookups_not_followed(facts, rules, until, now) + _lookups_naming_nobody(in_window, rules))
    return sorted(found, key=lambda p: (p.kind, -p.count, p.client_id))


def _working(rules: Rules, since: float, until: float) -> list[tuple[float, float]]:
    """Working time between two instants, as [start, end) epoch intervals (the council's days)."""
    tz = ZoneInfo(rules.tz)
    day, last = datetime.fromtimestamp(since, tz).date(), datetime.fromtimestamp(until, tz).date()
    out = []
    while day <= last:
        if day.weekday() in rules.days:
            start = datetime.combine(day + timedelta(days=rules.hours[0] // 24), time(rules.hours[0] % 24), tz)
            end = datetime.combine(day + timedelta(days=rules.hours[1] // 24), time(rules.hours[1] % 24), tz)
            out.append((start.timestamp(), end.timestamp()))
        day += timedelta(days=1)
    return out


def _out_of_hours_sql(agg, rules: Rules, since: float, until: float) -> list[tuple[PatternFinding, int]]:
    rows, kids = agg.out_of_hours(since, until, _working(rules, since, until))
    per: dict[str, list] = defaultdict(list)
    for r in rows:
        per[r[0]].append(r)
    out = []
    for client, rs in per.items():
        n = sum(r[2] for r in rs)
        actions = sorted(rs, key=lambda r: (-r[2], r[6]))
        out.append((PatternFinding(kind="out_of_hours", client_id=client, count=n,
                                  first=_when(min(r[3] for r in rs)), last=_when(max(r[4] for r in rs)),
                                  detail=f"{n:,} out-of-hours {'access' if n == 1 else 'accesses'} naming "
                                         f"{kids.get(client, 0):,} {'child' if kids.get(client) == 1 else 'children'} ("
                                         + ", ".join(f"{r[1]} {r[2]:,}" for r in actions) + ")"),
                    max(r[5] for r in rs)))
    return out


def _many_children_sql(agg, rules: Rules, since: float, until: float) -> list[PatternFinding]:
    """Only slots of ``minutes`` whose distinct children with the next slot's exceed the limit can
    hold a finding (any window lies within two adjacent slots): read those views, slide there."""
    span = rules.minutes * 60
    slots: dict[str, dict[int, int]] = defaultdict(dict)
    for client, slot, n in agg.view_buckets(since, until, span):
        slots[client][int(slot)] = n
    facts = []
    for client, held in slots.items():
        hot = sorted({s + k for s, n in held.items() if n + held.get(s + 1, 0) > rules.many for k in (0, 1)})
        regions: list[list[int]] = []
        for s in hot:
            if regions and regions[-1][1] == s - 1:
                regions[-1][1] = s
            else:
                regions.append([s, s])
        seen: dict[int, tuple] = {}
        for lo, hi in regions:
            for seq, at_, agency, child in agg.views(client, max(since, lo * span), min(until, (hi + 1) * span)):
                seen.setdefault(seq, (seq, 0, at_, client, agency, None, "view", "allow", False, []))[9].append(child)
        facts += seen.values()
    return _many_children(sorted(facts, key=lambda f: (f[AT], f[SEQ])), rules)


def _lookups_sql(agg, rules: Rules, since: float, until: float, now: float) -> list[tuple[PatternFinding, int]]:
    judged: Counter = Counter()
    missed: dict[str, tuple] = {}
    for client, miss, n, first, last, last_seq in agg.lookups(since, until, rules.follow_hours * 3600, now):
        judged[client] += n
        if miss:
            missed[client] = (n, first, last, last_seq)
    return [(PatternFinding(kind="lookup_not_followed", client_id=client, count=n, first=_when(first),
                            last=_when(last), detail=f"{n:,} of {judged[client]:,} confident lookups not followed by "
                                                     f"opening the child's record within {rules.follow_hours} hours"),
             last_seq) for client, (n, first, last, last_seq) in missed.items()]


def _misses_sql(agg, rules: Rules, since: float, until: float) -> list[tuple[PatternFinding, int]]:
    named: Counter = Counter()
    missed: dict[str, tuple] = {}
    for client, was_named, n, first, last, last_seq in agg.lookup_misses(since, until):
        if was_named:
            named[client] += n
        else:
            missed[client] = (n, first, last, last_seq)
    return [(_naming_nobody(client, named[client], n, first, last), last_seq)
            for client, (n, first, last, last_seq) in missed.items() if n > rules.misses and n > named[client]]


def find_patterns_sql(agg, rules: Rules, since: float, until: float, now: float | None = None) -> list[PatternFinding]:
    """``find_patterns`` over entries from ``since`` to ``until``, from the index's SQL aggregates
    (``AuditCounts``)."""
    now = datetime.now(timezone.utc).timestamp() if now is None else now
    named = (_out_of_hours_sql(agg, rules, since, until) + _lookups_sql(agg, rules, since, until, now)
             + _misses_sql(agg, rules, since, until))
    agencies = agg.agencies_of(seq for _, seq in named)     # each finding's organisation: its latest entry's
    found = [p.model_copy(update={"organisation": agencies.get(seq)}) for p, seq in named]
    found += _many_children_sql(agg, rules, since, until)
    return sorted(found, key=lambda p: (p.kind, -p.count, p.client_id))


def _named(services, agg, index, rules: Rules, since: float, until: float, now: float) -> list[PatternFinding]:
    """The findings, each with the person behind its client (from the client's latest entry)."""
    findings = find_patterns_sql(agg, rules, since, until, now)
    latest = agg.latest(since, until)
    entries = {r["seq"]: r["entry"] for r in index.records(sorted({latest[p.client_id] for p in findings
                                                                   if p.client_id in latest}))}
    for p in findings:
        p.person = who(services, entries.get(latest.get(p.client_id), {}).get("person"), p.client_id)
    return findings


def _kept_search(services, rules: Rules, length: int, refresh: float):
    """The search of the ``length`` seconds up to now, as kept (``pattern_cache``) or made now."""
    index = services.audit.index
    agg = index.aggregates()
    return kept(agg).get(agg, (rules, length), lambda now: _named(services, agg, index, rules, now - length, now, now),
                         refresh)


def unusual_patterns(*, ctx: Ctx, since: datetime, until: datetime) -> Patterns:
    """The findings between two times. A window ending now is searched at most every
    ``dpo_patterns_refresh_seconds`` (``pattern_cache``): the answer says when it was found."""
    services = ctx.services
    d = ctx.authorise("read_audit", ["identity.demographics"])
    rules = Rules.from_settings(services.settings)
    index = services.audit.index
    agg = index.aggregates()
    s, u = epoch(since), epoch(until)
    refresh = services.settings.dpo_patterns_refresh_seconds
    if abs(u - datetime.now(timezone.utc).timestamp()) <= 60 and refresh:
        length = round(u - s)
        found = _kept_search(services, rules, length, refresh)
        findings, until = found.value, _when(found.as_at)
        since = until - timedelta(seconds=length)
    else:
        findings = _named(services, agg, index, rules, s, u, datetime.now(timezone.utc).timestamp())
    ctx.record("audit.patterns", "allow", [], [], d.bases(), d.policy_version, since=since.isoformat(),
               until=until.isoformat(), findings=len(findings))
    return Patterns(since=since, until=until, rules=rules.words(),
                    findings=[f.model_copy() for f in findings], refresh_seconds=refresh)


def warm(services, days: int = 30) -> None:
    """Search the pages' default window once when a server starts, so the first DPO visit is
    given the kept search rather than waiting for one. Nothing is shown to anyone: not audited."""
    refresh = services.settings.dpo_patterns_refresh_seconds
    if not refresh:
        return
    _kept_search(services, Rules.from_settings(services.settings), days * 86_400, refresh)
