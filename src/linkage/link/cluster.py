"""Clustering with cannot-link constraints.

Plain connected components chains records: if twin A's school record links to
twin B's GP record by a typo-like name (Ella/Bella), and to twin A's own GP
record, both twins land in one cluster. Here edges are joined strongest first
(by match weight), and a join is refused when it would put two records that
must stay apart into one cluster: a guarded pair (the twin signature), or two
clusters holding different NHS numbers, or different UPNs (after following
UPN history). One child has one of each. Refused joins go to clerical review.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["constrained_clusters"]


def constrained_clusters(nodes: Iterable[str], edges: Iterable[tuple[str, str, float]],
                         cannot_link: Iterable[tuple[str, str]] = (),
                         identifiers: dict[str, dict[str, str]] | None = None,
                         ) -> tuple[dict[str, str], list[tuple[str, str]]]:
    """(record -> cluster id, refused edges).

    ``edges`` are (left, right, match_weight) at or above the threshold;
    ``identifiers`` maps a record to its unique identifiers by kind, e.g.
    ``{"nhs": "9434765919", "upn": "B801200005001"}``.
    """
    parent: dict[str, str] = {n: n for n in nodes}
    held: dict[str, dict[str, set[str]]] = {
        n: {kind: {v} for kind, v in ids.items() if v} for n, ids in (identifiers or {}).items() if n in parent}
    members: dict[str, list[str]] = {n: [n] for n in parent}
    apart: dict[str, set[str]] = {}
    for a, b in cannot_link:
        if a in parent and b in parent:
            apart.setdefault(a, set()).add(b)
            apart.setdefault(b, set()).add(a)
    forbidden: dict[str, set[str]] = {n: set(apart[n]) for n in apart}   # root -> nodes it must avoid

    def find(x: str) -> str:
        root = x
        while parent[root] != root:
            root = parent[root]
        while parent[x] != root:
            parent[x], x = root, parent[x]
        return root

    refused: list[tuple[str, str]] = []
    for left, right, _ in sorted(edges, key=lambda e: (-e[2], e[0], e[1])):
        ra, rb = find(left), find(right)
        if ra == rb:
            continue
        fa, fb = forbidden.get(ra, set()), forbidden.get(rb, set())
        ha, hb = held.get(ra, {}), held.get(rb, {})
        if (any(find(x) == rb for x in fa) or any(find(x) == ra for x in fb)
                or any(kind in hb and values.isdisjoint(hb[kind]) for kind, values in ha.items())):
            refused.append((left, right))
            continue
        if len(members[ra]) < len(members[rb]):
            ra, rb, fa, fb, ha, hb = rb, ra, fb, fa, hb, ha
        parent[rb] = ra
        members[ra].extend(members.pop(rb))
        if fb:
            forbidden[ra] = fa | fb
            forbidden.pop(rb, None)
        if hb:
            held[ra] = {k: ha.get(k, set()) | hb.get(k, set()) for k in ha.keys() | hb.keys()}
            held.pop(rb, None)
    return {n: find(n) for n in parent}, refused
