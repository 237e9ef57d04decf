"""Clustering with cannot-link constraints.

Plain connected components chains records: if twin A's school record links to
twin B's GP record by a typo-like name (Ella/Bella), and to twin A's own GP
record, both twins land in one cluster. Here edges are joined strongest first
(by match weight), and a join is refused when it would put two records that
must stay apart into one cluster: a guarded pair (the twin signature), or two
clusters holding different NHS numbers, or different UPNs (after following
UPN history). One child has one of each. Refused joins go to clerical review.

A reviewer's decisions come first: ``must_link`` pairs ("match") are joined
before any model edge, overriding the twin guard and identifier checks (the
reviewer has seen both records), but never a reviewer's ``never_link`` ("not a
match", "split this record out"), which also binds every model edge.

Two UPNs are strong evidence of two children, not law: schools issue a second UPN,
and a pair whose names, date of birth and address agree exactly (``soft_upn``,
chosen by the engine, never for a record with a co-twin in its own extract) may
join across a UPN conflict; the run reports it as a data-quality finding. Two NHS
numbers always stay apart (see docs/benchmarks.md, "Identifiers").

A record that matches two children nearly equally well (``ambiguous_records``) is
not linked automatically at all: its best child must beat the next by
``AMBIGUITY_GAP`` in match weight (log2 of the Bayes factor).
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["AMBIGUITY_GAP", "ambiguous_records", "constrained_clusters", "components_of"]

# A record's best child must beat the next distinct child by this much match weight
# (log2 Bayes factor 4: sixteen times likelier) to be linked without a reviewer.
AMBIGUITY_GAP = 4.0


def constrained_clusters(nodes: Iterable[str], edges: Iterable[tuple[str, str, float]],
                         cannot_link: Iterable[tuple[str, str]] = (),
                         identifiers: dict[str, dict[str, str]] | None = None,
                         must_link: Iterable[tuple[str, str]] = (),
                         never_link: Iterable[tuple[str, str]] = (),
                         soft_upn: Iterable[tuple[str, str]] = (),
                         ) -> tuple[dict[str, str], list[tuple[str, str]]]:
    """(record -> cluster id, refused edges and refused must-links).

    ``edges`` are (left, right, match_weight) at or above the threshold;
    ``identifiers`` maps a record to its unique identifiers by kind, e.g.
    ``{"nhs": "9434765919", "upn": "B801200005001"}``; ``cannot_link`` are the
    model's guarded pairs, ``must_link`` and ``never_link`` a reviewer's decisions;
    ``soft_upn`` edges may join clusters holding different UPNs.
    """
    soft = {frozenset(p) for p in soft_upn}
    parent: dict[str, str] = {n: n for n in nodes}
    ids = identifiers or {}
    # A root's identifiers by kind and its number of records, kept once an edge reaches it
    # (a record no edge reaches needs neither).
    held: dict[str, dict[str, set[str]]] = {}
    size: dict[str, int] = {}
    never_link = list(never_link)
    forbidden = _apart([*cannot_link, *never_link], parent)   # root -> nodes it must avoid
    never = _apart(never_link, parent)                         # the reviewer's part of it

    def find(x: str) -> str:
        root = x
        while parent[root] != root:
            root = parent[root]
        while parent[x] != root:
            parent[x], x = root, parent[x]
        return root

    def holding(root: str) -> dict[str, set[str]]:
        found = held.get(root)
        if found is None:
            found = held[root] = {kind: {v} for kind, v in ids.get(root, {}).items() if v}
        return found

    def separated(ra: str, rb: str, by: dict[str, set[str]]) -> bool:
        if ra not in by and rb not in by:      # most roots must avoid no one
            return False
        return any(find(x) == rb for x in by.get(ra, ())) or any(find(x) == ra for x in by.get(rb, ()))

    def join(ra: str, rb: str) -> None:
        if size.get(ra, 1) < size.get(rb, 1):
            ra, rb = rb, ra
        parent[rb] = ra
        size[ra] = size.get(ra, 1) + size.pop(rb, 1)
        for by in (forbidden, never):
            if rb in by:
                by[ra] = by.get(ra, set()) | by.pop(rb)
        ha = holding(ra)
        for kind, values in holding(rb).items():
            ha.setdefault(kind, set()).update(values)
        del held[rb]

    refused: list[tuple[str, str]] = []
    for left, right in sorted((a, b) for a, b in must_link if a in parent and b in parent):
        ra, rb = find(left), find(right)
        if ra == rb:
            continue
        if separated(ra, rb, never):
            refused.append((left, right))
            continue
        join(ra, rb)
    for left, right, _ in sorted(edges, key=lambda e: (-e[2], e[0], e[1])):
        ra, rb = find(left), find(right)
        if ra == rb:
            continue
        ha, hb = holding(ra), holding(rb)
        against = [kind for kind, values in ha.items() if kind in hb and values.isdisjoint(hb[kind])]
        if (separated(ra, rb, forbidden)
                or (against and (against != ["upn"] or frozenset((left, right)) not in soft))):
            refused.append((left, right))
            continue
        join(ra, rb)
    return {n: find(n) for n in parent}, refused


def _apart(pairs: Iterable[tuple[str, str]], nodes: dict[str, str]) -> dict[str, set[str]]:
    apart: dict[str, set[str]] = {}
    for a, b in pairs:
        if a in nodes and b in nodes:
            apart.setdefault(a, set()).add(b)
            apart.setdefault(b, set()).add(a)
    return apart


def ambiguous_records(cluster_of: dict[str, str], edges: Iterable[tuple[str, str, float]],
                      gap: float = AMBIGUITY_GAP) -> dict[str, tuple[str, str]]:
    """Records whose best link into another child comes within ``gap`` of their best link
    into their own: record -> (best partner in its own child, best partner elsewhere).

    ``edges`` are every scored pair a run could have linked (guarded and refused ones too),
    so a link into another child here is one that a constraint kept apart: evidence that
    the two children are distinct.
    """
    own: dict[str, tuple[float, str]] = {}
    other: dict[str, tuple[float, str]] = {}
    for a, b, w in edges:
        if a not in cluster_of or b not in cluster_of:
            continue
        best = own if cluster_of[a] == cluster_of[b] else other
        for x, y in ((a, b), (b, a)):
            if x not in best or (w, y) > best[x]:
                best[x] = (w, y)
    return {x: (own[x][1], other[x][1]) for x in own.keys() & other.keys() if other[x][0] >= own[x][0] - gap}


def components_of(cluster_of: dict[str, str], refused: Iterable[tuple[str, str]],
                  seeds: Iterable[str]) -> set[str]:
    """Every record of the components ``constrained_clusters`` saw (its edges and must-links)
    that hold a record of ``seeds``.

    Each edge it was given either lies inside one cluster or was refused, so those components
    are the clusters joined through the refused pairs. Clustering decomposes over them (a join,
    a constraint and the order of edges all stay inside one), so re-clustering only these
    components after removing some of their edges gives what clustering everything again would.
    """
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        root = x
        while parent.get(root, root) != root:
            root = parent[root]
        while parent.get(x, x) != root:
            parent[x], x = root, parent[x]
        return root

    for a, b in refused:
        ra, rb = find(cluster_of[a]), find(cluster_of[b])
        if ra != rb:
            parent[rb] = ra
    wanted = {find(cluster_of[x]) for x in seeds if x in cluster_of}
    return {rec for rec, cl in cluster_of.items() if find(cl) in wanted}
