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
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone

import pandas as pd

from linkage.errors import LinkageError
from linkage.store.sealed import Sealer
from linkage.store.state import ServiceState

__all__ = ["DECISIONS", "Constraints", "Decision", "ReviewDecisions", "build_queue", "constraints", "pair_id",
           "priority", "undecided"]

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
        con = self.state.connection()
        out = []
        con.execute("BEGIN IMMEDIATE")
        try:
            for a, b, sha_a, sha_b, prob, weight in pairs:
                if a == b:
                    raise LinkageError("a pair needs two different records")
                (left, sha_l), (right, sha_r) = sorted(((a, sha_a), (b, sha_b)))
                pid, at = pair_id(left, right), _now()
                sealed = self.sealer.seal(note, f"review:{pid}:{at}") if note else ""
                cur = con.execute(
                    f"INSERT INTO review_decisions ({_COLS.split(', ', 1)[1]}) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (pid, left, right, sha_l, sha_r, decision, kind, child_id, prob, weight, reviewer.strip(),
                     sealed, channel, client_id, at))
                out.append(Decision(cur.lastrowid, pid, left, right, sha_l, sha_r, decision, kind, child_id,
                                    prob, weight, reviewer.strip(), note, channel, client_id, at))
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
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
        if d.decision == "not_match":
            c.cannot_link.append((left, right))
        elif not changed:
            c.must_link.append((left, right))
        if changed:
            c.stale[pid] = d
        else:
            c.settled.add(pid)
    return c


def undecided(band: pd.DataFrame, cluster_of: dict[str, str], linked: pd.DataFrame,
              identifiers: dict[str, dict[str, str | None]]) -> pd.Series:
    """True for band pairs a reviewer could usefully decide.

    A pair is not queued when its two records sit in different children that could never be one
    (they hold different NHS numbers or UPNs), and each record has a stronger link inside its own
    child than to the other: twins Ella and Bella, each matched exactly to her own records.
    """
    best: dict[str, float] = defaultdict(lambda: float("-inf"))
    for left, right, weight in zip(linked["unique_id_l"], linked["unique_id_r"], linked["match_weight"]):
        if cluster_of.get(left) == cluster_of.get(right):
            best[left] = max(best[left], weight)
            best[right] = max(best[right], weight)
    held: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for key, ids in identifiers.items():
        for kind, value in ids.items():
            if value and key in cluster_of:
                held[cluster_of[key]][kind].add(value)

    def keep(left: str, right: str, weight: float) -> bool:
        cl, cr = cluster_of.get(left), cluster_of.get(right)
        if cl is None or cr is None or cl == cr:
            return True
        if not (best[left] > weight and best[right] > weight):
            return True
        hl, hr = held.get(cl, {}), held.get(cr, {})
        return not any(kind in hr and values.isdisjoint(hr[kind]) for kind, values in hl.items())

    weights = band["match_weight"].fillna(float("-inf"))
    return pd.Series([keep(a, b, w) for a, b, w in zip(band["unique_id_l"], band["unique_id_r"], weights)],
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
    scored = {pair_id(a, b): (p, w) for a, b, p, w in zip(edges["unique_id_l"], edges["unique_id_r"],
                                                          edges["match_probability"], edges["match_weight"])}
    extra = []
    for pid, d in cons.stale.items():
        p, w = scored.get(pid, (d.match_probability, d.match_weight))
        extra.append((d.record_key_l, d.record_key_r, p, w, STALE_REASON.format(
            decision=d.decision.replace("_", " "), day=d.decided_at[:10])))
    for a, b in refused_must:
        p, w = scored.get(pair_id(a, b), (None, None))
        extra.append((a, b, p, w, CONFLICT_REASON))
    if extra:
        frame = pd.concat([frame, pd.DataFrame(extra, columns=frame.columns)], ignore_index=True)
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
    sizes = pd.Series(cluster_of).value_counts()

    def affected(a: str, b: str) -> int:
        ca, cb = cluster_of.get(a), cluster_of.get(b)
        return int(sizes.get(ca, 1)) + (0 if ca == cb else int(sizes.get(cb, 1)))

    frame["cluster_size"] = [affected(a, b) for a, b in zip(frame["record_key_l"], frame["record_key_r"])]
    frame["priority"] = priority(frame["match_probability"], frame["cluster_size"])
    return frame[["pair_id", "record_key_l", "record_key_r", "match_probability", "match_weight", "reason",
                  "cluster_size", "priority"]].reset_index(drop=True)
