"""The second pass's and clustering's fast paths give what their plain-Python definitions give.

``shared_identifiers`` groups identifiers in SQL and ``constrained_clusters`` runs over integer
arrays; each is checked here against a direct transcription of the rule it implements, on
random small populations (few sources, few identifier values, so collisions are common).
"""

from __future__ import annotations

from collections import defaultdict
from itertools import combinations

import duckdb
from hypothesis import given, settings
from hypothesis import strategies as st

from linkage.link.complement import IDENTIFIER_REASON, SHARED_MOST, shared_identifiers
from linkage.link.evidence import ClusterPass, clusters_arrow

SOURCES = ("education", "health", "social_care")


def _shared_reference(found: ClusterPass, cluster_of, identifiers, apart) -> None:
    """The rule read plainly: every record's identifiers, grouped by value, in sorted order."""
    skip = {frozenset((cluster_of[a], cluster_of[b])) for a, b, *_ in (*found.links, *found.queue, *apart)
            if a in cluster_of and b in cluster_of}
    sources: dict[str, set[str]] = defaultdict(set)
    for key, child in cluster_of.items():
        sources[child].add(key.split(":", 1)[0])
    holders: dict[tuple[str, str], dict[str, str]] = defaultdict(dict)
    for key in sorted(cluster_of):
        for kind, value in identifiers.get(key, {}).items():
            if value:
                holders[(kind, value)].setdefault(cluster_of[key], key)
    names = {"upn": "UPN", "nhs": "NHS number"}
    for (kind, _), held in sorted(holders.items()):
        if not 1 < len(held) <= SHARED_MOST:
            continue
        for (ca, a), (cb, b) in combinations(sorted(held.items()), 2):
            if frozenset((ca, cb)) not in skip and sources[ca].isdisjoint(sources[cb]):
                skip.add(frozenset((ca, cb)))
                found.queue.append((a, b, IDENTIFIER_REASON.format(kind=names.get(kind, kind))))


_record = st.tuples(st.sampled_from(SOURCES), st.integers(0, 30), st.integers(0, 12),
                    st.one_of(st.none(), st.sampled_from(["", "N1", "N2", "N3"])),
                    st.one_of(st.none(), st.sampled_from(["", "U1", "U2", "U3", "U4"])))


@settings(max_examples=150, deadline=None)
@given(st.lists(_record, min_size=1, max_size=40), st.lists(st.tuples(st.integers(0, 39), st.integers(0, 39)),
                                                            max_size=4))
def test_shared_identifiers_matches_its_plain_definition(records, apart_idx):
    cluster_of, identifiers = {}, {}
    for source, rid, child, nhs, upn in records:
        key = f"{source}:{rid}"
        cluster_of[key] = f"C{child}"
        identifiers[key] = {"nhs": nhs, "upn": upn}
    keys = list(cluster_of)
    apart = [(keys[a % len(keys)], keys[b % len(keys)]) for a, b in apart_idx]
    con = duckdb.connect()
    con.register("kids", clusters_arrow(cluster_of, identifiers))
    fast, slow = ClusterPass(), ClusterPass()
    shared_identifiers(con, "kids", fast, cluster_of, apart)
    _shared_reference(slow, cluster_of, identifiers, apart)
    assert fast.queue == slow.queue
