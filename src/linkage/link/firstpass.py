"""The first pass of a run: the scored pairs clustered into children, under every record-level check.

Strong pairs are clustered under the twin guard and the identifiers (``cluster``); a record that
fits two children nearly equally well, or that a sibling child fits as well as its own, loses its
links and what it held together is clustered again (``vet.refuse_ambiguous``), unless it bridges
two halves of one child (``bridge.bridges``); two children the guard alone keeps apart on a rare
forename are joined (``bridge.guarded_slips``). A month with ``link_month_search`` runs all of it
again over a wider reach each time the clusters meet a candidate kept outside it.

Kept apart from ``run`` so that the run reads as its stages; the second pass (``evidence``) and
the review queue work on what this returns.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from linkage.link.bridge import bridges, guarded_slips
from linkage.link.cluster import EDGE_COLUMNS, ambiguous_records, constrained_clusters, outclassed_links
from linkage.link.delta import REACH, earlier_pass, scoped_edges, widen
from linkage.link.engine import LinkEngine
from linkage.link.review import Constraints
from linkage.link.vet import refuse_ambiguous
from linkage.store import Store

__all__ = ["FirstPass", "among", "first_pass"]


@dataclass
class FirstPass:
    """The children the first pass made, and what the second pass and the review queue read."""

    edges: pd.DataFrame                      # the scored pairs in scope, ``guarded`` a plain bool
    inside: pd.Series                        # which of ``edges`` have both records reached
    linkable: pd.DataFrame                   # the links the clusters stand on
    cluster_of: dict[str, str]
    identifiers: dict[str, dict[str, str | None]]
    refused: list[tuple[str, str]]           # links a constraint refused (a reviewer's match not among them)
    refused_must: list[tuple[str, str]]      # reviewers' matches a constraint refused
    ambiguous_pairs: set[frozenset]          # each ambiguous record with each of its two partners
    swaps_held: set[frozenset]               # swapped pairs between two namesakes, not linked (``swaps``)
    outclassed: set[frozenset]               # links dropped as the weaker of two children (``outclassed_links``)


def among(edges: pd.DataFrame, pairs: set, ordered: bool = False) -> pd.Series:
    """Whether each pair of ``edges`` is one of ``pairs`` (frozensets; ``ordered``: (left, right)
    tuples). Only pairs whose both records appear in ``pairs`` are looked at, not every edge."""
    found = pd.Series(False, index=edges.index, dtype=bool)
    keys = {k for p in pairs for k in p}
    if not keys:
        return found
    near = edges["unique_id_l"].isin(keys) & edges["unique_id_r"].isin(keys)
    both = zip(edges.loc[near, "unique_id_l"], edges.loc[near, "unique_id_r"])
    found[near] = [p in pairs for p in both] if ordered else [frozenset(p) in pairs for p in both]
    return found


def _halves(cluster_of: dict[str, str], ambiguous: dict[str, tuple[str, str]]) -> set[str]:
    """Every record of the children an ambiguous record and its two partners sit in."""
    wanted = {cluster_of[k] for x, pair in ambiguous.items() for k in (x, *pair) if k in cluster_of}
    return {k for k, c in cluster_of.items() if c in wanted}


def first_pass(*, store: Store, engine: LinkEngine, edges: pd.DataFrame, reached: int, cons: Constraints,
               threshold: float, incremental: bool, search: bool,
               progress: Callable[[str], None]) -> FirstPass:
    """The first pass over the records in ``REACH`` (``reached`` of them) and their scored ``edges``.
    ``search`` (a month's, with ``link_month_search``): a month's second pass must see every
    candidate a full relink's would count for the children it reached, so those the clusters meet
    now are reached as well and the pass is run again over the larger reach, until none is met."""
    while True:
        done = _cluster(store=store, engine=engine, edges=edges, reached=reached, cons=cons,
                        threshold=threshold, incremental=incremental, progress=progress)
        if not (incremental and search):
            return done
        outside = engine.outside_candidates(done.cluster_of, done.identifiers) | earlier_pass(store)
        grown = widen(store, outside, threshold, cons.must_link) if outside else reached
        if grown == reached:
            return done
        reached = grown
        edges = scoped_edges(store)
        engine.narrow(pd.concat([edges["unique_id_l"], edges["unique_id_r"]]))


def _cluster(*, store: Store, engine: LinkEngine, edges: pd.DataFrame, reached: int, cons: Constraints,
             threshold: float, incremental: bool, progress: Callable[[str], None]) -> FirstPass:
    """One round of the first pass over the records in ``REACH``."""
    edges["guarded"] = edges["guarded"].astype("boolean").fillna(False).astype(bool)
    nodes = [r[0] for r in store.rows(f"SELECT k FROM {REACH}")]
    # Strong pairs never leave the reached components; weaker ones may, to a child that is kept.
    # A full run reaches every record, so every pair is inside (no million keys looked up twice).
    if incremental:
        in_scope = set(nodes)
        inside = edges["unique_id_l"].isin(in_scope) & edges["unique_id_r"].isin(in_scope)
    else:
        inside = pd.Series(True, index=edges.index, dtype=bool)
    linkable = edges[(edges["match_probability"] >= threshold) & ~edges["guarded"] & inside]
    # A swapped record between two namesakes that nothing else picks: no link, and no evidence either
    # (the swap's weight would hide a record's nearly equal fit to two children).
    held = engine.unpicked_swaps(linkable)
    if held:
        linkable = linkable[~among(linkable, held)]
    progress(f"{reached} records reached, {len(linkable)} links, {len(cons.must_link)} reviewer matches, "
             f"{len(cons.cannot_link)} reviewer not-matches")
    identifiers = engine.identifiers(REACH if incremental else None)
    soft = engine.second_upn_pairs()
    # A link to the weaker of two children a record can be only one of is no link (``outclassed_links``).
    weaker = outclassed_links(zip(linkable["unique_id_l"], linkable["unique_id_r"],
                                  linkable["match_weight"].fillna(float("-inf"))), identifiers, soft)
    if weaker:
        linkable = linkable[~among(linkable, weaker)]
    guarded_pairs = edges[edges["guarded"] & inside]
    kept_apart = {frozenset(p) for p in zip(guarded_pairs["unique_id_l"], guarded_pairs["unique_id_r"])}

    def cluster(links: pd.DataFrame, records: list[str]) -> tuple[dict[str, str], list[tuple[str, str]]]:
        return constrained_clusters(
            records, links[list(EDGE_COLUMNS)],
            zip(guarded_pairs["unique_id_l"], guarded_pairs["unique_id_r"]),
            identifiers, must_link=cons.must_link, never_link=cons.cannot_link, soft_upn=soft)

    cluster_of, refused = cluster(linkable, nodes)
    # A record matching two children nearly equally well is linked to neither; both pairs are queued.
    # A reviewer's "not a match" is no evidence that a record fits two children equally well.
    overruled = {frozenset(p) for p in (*cons.cannot_link, *cons.must_link)}
    strong = edges[(edges["match_probability"] >= threshold) & ~among(edges, overruled | held) & inside]

    def find(clusters: dict[str, str], links: pd.DataFrame,
             looked_at: set[str] | None) -> dict[str, tuple[str, str]]:
        near = strong if looked_at is None else strong[strong["unique_id_l"].isin(looked_at)
                                                       | strong["unique_id_r"].isin(looked_at)]
        found = ambiguous_records(clusters, zip(near["unique_id_l"], near["unique_id_r"],
                                                near["match_weight"].fillna(float("-inf"))),
                                  identifiers=identifiers, soft_upn=soft,
                                  no_rivals=lambda t: engine.no_rivals(t, clusters, kept_apart, identifiers))
        # ... and so is one linked under another forename that a sibling child (a twin) fits as well.
        return {**engine.second_children(clusters, links[~among(links, overruled)]), **found}

    # ... unless it bridges two halves of one child that nothing says are two (``bridge``): looked
    # for in the first clustering, joined once the others' components are clustered again.
    bridged: list = []

    def find_or_bridge(clusters: dict[str, str], links: pd.DataFrame,
                       looked_at: set[str] | None) -> dict[str, tuple[str, str]]:
        found = find(clusters, links, looked_at)
        if looked_at is None and found:
            joined, one_child = bridges(clusters, found, zip(strong["unique_id_l"], strong["unique_id_r"]),
                                        identifiers, engine.record_facts(_halves(clusters, found)),
                                        cons.cannot_link)
            bridged[:] = [joined, one_child]
            found = {x: p for x, p in found.items() if x not in joined.records}
        return found

    # Links the components clustered again form are checked again (``vet``), until none is new.
    cluster_of, refused, linkable, ambiguous = refuse_ambiguous(cluster_of, refused, linkable, cluster,
                                                                find_or_bridge)
    if bridged:
        cluster_of = bridged[0].apply(cluster_of, bridged[1])
    # ... and two children the twin guard alone keeps apart, on a rare forename (a slip).
    slips = guarded_pairs[pd.Series([a in cluster_of and b in cluster_of for a, b in zip(
        guarded_pairs["unique_id_l"], guarded_pairs["unique_id_r"])], index=guarded_pairs.index, dtype=bool)]
    touched = {cluster_of[k] for k in (*slips["unique_id_l"], *slips["unique_id_r"])}
    slipped, one_child = guarded_slips(
        cluster_of, zip(slips["unique_id_l"], slips["unique_id_r"], slips["match_probability"]), identifiers,
        engine.record_facts(k for k, c in cluster_of.items() if c in touched), cons.cannot_link, threshold,
        held_back=ambiguous)
    cluster_of = slipped.apply(cluster_of, one_child)
    must = set(cons.must_link)
    return FirstPass(edges=edges, inside=inside, linkable=linkable, cluster_of=cluster_of, identifiers=identifiers,
                     refused=[p for p in refused if p not in must], refused_must=[p for p in refused if p in must],
                     ambiguous_pairs={frozenset((x, p)) for x, pair in ambiguous.items() for p in pair},
                     swaps_held=held, outclassed=weaker)
