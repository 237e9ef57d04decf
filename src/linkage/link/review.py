"""Clerical review: stable pair ids, the append-only decisions log, and what decisions mean to a run.

Decisions live in the service state (SQLite), not in the linked store: the API server holds the
store read-only and detached, and a decision made at the command line or through the API must
land in the one log that the next ``linkage link`` reads. Rows are never updated or deleted
(triggers refuse it); the latest decision on a pair is the one that counts. Notes are free text
and may name people, so they are sealed like the break-glass justifications.

A decision binds while both records are as the reviewer saw them (the content hash of the
fields the model compares): "match" is a must-link, "not a match" a cannot-link. When either
record changes, a "match" stops binding and the pair is queued again; a "not a match" keeps the
records apart (the safe way to be wrong) and is queued again to be confirmed.
"""

from __future__ import annotations

import hashlib
import math
import threading
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import NamedTuple

import pandas as pd

from linkage.connectors.ingest import CURRENT_RECORDS_SQL, LINK_RECORDS_SQL
from linkage.errors import LinkageError, NotFound
from linkage.link.explain import Explanation, Waterfall, explain_pair
from linkage.link.features import normalise_address
from linkage.link.guards import GUARD_REASON
from linkage.link.names import one_edit
from linkage.model import PersonRecord
from linkage.store import Store
from linkage.store.schema import t
from linkage.store.sealed import Sealer
from linkage.store.state import ServiceState
from linkage.validation import (check_text, normalise_name, normalise_nhs_number, normalise_postcode,
                                normalise_upn)

__all__ = ["DECISIONS", "Constraints", "Decision", "ReviewDecisions", "ReviewView", "SideBySide", "build_queue",
           "child_records", "constraints", "current_records", "model_features", "pair_id", "priority", "split_out",
           "undecided"]

DECISIONS = ("match", "not_match", "unsure")
STALE_REASON = "decided {decision} on {day}, but a record has changed since: confirm"
CONFLICT_REASON = "decisions conflict: a reviewer's match joins records another decision keeps apart"
_COLS = ("decision_id, pair_id, record_key_l, record_key_r, content_sha_l, content_sha_r, decision, kind, "
         "child_id, match_probability, match_weight, reviewer, note, channel, client_id, decided_at")


def pair_id(a: str, b: str) -> str:
    """A pair's id, the same every run: derived from the two record keys, in either order."""
    left, right = sorted((a, b))
    return "rv-" + hashlib.sha256(f"{left}\x1f{right}".encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Decision:
    decision_id: int
    pair_id: str
    record_key_l: str
    record_key_r: str
    content_sha_l: str | None
    content_sha_r: str | None
    decision: str              # match | not_match | unsure
    kind: str                  # pair | split
    child_id: str | None       # the child reviewed, for a split
    match_probability: float | None
    match_weight: float | None
    reviewer: str
    note: str
    channel: str               # cli | api
    client_id: str | None
    decided_at: str


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


# As the API's ReviewDecisionCreate takes them.
REVIEWER_LIMIT, NOTE_LIMIT = 100, 1000


class ReviewDecisions:
    """The decisions log, one row per decision, in the service state."""

    def __init__(self, state: ServiceState, sealer: Sealer) -> None:
        self.state = state
        self.sealer = sealer

    def add(self, pairs: Iterable[tuple[str, str, str | None, str | None, float | None, float | None]], *,
            decision: str, reviewer: str, note: str = "", channel: str, kind: str = "pair",
            child_id: str | None = None, client_id: str | None = None) -> list[Decision]:
        """Append one decision per (key, key, sha, sha, probability, weight), all or none."""
        if decision not in DECISIONS:
            raise LinkageError(f"a decision is one of {', '.join(DECISIONS)}")
        if not reviewer.strip():
            raise LinkageError("a decision needs the reviewer's name")
        # Checked here, where every channel writes (API, pages, CLI), as the API's schema checks them:
        # the name goes into the audit entry, both are shown to the next reviewer.
        for what, value, limit in (("the reviewer's name", reviewer.strip(), REVIEWER_LIMIT),
                                   ("the note", note, NOTE_LIMIT)):
            if value and (why := check_text(value, limit)):
                raise LinkageError(f"{what}: {why}")
        out = []
        with self.state.transaction():
            for a, b, sha_a, sha_b, prob, weight in pairs:
                if a == b:
                    raise LinkageError("a pair needs two different records")
                (left, sha_l), (right, sha_r) = sorted(((a, sha_a), (b, sha_b)))
                pid, at = pair_id(left, right), _now()
                sealed = self.sealer.seal(note, f"review:{pid}:{at}") if note else ""
                decision_id = self.state.scalar(
                    f"INSERT INTO review_decisions ({_COLS.split(', ', 1)[1]}) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING decision_id",
                    (pid, left, right, sha_l, sha_r, decision, kind, child_id, prob, weight, reviewer.strip(),
                     sealed, channel, client_id, at))
                out.append(Decision(decision_id, pid, left, right, sha_l, sha_r, decision, kind, child_id,
                                    prob, weight, reviewer.strip(), note, channel, client_id, at))
        return out

    def _rows(self, where: str = "", params: tuple = ()) -> list[Decision]:
        rows = self.state.execute(f"SELECT {_COLS} FROM review_decisions {where} ORDER BY decision_id",
                                  params).fetchall()
        out = []
        for r in rows:
            d = dict(r)
            if d["note"]:
                d["note"] = self.sealer.open(d["note"], f"review:{d['pair_id']}:{d['decided_at']}")
            out.append(Decision(**d))
        return out

    def all(self) -> list[Decision]:
        return self._rows()

    def history(self, pid: str) -> list[Decision]:
        return self._rows("WHERE pair_id = ?", (pid,))

    def latest(self) -> dict[str, Decision]:
        """The decision that counts for each pair: its latest."""
        return {d.pair_id: d for d in self._rows()}


@dataclass
class Constraints:
    """What the decisions mean for this run, given each record's current content hash."""

    must_link: list[tuple[str, str]] = field(default_factory=list)
    cannot_link: list[tuple[str, str]] = field(default_factory=list)
    settled: set[str] = field(default_factory=set)            # pair ids never to queue again
    stale: dict[str, Decision] = field(default_factory=dict)  # pair id -> decision made on other content
    unsure: dict[str, Decision] = field(default_factory=dict)


def constraints(latest: dict[str, Decision], content: dict[str, str]) -> Constraints:
    c = Constraints()
    for pid, d in latest.items():
        left, right = d.record_key_l, d.record_key_r
        if left not in content or right not in content:
            continue            # a record no longer current: nothing to link
        if d.decision == "unsure":
            c.unsure[pid] = d
            continue
        changed = content[left] != d.content_sha_l or content[right] != d.content_sha_r
        if changed and d.kind == "split" and d.decision == "match":
            continue            # the rest of a split child, kept as it was seen: the model decides anew
        if d.decision == "not_match":
            c.cannot_link.append((left, right))
        elif not changed:
            c.must_link.append((left, right))
        if changed:
            c.stale[pid] = d
        else:
            c.settled.add(pid)
    return c


def _one_typo(a: set[str], b: set[str]) -> bool:
    """Some value of ``a`` equals one of ``b``, or is one typed character (or two adjacent ones
    transposed) from it; of the same length, as identifiers of one kind are."""
    return any(len(x) == len(y) and one_edit(x, y) for x in a for y in b)


def undecided(band: pd.DataFrame, cluster_of: dict[str, str], linked: pd.DataFrame,
              identifiers: dict[str, dict[str, str | None]], two_children: Iterable[str] = (),
              one_child: Iterable[frozenset] = (), asks_conflict: Iterable[str] = ()) -> pd.Series:
    """True for band pairs a reviewer could usefully decide.

    ``one_child``: record pairs (frozensets) that look like one child under a second UPN
    (``secondid``: the forename, a middle name and the surname shared); kept whatever below says,
    unless the two children hold different NHS numbers.

    A pair is not queued when its two records sit in different children that could never be one
    (they hold different NHS numbers or UPNs), and each record has a stronger link inside its own
    child than to the other: twins Ella and Bella, each matched exactly to her own records.
    Nor is a twin-guarded pair whose records each have such a stronger link: the queue is for
    pairs that may be one child, not for every pair of twins.

    Nor, when only one of the two records is held in its child by a stronger link, is a pair
    whose lone record carries an identifier that the firm side's child holds a different value of
    (not a typed character away): joining them would put two NHS numbers (or two UPN roots) in
    one child unless that stronger link were wrong, so the source already holds two children (the
    GP lists Edward García and, already linked with his school record, Edward Nowak, born the same
    day). On the independent generator's 20,000 children 75 "uncertain match" pairs had this shape
    and none was one child. ``asks_conflict``: reasons that are themselves a question about two
    identifiers (a strong pair refused for them): asked, unless the two records hold no NHS numbers
    of their own that differ and the numbers that do reach them through the rest of a child (six
    files, 8,000 children: María Marie Ap Rhys at school and the GP's María Green, p=0.53).

    ``two_children``: reasons that are themselves evidence of a second child (the twin guard's,
    a record fitting two children). A pair queued for such a reason whose two children hold
    different identifiers of one kind (UPN roots or NHS numbers, none of them a typed character
    from the other's) is settled however strong its links: the guard and the sources agree there
    are two children (twins on one school roll, each under its own UPN). At 20,000 children
    (realistic, seed 42) 103 such pairs were queued and none was one child.
    """
    # Only the band's records and children are asked about (a few thousand of a million).
    wanted = set(band["unique_id_l"]) | set(band["unique_id_r"])
    children = {cluster_of[k] for k in wanted if k in cluster_of}
    best: dict[str, float] = defaultdict(lambda: float("-inf"))
    for left, right, weight in zip(linked["unique_id_l"], linked["unique_id_r"], linked["match_weight"]):
        if (left in wanted or right in wanted) and cluster_of.get(left) == cluster_of.get(right):
            best[left] = max(best[left], weight)
            best[right] = max(best[right], weight)
    held: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for key, ids in identifiers.items():
        child = cluster_of.get(key)
        if child in children:
            for kind, value in ids.items():
                if value:
                    held[child][kind].add(value)

    def brings(key: str, weight: float) -> dict[str, set[str]]:
        """The identifiers a record would bring to a join: its child's when a link stronger than
        the pair holds it there, else only its own."""
        if best[key] > weight:
            return held.get(cluster_of.get(key), {})
        return {kind: {value} for kind, value in identifiers.get(key, {}).items() if value}

    def keep(left: str, right: str, weight: float, reason: str) -> bool:
        cl, cr = cluster_of.get(left), cluster_of.get(right)
        if cl is None or cr is None or cl == cr:
            return True
        firm_l, firm_r = best[left] > weight, best[right] > weight
        if firm_l and firm_r:
            hl, hr = held.get(cl, {}), held.get(cr, {})
            return not any(kind in hr and values.isdisjoint(hr[kind]) for kind, values in hl.items())
        if not (firm_l or firm_r):
            return True
        hl, hr = brings(left, weight), brings(right, weight)
        kinds = {kind for kind, values in hl.items() if kind in hr and not _one_typo(values, hr[kind])}
        if reason in asked:
            # The question is the pair's own two numbers (a second UPN); two NHS numbers that reach
            # the pair through another record of a child are two children (a GP issues one number).
            own_l, own_r = identifiers.get(left, {}), identifiers.get(right, {})
            kinds = {kind for kind in kinds if kind == "nhs" and not (own_l.get(kind) and own_r.get(kind))}
        return not kinds

    def conflict(left: str, right: str) -> bool:
        hl, hr = held.get(cluster_of.get(left), {}), held.get(cluster_of.get(right), {})
        return cluster_of.get(left) != cluster_of.get(right) and any(
            kind in hr and not _one_typo(values, hr[kind]) for kind, values in hl.items())

    def twins_settled(left: str, right: str, weight: float, reason: str) -> bool:
        """A twin-guarded pair whose records each sit in their own child by a stronger link:
        the guard found evidence of two children and the clustering agrees; nothing to ask."""
        return (reason == GUARD_REASON and cluster_of.get(left) != cluster_of.get(right)
                and best[left] > weight and best[right] > weight)

    weights = band["match_weight"].fillna(float("-inf"))
    reasons = band["reason"] if "reason" in band else pd.Series("", index=band.index)
    settles, asked = frozenset(two_children), frozenset(asks_conflict)
    def one_nhs(left: str, right: str) -> bool:
        """No two different NHS numbers between the two children (a school may issue a second UPN;
        a GP does not issue a second NHS number)."""
        hl, hr = held.get(cluster_of.get(left), {}), held.get(cluster_of.get(right), {})
        return not (hl.get("nhs") and hr.get("nhs") and hl["nhs"].isdisjoint(hr["nhs"]))

    same = frozenset(one_child)
    return pd.Series([(frozenset((a, b)) in same and one_nhs(a, b))
                      or (keep(a, b, w, why) and not twins_settled(a, b, w, why) and not (why in settles and conflict(a, b)))
                      for a, b, w, why in zip(band["unique_id_l"], band["unique_id_r"], weights, reasons)],
                     index=band.index, dtype=bool)


def priority(probability: pd.Series, records_affected: pd.Series) -> pd.Series:
    """Expected benefit of a decision: how undecided the model is (1 at p=0.5, 0 at 0 or 1)
    times how many records' child changes if the pair is joined or split."""
    return (1 - 2 * (probability - 0.5).abs()) * records_affected


def build_queue(band: pd.DataFrame, edges: pd.DataFrame, cons: Constraints, refused_must: list[tuple[str, str]],
                cluster_of: dict[str, str]) -> pd.DataFrame:
    """The open queue: band pairs not settled by a decision, plus stale and conflicting decisions.

    ``band`` has unique_id_l, unique_id_r, match_probability, match_weight, reason.
    """
    frame = band[["unique_id_l", "unique_id_r", "match_probability", "match_weight", "reason"]].copy()
    # The scores of the decided pairs looked up below (hashing every scored pair costs seconds).
    keys = {k for d in cons.stale.values() for k in (d.record_key_l, d.record_key_r)} | {k for p in refused_must
                                                                                        for k in p}
    near = edges[edges["unique_id_l"].isin(keys) | edges["unique_id_r"].isin(keys)]
    scored = {pair_id(a, b): (p, w) for a, b, p, w in zip(near["unique_id_l"], near["unique_id_r"],
                                                          near["match_probability"], near["match_weight"])}
    extra = []
    for pid, d in cons.stale.items():
        p, w = scored.get(pid, (d.match_probability, d.match_weight))
        extra.append((d.record_key_l, d.record_key_r, p, w, STALE_REASON.format(
            decision=d.decision.replace("_", " "), day=d.decided_at[:10])))
    for a, b in refused_must:
        p, w = scored.get(pair_id(a, b), (None, None))
        extra.append((a, b, p, w, CONFLICT_REASON))
    if extra:
        more = pd.DataFrame(extra, columns=frame.columns).astype({"match_probability": float, "match_weight": float})
        # An empty band adds nothing (pandas warns when one side of a concat is empty or all-NA).
        frame = more if frame.empty else pd.concat([frame, more], ignore_index=True)
    if frame.empty:
        return pd.DataFrame(columns=["pair_id", "record_key_l", "record_key_r", "match_probability",
                                     "match_weight", "reason", "cluster_size", "priority"])
    ordered = [sorted(p) for p in zip(frame["unique_id_l"], frame["unique_id_r"])]
    frame["record_key_l"] = [p[0] for p in ordered]
    frame["record_key_r"] = [p[1] for p in ordered]
    frame["pair_id"] = [pair_id(a, b) for a, b in ordered]
    # The latest reason wins: stale and conflicting decisions come after the band.
    frame = frame.drop_duplicates("pair_id", keep="last")
    frame = frame[~frame["pair_id"].isin(cons.settled - {pair_id(a, b) for a, b in refused_must})]
    frame["match_probability"] = frame["match_probability"].astype(float).fillna(0.5)
    sizes = Counter(cluster_of.values())

    def affected(a: str, b: str) -> int:
        ca, cb = cluster_of.get(a), cluster_of.get(b)
        return int(sizes.get(ca, 1)) + (0 if ca == cb else int(sizes.get(cb, 1)))

    frame["cluster_size"] = [affected(a, b) for a, b in zip(frame["record_key_l"], frame["record_key_r"])]
    frame["priority"] = priority(frame["match_probability"], frame["cluster_size"])
    return frame[["pair_id", "record_key_l", "record_key_r", "match_probability", "match_weight", "reason",
                  "cluster_size", "priority"]].reset_index(drop=True)


# -- reading the queue and the records behind it ---------------------------------------------------

DISPLAY_FIELDS = tuple(name for name in PersonRecord.model_fields if name != "source")


def _in_list(keys: Iterable[str]) -> str:
    quoted = ", ".join("'" + k.replace("'", "''") + "'" for k in sorted(set(keys)))
    return f"({quoted})" if quoted else "(NULL)"


def current_records(store: Store, keys: Iterable[str]) -> pd.DataFrame:
    """The current (not superseded) records with these keys, every field the sources gave."""
    cols = ", ".join(f"r.{c}" for c in DISPLAY_FIELDS)
    return store.df(f"SELECT r.record_key, r.source, {cols} FROM ({CURRENT_RECORDS_SQL}) r "
                    f"WHERE r.record_key IN {_in_list(keys)} ORDER BY r.record_key")


def model_features(store: Store, keys: Iterable[str]) -> tuple[dict[str, dict], dict[str, str]]:
    """The records' rows as the model sees them (Splink's input), built in the store's memory,
    and that input's column types."""
    from linkage.link.engine import INPUT, LinkEngine

    LinkEngine(store, f"SELECT * FROM ({LINK_RECORDS_SQL}) WHERE record_key IN {_in_list(keys)}")
    types = {name: typ for name, typ, *_ in store.rows(f"DESCRIBE memory.{INPUT}")}
    # Python values as DuckDB gives them (None, date, list), as the lookup's scorer reads them.
    quoted = ", ".join(f'"{c}"' for c in types)
    rows = [dict(zip(types, row)) for row in store.rows(f"SELECT {quoted} FROM memory.{INPUT}")]
    for name in (INPUT, "link_hash", "name_keys", "cotwins", "twin_names"):   # working copies: a server's memory is precious
        store.execute(f"DROP TABLE IF EXISTS memory.{name}")
    return {row["unique_id"]: row for row in rows}, types


@dataclass
class ReviewView:
    """The open queue with the records behind it, read once from the store.

    The API server loads it at start-up, before it lets go of the store file; the command line
    loads it per command. Decisions are read live from the log, so a pair decided since the last
    run leaves the listing at once.
    """

    queue: pd.DataFrame              # review_queue rows
    records: dict[str, dict]         # record key -> its fields
    content: dict[str, str]          # record key -> content hash at the last run
    features: dict[str, dict]        # record key -> Splink input row
    types: dict[str, str]            # Splink input column -> DuckDB type
    tf: pd.DataFrame
    model_json: str | None
    child_of: dict[str, str] = field(default_factory=dict)     # record key -> its child at the last run
    _waterfall: Waterfall | None = field(default=None, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    # Made once each: the queue does not change while it is served.
    _by_order: dict[str, pd.DataFrame] = field(default_factory=dict, init=False, repr=False)
    _rows: dict[str, int] | None = field(default=None, init=False, repr=False)

    @classmethod
    def empty(cls) -> ReviewView:
        queue = pd.DataFrame(columns=["pair_id", "record_key_l", "record_key_r", "match_probability", "match_weight",
                                      "reason", "cluster_size", "priority", "first_run"])
        return cls(queue, {}, {}, {}, {}, pd.DataFrame(columns=["column_name", "value", "tf"]), None)

    @classmethod
    def load(cls, store: Store, features: bool = True) -> ReviewView:
        queue = store.df(f"SELECT pair_id, record_key_l, record_key_r, match_probability, match_weight, reason, "
                         f"coalesce(cluster_size, 2) AS cluster_size, coalesce(priority, 0) AS priority, "
                         f"coalesce(first_run, run_id) AS first_run FROM {t('review_queue')} "
                         "WHERE status = 'open' AND pair_id IS NOT NULL")
        keys = set(queue["record_key_l"]) | set(queue["record_key_r"])
        records = {r["record_key"]: r for r in current_records(store, keys).to_dict("records")}
        content = dict(store.rows(f"SELECT record_key, content_sha FROM {t('linked_records')} "
                                  f"WHERE record_key IN {_in_list(keys)}"))
        model = store.rows(f"SELECT settings_json FROM {t('model')} ORDER BY created_at DESC LIMIT 1")
        tf = store.df(f"SELECT column_name, value, tf FROM {t('term_frequencies')}")
        feats, types = model_features(store, keys) if features and keys else ({}, {})
        child_of = dict(store.rows(f"SELECT record_key, child_id FROM {t('identity')} "
                                   f"WHERE record_key IN {_in_list(keys)}"))
        return cls(queue, records, content, feats, types, tf, model[0][0] if model else None, child_of)

    def open_pairs(self, latest: dict[str, Decision], reason: str | None = None, min_p: float = 0.0,
                   max_p: float = 1.0, order: str = "priority") -> pd.DataFrame:
        """Pairs still to decide (an "unsure" stays), filtered by reason (a substring) and band."""
        if order not in ("priority", "match_weight", "match_probability", "first_run"):
            raise LinkageError("order by one of: priority, match_weight, match_probability, first_run")
        settled = constraints(latest, self.content).settled
        q = self._sorted(order)
        keep = (q["match_probability"] >= min_p) & (q["match_probability"] <= max_p)
        if settled:
            keep &= ~q["pair_id"].isin(settled)
        if reason:
            keep &= q["reason"].str.contains(reason, case=False, regex=False)
        q = q[keep]
        decided = pd.Series({p: d.decision for p, d in latest.items()}, dtype=object)
        return q.assign(last_decision=q["pair_id"].map(decided).fillna("") if latest else "").reset_index(drop=True)

    def _sorted(self, order: str) -> pd.DataFrame:
        """The whole queue in this order, sorted once."""
        if order not in self._by_order:
            self._by_order[order] = self.queue.sort_values([order, "pair_id"], ascending=[order == "first_run", True])
        return self._by_order[order]

    def pair(self, pid: str) -> dict:
        if self._rows is None:
            self._rows = {p: i for i, p in enumerate(self.queue["pair_id"])}
        if pid not in self._rows:
            raise NotFound(f"no pair {pid} in the review queue (run `linkage review list`)")
        return self.queue.iloc[self._rows[pid]].to_dict()

    def children(self, pid: str) -> list[str]:
        """The children whose records the pair shows: whoever sees or decides it is in their
        subject access report."""
        p = self.pair(pid)
        return sorted({c for k in (p["record_key_l"], p["record_key_r"]) if (c := self.child_of.get(k))})

    def side_by_side(self, pid: str) -> list[SideBySide]:
        """Every field of the two records, compared as the model reads them."""
        p = self.pair(pid)
        left, right = self.records.get(p["record_key_l"], {}), self.records.get(p["record_key_r"], {})
        out = []
        for name in ("record_key", "source", *DISPLAY_FIELDS):
            a, b = _show(left.get(name)), _show(right.get(name))
            same = _as_read(name, a) == _as_read(name, b)
            out.append(SideBySide(name, a, b, not same, same and a != b))
        return out

    def warm(self) -> None:
        """Make now what the first visit would: the waterfall, the queue by priority, the pair index."""
        self.waterfall()
        self._sorted("priority")
        if len(self.queue):
            self.pair(self.queue["pair_id"].iloc[0])

    def waterfall(self) -> Waterfall | None:
        """The saved model's waterfall in Python, built on first use (None: no model)."""
        if self.model_json is None or not self.types:
            return None
        with self._lock:
            if self._waterfall is None:
                self._waterfall = Waterfall(self.model_json, self.types, self.tf)
        return self._waterfall

    def explain(self, pid: str, chart: bool = False) -> Explanation:
        """The pair's waterfall; with ``chart``, through Splink itself, which also draws it."""
        p = self.pair(pid)
        left, right = self.features.get(p["record_key_l"]), self.features.get(p["record_key_r"])
        if self.model_json is None or left is None or right is None:
            raise LinkageError("cannot explain this pair: no saved model, or a record is no longer current")
        fast = None if chart else self.waterfall()
        if fast is not None and fast.compiled:
            return fast.explain(left, right)
        return explain_pair(self.model_json, left, right, self.types, self.tf, chart)

    def decide(self, decisions: ReviewDecisions, pid: str, decision: str, *, reviewer: str, note: str,
               channel: str, client_id: str | None = None) -> Decision:
        p = self.pair(pid)
        a, b = p["record_key_l"], p["record_key_r"]
        weight = None if pd.isna(p["match_weight"]) else float(p["match_weight"])
        return decisions.add([(a, b, self.content.get(a), self.content.get(b), float(p["match_probability"]),
                               weight)], decision=decision, reviewer=reviewer, note=note, channel=channel,
                             client_id=client_id)[0]


class SideBySide(NamedTuple):
    field: str
    left: str
    right: str
    differs: bool                # as the model reads them
    written_differently: bool    # the same to the model, written otherwise ("WONG" and "Wong")


# How the model reads a field before comparing it (validation and features): "WONG" is "wong",
# "Smith-Jones" is "smith jones", "sw1a1aa" is "SW1A 1AA".
_NAME_FIELDS = frozenset({"forename", "middle_names", "surname", "former_surname", "preferred_forename",
                          "preferred_surname"})
_READERS = {"postcode": lambda v: normalise_postcode(v) or v, "address": normalise_address,
            "upn": normalise_upn, "former_upn": normalise_upn, "nhs_number": normalise_nhs_number}


def _as_read(name: str, value: str) -> str | None:
    if not value:
        return None
    read = normalise_name(value) if name in _NAME_FIELDS else _READERS.get(name, str)(value)
    return read or value          # nothing left once read (a name of "!!"): compared as written


def _show(value: object) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NaT:
        return ""
    if isinstance(value, pd.Timestamp):
        return value.date().isoformat()
    return str(value)


def child_records(store: Store, child_id: str) -> tuple[str, pd.DataFrame]:
    """(the identifier now standing for ``child_id``, every current record of that child)."""
    from linkage.link.run import resolve_aliases   # run builds on this module

    child_id = child_id.strip().upper()      # as typed from a letter or a screen: c-… is C-…
    cur = resolve_aliases(store).get(child_id, child_id)
    keys = [r[0] for r in store.rows(f"SELECT record_key FROM {t('identity')} WHERE child_id = ?", [cur])]
    if not keys:
        raise NotFound(f"no child {child_id}")
    return cur, current_records(store, keys)


def split_out(store: Store, decisions: ReviewDecisions, child_id: str, record_key: str, *, reviewer: str,
              note: str, channel: str, client_id: str | None = None) -> list[Decision]:
    """"Split this record out": a not-a-match between ``record_key`` and each other record of the child,
    and the rest kept as one child (a match from its first record to each other one, kind "split").

    The reviewer saw the whole child and took one record out of it: the rest stays one child even
    where only the record taken out held it together (a UPN-only and an NHS-only record bridged by
    one holding both). Records split out of this child earlier, not yet relinked, are neither.
    """
    current, members = child_records(store, child_id)
    keys = list(members["record_key"])
    record_key = record_key.strip()
    if record_key not in keys:
        # A record id typed without its source ("P000000033" for "health:P000000033"): name it.
        named = [k for k in keys if k.split(":", 1)[-1] == record_key]
        hint = f" (did you mean {' or '.join(named)}? a record key is source:record id)" if named else ""
        raise NotFound(f"record {record_key} is not part of child {current}{hint}")
    standing = decisions.latest().values()
    gone = _split_already(standing, current, set(keys))
    if record_key in gone:
        taken = _split_from(standing, current, record_key)
        if taken:   # the other end of a split: the child's last record, left on its own
            were = "was" if len(taken) == 1 else "were"
            raise LinkageError(f"{record_key} is already on its own: {', '.join(taken)} {were} split out of "
                               f"{current}, and the next `linkage link` applies it")
        raise LinkageError(f"{record_key} is already split out of {current}: the next `linkage link` applies it")
    rest = [k for k in keys if k != record_key and k not in gone]
    if not rest:
        raise LinkageError(f"{record_key} is the only record of {current}: nothing to split it from")
    content = dict(store.rows(f"SELECT record_key, content_sha FROM {t('linked_records')} "
                              f"WHERE record_key IN {_in_list(keys)}"))
    with decisions.state.transaction():
        apart = decisions.add([(record_key, k, content.get(record_key), content.get(k), None, None) for k in rest],
                              decision="not_match", kind="split", child_id=current, reviewer=reviewer, note=note,
                              channel=channel, client_id=client_id)
        kept = decisions.add([(rest[0], k, content.get(rest[0]), content.get(k), None, None) for k in rest[1:]],
                             decision="match", kind="split", child_id=current, reviewer=reviewer, note=note,
                             channel=channel, client_id=client_id)
    return apart + kept


def _split_from(latest: Iterable[Decision], child_id: str, record_key: str) -> list[str]:
    """The records a standing split of ``child_id`` took away from ``record_key`` (split pairs name the
    record split out first)."""
    return sorted(d.record_key_l for d in latest if d.kind == "split" and d.child_id == child_id
                  and d.decision == "not_match" and d.record_key_r == record_key)


def _split_already(latest: Iterable[Decision], child_id: str, keys: set[str]) -> set[str]:
    """Records of ``keys`` split out of ``child_id`` by a decision still standing: an end of a split's
    not-a-match that no standing split keeps in the child."""
    ours = [d for d in latest if d.kind == "split" and d.child_id == child_id
            and d.record_key_l in keys and d.record_key_r in keys]
    kept = {k for d in ours if d.decision == "match" for k in (d.record_key_l, d.record_key_r)}
    return {k for d in ours if d.decision == "not_match" for k in (d.record_key_l, d.record_key_r)} - kept
