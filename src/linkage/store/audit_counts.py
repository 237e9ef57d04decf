"""The DPO's counts over the audit index, in SQL, so a page reads a few hundred grouped rows
rather than every entry in the window.

Each query is built by a small pure function from a ``Dialect`` (the entries table, a
``(seq, child_id)`` source of the children each entry names, and how to floor a number), so
the SQLite file index and the PostgreSQL table run the same portable SQL with ``?``
parameters. ``AuditCounts`` runs them through a ``rows(sql, params)`` callable.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable, Sequence

__all__ = ["AuditCounts", "Dialect", "GROUPS", "count_sql", "window_sql", "lookup_misses_sql", "lookups_sql",
           "out_of_hours_sql", "view_buckets_sql", "views_sql"]


@dataclass(frozen=True)
class Dialect:
    entries: str                    # the table with seq, at, client_id, agency, purpose, action, decision
    children: str                   # a relation (seq, child_id)
    floor: str = "CAST({} AS INTEGER)"      # epoch seconds are positive: truncation is the floor


# What a count may be grouped by (``quarter``: the 15-minute slot, for days in any time zone).
GROUPS = {"agency": "e.agency", "purpose": "e.purpose", "action": "e.action", "decision": "e.decision",
          "client_id": "e.client_id", "allowed": "CASE WHEN e.decision = 'allow' THEN 1 ELSE 0 END",
          "quarter": "{floor}"}
_EQUALS = ("agency", "purpose", "decision", "client_id", "action")


def window_sql(since: float | None, until: float | None) -> tuple[list[str], list]:
    """The WHERE terms (over entries ``e``) and parameters for entries between two epoch times."""
    where, params = ["e.at IS NOT NULL"], []
    if since is not None:
        where.append("e.at >= ?")
        params.append(since)
    if until is not None:
        where.append("e.at <= ?")
        params.append(until)
    return where, params


def _has_children(d: Dialect) -> str:
    return f"EXISTS (SELECT 1 FROM {d.children} c WHERE c.seq = e.seq)"


def count_sql(d: Dialect, group: Sequence[str], since: float | None, until: float | None,
              decisions: Sequence[str] | None = None, *, where_more: Sequence[tuple[str, list]] = (),
              time_leads: bool = False, **equals) -> tuple[str, list]:
    """Entries in the window counted by the ``group`` columns (each of ``GROUPS``); ``where_more``:
    further (term, parameters) over ``e``, for the cache's seq and time slices (never user input).
    ``time_leads``: the window is a thin slice (a moved edge), so the time index must lead, not a
    decision's or an organisation's index, which would walk every such entry in the log."""
    where, params = window_sql(since, until)
    for term, values in where_more:
        where.append(term)
        params += list(values)
    # (`|| ''` keeps NULL as NULL, and keeps the column's own index out of the plan)
    column = "e.{} || ''" if time_leads else "e.{}"
    for name, value in equals.items():
        if name not in _EQUALS:
            raise ValueError(f"no filter {name}")
        if value is not None:
            where.append(f"{column.format(name)} = ?")
            params.append(value)
    if decisions:
        where.append(f"{column.format('decision')} IN ({', '.join('?' for _ in decisions)})")
        params += list(decisions)
    cols = [GROUPS[g].format(floor=d.floor.format("e.at / 900")) for g in group]
    select = ", ".join([*cols, "count(*)"])
    by = f" GROUP BY {', '.join(cols)}" if cols else ""
    return f"SELECT {select} FROM {d.entries} e WHERE {' AND '.join(where)}{by}", params


def _accesses(d: Dialect, since: float | None, until: float | None) -> tuple[list[str], list]:
    """Allowed entries naming a child, the DPO's own ``audit.*`` reads aside."""
    where, params = window_sql(since, until)
    # (COALESCE: most entries are allowed, so the time index, not the decision's, should lead)
    where += ["COALESCE(e.decision, '') = 'allow'", "COALESCE(e.action, '') NOT LIKE 'audit.%'", _has_children(d)]
    return where, params


def out_of_hours_sql(d: Dialect, since: float | None, until: float | None,
                     working: Sequence[tuple[float, float]]) -> tuple[tuple[str, list], tuple[str, list]]:
    """Accesses outside the ``working`` [start, end) intervals: (client, action, n, first, last,
    last seq, first seq) per client and action; and (client, distinct children) per client."""
    where, params = _accesses(d, since, until)
    if working:
        where.append("NOT (" + " OR ".join("(e.at >= ? AND e.at < ?)" for _ in working) + ")")
        params += [t for span in working for t in span]
    clause = " AND ".join(where)
    per_action = (f"SELECT e.client_id, e.action, count(*), min(e.at), max(e.at), max(e.seq), min(e.seq) "
                  f"FROM {d.entries} e WHERE {clause} GROUP BY e.client_id, e.action", params)
    # (MATERIALIZED: from the window's entries to their children, never every child in the log)
    kids = (f"WITH w AS MATERIALIZED (SELECT e.seq, e.client_id FROM {d.entries} e WHERE {clause}) "
            f"SELECT w.client_id, count(DISTINCT k.child_id) FROM w CROSS JOIN {d.children} k WHERE k.seq = w.seq "
            "GROUP BY w.client_id", params)
    return per_action, kids


def _views(d: Dialect, since: float | None, until: float | None) -> tuple[list[str], list]:
    where, params = window_sql(since, until)
    # (COALESCE: most entries are allowed; the decision's index would walk every one in the log)
    return where + ["e.action = 'view'", "COALESCE(e.decision, '') = 'allow'"], params


def view_buckets_sql(d: Dialect, since: float | None, until: float | None, width: int) -> tuple[str, list]:
    """(client, slot of ``width`` seconds, distinct children opened) for allowed record views."""
    where, params = _views(d, since, until)
    slot = d.floor.format(f"e.at / {int(width)}")
    return (f"SELECT e.client_id, {slot}, count(DISTINCT k.child_id) FROM {d.entries} e JOIN {d.children} k "
            f"ON k.seq = e.seq WHERE {' AND '.join(where)} GROUP BY e.client_id, {slot}", params)


def views_sql(d: Dialect, client: str | None, since: float, until: float) -> tuple[str, list]:
    """(seq, at, agency, child) for one client's allowed views between two times, oldest first."""
    where, params = _views(d, since, until)
    where.append("e.client_id IS NULL" if client is None else "e.client_id = ?")
    params += [] if client is None else [client]
    return (f"SELECT e.seq, e.at, e.agency, k.child_id FROM {d.entries} e JOIN {d.children} k ON k.seq = e.seq "
            f"WHERE {' AND '.join(where)} ORDER BY e.seq", params)


def lookups_sql(d: Dialect, since: float | None, until: float, follow: float, now: float) -> tuple[str, list]:
    """Confident lookups judged, per client and whether the same organisation then failed to open
    one of the children within ``follow`` seconds (1) or did (0): (client, missed, n, first, last,
    last seq). The join runs from the lookup's children (CROSS JOIN keeps that order in SQLite)."""
    where, params = window_sql(since, until)
    where += ["e.action = 'lookup'", "COALESCE(e.decision, '') = 'allow'", _has_children(d), "e.at + ? <= ?"]
    params += [follow, now]
    followed = (f"EXISTS (SELECT 1 FROM {d.children} lc CROSS JOIN {d.children} vc CROSS JOIN {d.entries} v "
                "WHERE lc.seq = e.seq AND vc.child_id = lc.child_id AND v.seq = vc.seq AND v.action = 'view' "
                "AND v.decision = 'allow' AND (v.agency = e.agency OR (v.agency IS NULL AND e.agency IS NULL)) "
                "AND v.at >= e.at AND v.at <= e.at + ?)")
    # (MATERIALIZED: each lookup judged once, not again for the grouping)
    return (f"WITH judged AS MATERIALIZED (SELECT e.client_id, CASE WHEN {followed} THEN 0 ELSE 1 END AS missed, "
            f"e.at, e.seq FROM {d.entries} e WHERE {' AND '.join(where)}) SELECT client_id, missed, count(*), "
            "min(at), max(at), max(seq) FROM judged GROUP BY client_id, missed", [follow, *params])


def lookup_misses_sql(d: Dialect, since: float | None, until: float | None) -> tuple[str, list]:
    """Allowed lookups per client, by whether they named a child (1) or nobody (0): (client, named,
    n, first, last, last seq). One a refusal withheld named nobody, to the caller."""
    where, params = window_sql(since, until)
    where += ["e.action IN ('lookup', 'lookup.withheld')", "COALESCE(e.decision, '') IN ('allow', 'withheld')"]
    named = f"CASE WHEN e.action = 'lookup' AND {_has_children(d)} THEN 1 ELSE 0 END"
    return (f"SELECT client_id, named, count(*), min(at), max(at), max(seq) FROM (SELECT e.client_id, {named} AS "
            f"named, e.at, e.seq FROM {d.entries} e WHERE {' AND '.join(where)}) AS w GROUP BY client_id, named",
            params)


@dataclass(frozen=True)
class _Counted:
    since: float
    until: float
    head: int                       # counted up to this entry
    mark: tuple                     # ... as it was then
    table: dict                     # group -> entries


def _table(rows: list[tuple]) -> dict:
    return {tuple(r[:-1]): r[-1] for r in rows if r[-1]}       # (no zero rows, as after _add)


def _add(table: dict, rows: list[tuple], sign: int = 1) -> None:
    for r in rows:
        k = tuple(r[:-1])
        n = table.get(k, 0) + sign * r[-1]
        if n:
            table[k] = n
        else:
            table.pop(k, None)


class AuditCounts:
    """The aggregates, run through ``rows``; shared by the file index and the PostgreSQL table.

    ``counts`` over a window keeps its last answers (a few, per grouping and filter) with the
    entry they were counted up to; asked again for a later window it reads only what changed:
    entries added since, entries that left the window's start, entries now inside its end. The
    result equals a recount. ``lineage`` names the index's contents (the file index's rebuild
    count): a rebuilt index, or a last counted entry no longer as it was (a truncated or
    rewritten log), starts the count again from nothing."""

    def __init__(self, dialect: Dialect, rows: Callable[[str, list], list],
                 lineage: Callable[[], object] = lambda: None, keep: int = 32) -> None:
        self.d, self._rows, self._lineage, self._keep = dialect, rows, lineage, keep
        self._kept: OrderedDict[tuple, _Counted] = OrderedDict()
        self._lock = threading.Lock()
        self.recounts = 0               # full counts made (the tests see the cache at work)

    def _mark(self, seq: int) -> tuple:
        """What the cache checks an entry by: the lineage and that entry's own columns."""
        rows = self._rows(f"SELECT at, client_id, agency, action, decision FROM {self.d.entries} WHERE seq = ?",
                          [seq]) if seq else []
        return (self._lineage(), tuple(rows[0]) if rows else None)

    def counts(self, group: Sequence[str], since: float | None = None, until: float | None = None,
               decisions: Sequence[str] | None = None, **equals) -> list[tuple]:
        def run(lo, hi, *more, time_leads: bool = False) -> list[tuple]:
            return [tuple(r) for r in self._rows(*count_sql(self.d, group, lo, hi, decisions, where_more=more,
                                                              time_leads=time_leads, **equals))]
        if since is None or until is None:
            return run(since, until)
        key = (tuple(group), tuple(decisions or ()), tuple(sorted((k, v) for k, v in equals.items() if v is not None)))
        with self._lock:
            was = self._kept.pop(key, None)
            for _ in range(3):              # a rebuild landing mid-count: count again
                head = self._rows(f"SELECT max(seq) FROM {self.d.entries}", [])[0][0] or 0
                mark = self._mark(head)
                table = self._bring_up(run, was, head, since, until)
                if self._mark(head) == mark:
                    break
                was = None
            self._kept[key] = _Counted(since, until, head, mark, table)
            while len(self._kept) > self._keep:
                self._kept.popitem(last=False)
            return [(*k, n) for k, n in table.items()]

    def _bring_up(self, run, was: _Counted | None, head: int, since: float, until: float) -> dict:
        """The counts of the window up to entry ``head``: from ``was`` if it can be trusted and
        moved there, else from nothing."""
        if (was is None or since < was.since or until < was.until or since > was.until or head < was.head
                or not self.unchanged(was.head, was.mark)):
            self.recounts += 1
            # (seq + 0: the time index, not the whole table by seq, should lead)
            return _table(run(since, until, ("e.seq + 0 <= ?", [head])))
        table = dict(was.table)
        if since > was.since:       # left the window's start
            _add(table, run(was.since, None, ("e.at < ?", [since]), ("e.seq + 0 <= ?", [was.head]),
                            time_leads=True), -1)
        if until > was.until:       # now inside its end
            _add(table, run(None, until, ("e.at > ?", [was.until]), ("e.seq + 0 <= ?", [was.head]),
                            time_leads=True))
        if head > was.head:         # added since (the seq range leads)
            _add(table, run(None, None, ("e.seq > ?", [was.head]), ("e.seq <= ?", [head]),
                            ("e.at + 0 >= ?", [since]), ("e.at + 0 <= ?", [until])))
        return table

    def out_of_hours(self, since, until, working) -> tuple[list[tuple], dict]:
        per_action, kids = out_of_hours_sql(self.d, since, until, working)
        return ([tuple(r) for r in self._rows(*per_action)], {r[0]: r[1] for r in self._rows(*kids)})

    def view_buckets(self, since, until, width: int) -> list[tuple]:
        return [tuple(r) for r in self._rows(*view_buckets_sql(self.d, since, until, width))]

    def views(self, client, since: float, until: float) -> list[tuple]:
        return [tuple(r) for r in self._rows(*views_sql(self.d, client, since, until))]

    def lookups(self, since, until: float, follow: float, now: float) -> list[tuple]:
        return [tuple(r) for r in self._rows(*lookups_sql(self.d, since, until, follow, now))]

    def lookup_misses(self, since, until) -> list[tuple]:
        return [tuple(r) for r in self._rows(*lookup_misses_sql(self.d, since, until))]

    def latest(self, since: float | None, until: float | None) -> dict:
        """Each client's latest entry (its seq) in the window."""
        where, params = window_sql(since, until)
        return {r[0]: r[1] for r in self._rows(f"SELECT e.client_id, max(e.seq) FROM {self.d.entries} e "
                                                f"WHERE {' AND '.join(where)} GROUP BY e.client_id", params)}

    def agencies_of(self, seqs) -> dict[int, str | None]:
        """The organisation of each of these entries, a few hundred per query."""
        seqs, out = sorted(set(seqs)), {}
        for i in range(0, len(seqs), 500):
            part = seqs[i:i + 500]
            out.update((r[0], r[1]) for r in self._rows(
                f"SELECT seq, agency FROM {self.d.entries} WHERE seq IN ({', '.join('?' for _ in part)})", part))
        return out

    def position(self) -> tuple[int, tuple]:
        """(the last entry, how it is now): a cache keyed by it is checked with ``unchanged``."""
        head = self._rows(f"SELECT max(seq) FROM {self.d.entries}", [])[0][0] or 0
        return head, self._mark(head)

    def unchanged(self, head: int, mark: tuple) -> bool:
        """The index still holds entry ``head`` as it was, in the same build (not truncated or rebuilt)."""
        return self._mark(head) == mark
