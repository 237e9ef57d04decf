"""The review queue: what the decisions mean to a run, which band pairs are worth a reviewer's
time, and the open queue with each pair's priority.

A decision binds while both records are as the reviewer saw them (the content hash of the
fields the model compares): "match" is a must-link, "not a match" a cannot-link. When either
record changes, a "match" stops binding and the pair is queued again; a "not a match" keeps the
records apart (the safe way to be wrong) and is queued again to be confirmed.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

import pandas as pd

from linkage.link.decisions import Decision, pair_id
from linkage.link.guards import GUARD_REASON
from linkage.link.names import one_edit

__all__ = ["CONFLICT_REASON", "STALE_REASON", "Constraints", "build_queue", "constraints", "priority", "undecided"]

STALE_REASON = "decided {decision} on {day}, but a record has changed since: confirm"
CONFLICT_REASON = "decisions conflict: a reviewer's match joins records another decision keeps apart"


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
