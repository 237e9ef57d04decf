"""Keep identifiers stable as clusters change between runs.

Rules: a cluster keeps the identifier most of its records already had;
when clusters merge, the identifier with the most records survives and the
others become aliases; when a cluster splits, the largest part keeps it.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from linkage.identity.ids import mint_child_ids

__all__ = ["Assignment", "HistoryEvent", "assign_ids"]


class HistoryEvent(NamedTuple):
    """One change to an identifier (a tuple: a first run makes half a million of them)."""

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
    identifier each call (default: random ones, ``mint_child_ids``, drawn for all new clusters at once).

    A first run at a million records has half a million clusters and no previous ids: the work
    per cluster is kept to what its records need (no lookups of ids that no record had)."""
    if not previous:
        return _first(clusters, mint)
    created_order = created_order or {}
    members: dict[str, list[str]] = defaultdict(list)
    for rec, cl in clusters.items():
        members[cl].append(rec)

    # Where does each old identifier now mostly live? (Only records that had one count.)
    spread: dict[str, Counter] = defaultdict(Counter)
    if len(previous) < len(clusters):
        had = ((cl, old) for rec, old in previous.items()
               if old is not None and (cl := clusters.get(rec)) is not None)
    else:
        had = ((cl, old) for rec, cl in clusters.items() if (old := previous.get(rec)) is not None)
    for cl, old in had:
        spread[old][cl] += 1
    claims: dict[str, list[str]] = defaultdict(list)
    for old, counts in spread.items():
        claims[max(counts, key=lambda c: (counts[c], -len(members[c]), c))].append(old)

    if mint is None:
        mint = iter(mint_child_ids(sum(1 for cl in members if cl not in claims))).__next__
    result = Assignment({})
    history, minted, aliases = result.history, result.minted, result.aliases
    order = sorted(members)
    child_of: dict[str, str] = {}
    for cl in order:
        recs = members[cl]
        contenders = claims.get(cl)
        olds = [old for r in recs if (old := previous.get(r)) is not None] if previous else ()
        if contenders:
            def rank(cid: str) -> tuple:
                return (-spread[cid][cl], created_order.get(cid, 1 << 62), cid)
            survivor = min(contenders, key=rank)
            for other in sorted(contenders):
                if other != survivor:
                    aliases[other] = survivor
                    history.append(HistoryEvent("merged", survivor, other, None,
                                                f"clusters joined; {other} now an alias of {survivor}"))
        else:
            survivor = mint()
            minted.append(survivor)
            if olds:
                for old in sorted(set(olds)):
                    history.append(HistoryEvent("split", survivor, old, None,
                                                f"records left {old}, whose larger part keeps that identifier"))
            else:
                history.append(HistoryEvent("minted", survivor, None, None, "new child"))
        child_of[cl] = survivor
        if olds:
            for rec in recs:
                old = previous.get(rec)
                if old is not None and old != survivor and old not in aliases:
                    history.append(HistoryEvent("moved", survivor, old, rec, "record now linked to a different child"))
    result.record_to_child = {rec: child_of[cl] for cl in order for rec in members[cl]}
    return result


def _first(clusters: dict[str, str], mint: Callable[[], str] | None) -> Assignment:
    """``assign_ids`` with no previous ids (a first run): every cluster, in key order, mints one;
    its records keep their order. Clusters numbered, put in order and spread over their records
    by numpy and Arrow, not a list per cluster built and walked in Python (a million records)."""
    keys = np.asarray(list(clusters), dtype=object)
    number, names = pd.factorize(np.asarray(list(clusters.values()), dtype=object))
    # Each cluster's place in key order (Arrow's string order is the code point order ``sorted`` uses).
    order = pc.sort_indices(pa.array(names, pa.string())).to_numpy()
    place = np.empty(len(names), dtype=np.int64)
    place[order] = np.arange(len(names))
    minted = mint_child_ids(len(names)) if mint is None else [mint() for _ in range(len(names))]
    at = place[number]
    records = np.argsort(at, kind="stable")
    ids = np.asarray(minted, dtype=object)
    return Assignment(dict(zip(keys[records].tolist(), ids[at[records]].tolist())), minted, {},
                      [HistoryEvent("minted", survivor, None, None, "new child") for survivor in minted])
