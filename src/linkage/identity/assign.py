"""Keep identifiers stable as clusters change between runs.

Rules: a cluster keeps the identifier most of its records already had;
when clusters merge, the identifier with the most records survives and the
others become aliases; when a cluster splits, the largest part keeps it.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from linkage.identity.ids import mint_child_ids

__all__ = ["Assignment", "HistoryEvent", "assign_ids"]


@dataclass(frozen=True)
class HistoryEvent:
    change: str            # minted | merged | split | moved
    child_id: str
    other_child_id: str | None
    record_key: str | None
    reason: str


@dataclass
class Assignment:
    record_to_child: dict[str, str]
    minted: list[str] = field(default_factory=list)
    aliases: dict[str, str] = field(default_factory=dict)  # retired id -> survivor
    history: list[HistoryEvent] = field(default_factory=list)

    @property
    def merges(self) -> int:
        return sum(1 for h in self.history if h.change == "merged")

    @property
    def splits(self) -> int:
        return sum(1 for h in self.history if h.change == "split")


def assign_ids(clusters: dict[str, str], previous: dict[str, str],
               created_order: dict[str, int] | None = None,
               mint: Callable[[], str] | None = None) -> Assignment:
    """``clusters``: record -> cluster; ``previous``: record -> resolved child id; ``mint``: a new
    identifier each call (default: random ones, ``mint_child_ids``, drawn for all new clusters at once)."""
    created_order = created_order or {}
    members: dict[str, list[str]] = defaultdict(list)
    for rec, cl in clusters.items():
        members[cl].append(rec)

    # Where does each old identifier now mostly live?
    spread: dict[str, Counter] = defaultdict(Counter)
    for rec, cl in clusters.items():
        if (old := previous.get(rec)) is not None:
            spread[old][cl] += 1
    home: dict[str, str] = {}
    for old, counts in spread.items():
        home[old] = max(counts, key=lambda c: (counts[c], -len(members[c]), c))

    claims: dict[str, list[str]] = defaultdict(list)
    for old, cl in home.items():
        claims[cl].append(old)

    if mint is None:
        mint = iter(mint_child_ids(sum(1 for cl in members if cl not in claims))).__next__
    result = Assignment({})
    for cl in sorted(members):
        recs = members[cl]
        contenders = claims.get(cl, [])
        if contenders:
            def rank(cid: str) -> tuple:
                return (-spread[cid][cl], created_order.get(cid, 1 << 62), cid)
            survivor = min(contenders, key=rank)
            for other in sorted(contenders):
                if other != survivor:
                    result.aliases[other] = survivor
                    result.history.append(HistoryEvent(
                        "merged", survivor, other, None,
                        f"clusters joined; {other} now an alias of {survivor}"))
        else:
            survivor = mint()
            result.minted.append(survivor)
            split_from = sorted({previous[r] for r in recs if r in previous})
            if split_from:
                for old in split_from:
                    result.history.append(HistoryEvent(
                        "split", survivor, old, None,
                        f"records left {old}, whose larger part keeps that identifier"))
            else:
                result.history.append(HistoryEvent("minted", survivor, None, None, "new child"))
        for rec in recs:
            result.record_to_child[rec] = survivor
            old = previous.get(rec)
            if old is not None and old != survivor and old not in result.aliases:
                result.history.append(HistoryEvent(
                    "moved", survivor, old, rec, "record now linked to a different child"))
    return result
