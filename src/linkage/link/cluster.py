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

Two UPNs are strong evidence of two children, not law: schools issue a second UPN.
Two children whose conflict is a pair of UPNs held by two records whose names, date
of birth and address agree exactly (``soft_upn``: those two records, chosen by the
engine, never one with a co-twin in its own extract) may join, by any edge; a
UPN held by a third record (a twin's) still keeps them apart; the run reports it as a data-quality finding. Two NHS
numbers always stay apart (see docs/benchmarks.md, "Identifiers").

A record that matches two children nearly equally well (``ambiguous_records``) is
not linked automatically at all: its best child must beat the next by
``AMBIGUITY_GAP`` in match weight (log2 of the Bayes factor).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["AMBIGUITY_GAP", "ambiguous_records", "constrained_clusters", "components_of", "outclassed_links",
           "two_by_identifiers"]

# A record's best child must beat the next distinct child by this much match weight
# (log2 Bayes factor 4: sixteen times likelier) to be linked without a reviewer.
AMBIGUITY_GAP = 4.0
# Fewer edges than this are all clustered under the checks: finding the components (scipy's
# import alone, a third of a second) would cost a month's few thousand links more than it saves.
COMPONENTS_FROM = 20_000
# A frame of edges: its left record, right record and match weight.
EDGE_COLUMNS = ("unique_id_l", "unique_id_r", "match_weight")


def constrained_clusters(nodes: Iterable[str], edges: Iterable[tuple[str, str, float]] | pd.DataFrame,
                         cannot_link: Iterable[tuple[str, str]] = (),
                         identifiers: dict[str, dict[str, str]] | None = None,
                         must_link: Iterable[tuple[str, str]] = (),
                         never_link: Iterable[tuple[str, str]] = (),
                         soft_upn: Iterable[tuple[str, str]] = (),
                         ) -> tuple[dict[str, str], list[tuple[str, str]]]:
    """(record -> cluster id, refused edges and refused must-links).

    ``edges`` are (left, right, match_weight) at or above the threshold (or a frame of those
    three columns, ``EDGE_COLUMNS``);
    ``identifiers`` maps a record to its unique identifiers by kind, e.g.
    ``{"nhs": "9434765919", "upn": "B801200005001"}``; ``cannot_link`` are the
    model's guarded pairs, ``must_link`` and ``never_link`` a reviewer's decisions;
    ``soft_upn`` are pairs of records holding two UPNs of one pupil: clusters whose only
    conflict is those two UPNs may join.

    Records are numbered and the joins run over lists of numbers; the edges are put in order
    (strongest first, then by the two records' keys) by Arrow, not by a Python sort. A
    cluster's id is its root record, chosen as a plain union by size would choose it.

    Clustering decomposes over the connected components of the edges and must-links (a join, a
    constraint and the order of edges all stay inside one). Only a component holding a
    constraint (a must-link, a cannot-link pair, two values of one identifier) is clustered
    under the checks; in every other one no join can be refused, so its edges are joined in
    the same order with none of them (at a million records, nearly every component). Under
    ``COMPONENTS_FROM`` edges every component is checked.
    """
    names = list(dict.fromkeys(nodes))
    cannot_link, never_link, must_link, soft_upn = map(list, (cannot_link, never_link, must_link, soft_upn))
    names_array = pa.array(names, pa.string())
    index = _positions(names_array, [*cannot_link, *never_link, *must_link, *soft_upn])
    parent = list(range(len(names)))
    size = [1] * len(names)
    held = _Identifiers(names, identifiers or {})
    upn = held.code.get("upn", [])
    # Two UPN values (their numbers) that one pupil may hold: each held by one record of a soft pair.
    soft = {frozenset((upn[index[a]], upn[index[b]])) for a, b in soft_upn
            if upn and a in index and b in index and upn[index[a]] >= 0 and upn[index[b]] >= 0
            and upn[index[a]] != upn[index[b]]}
    forbidden = _apart([*cannot_link, *never_link], index)   # root -> records it must avoid
    never = _apart(never_link, index)                         # the reviewer's part of it
    must = sorted((a, b) for a, b in must_link if a in index and b in index)
    left, right = _strongest_first(edges, names_array)
    if len(left) >= COMPONENTS_FROM:
        free = ~_checked(len(names), left, right, [(index[a], index[b]) for a, b in must], forbidden, held)[left]
    else:
        free = np.zeros(len(left), dtype=bool)
    _union_by_size(parent, size, left[free].tolist(), right[free].tolist())

    def find(x: int) -> int:
        root = x
        while parent[root] != root:
            root = parent[root]
        while parent[x] != root:
            parent[x], x = root, parent[x]
        return root

    def separated(ra: int, rb: int, by: dict[int, set[int]]) -> bool:
        if ra not in by and rb not in by:      # most roots must avoid no one
            return False
        return any(find(x) == rb for x in by.get(ra, ())) or any(find(x) == ra for x in by.get(rb, ()))

    def join(ra: int, rb: int) -> None:
        if size[ra] < size[rb]:
            ra, rb = rb, ra
        parent[rb] = ra
        size[ra] += size[rb]
        for by in (forbidden, never):
            if rb in by:
                by[ra] = by.get(ra, set()) | by.pop(rb)
        held.merge(ra, rb)

    refused: list[tuple[str, str]] = []
    for left_key, right_key in must:
        ra, rb = find(index[left_key]), find(index[right_key])
        if ra == rb:
            continue
        if separated(ra, rb, never):
            refused.append((left_key, right_key))
            continue
        join(ra, rb)
    for li, ri in zip(left[~free].tolist(), right[~free].tolist()):
        ra, rb = find(li), find(ri)
        if ra == rb:
            continue
        against = held.against(ra, rb)
        if (separated(ra, rb, forbidden)
                or (against and (against != ["upn"] or not held.bridged("upn", ra, rb, soft)))):
            refused.append((names[li], names[ri]))
            continue
        join(ra, rb)
    return dict(zip(names, _roots(parent, names))), refused


def _positions(names: pa.Array, pairs: list[tuple[str, str]]) -> dict[str, int]:
    """The number (position in ``names``) of each record ``pairs`` name that ``names`` holds,
    looked up by Arrow: only these few are ever looked up by key, not a million."""
    keys = list(dict.fromkeys(k for p in pairs for k in p))
    if not keys:
        return {}
    at = pc.index_in(pa.array(keys, pa.string()), value_set=names).to_pylist()
    return {k: i for k, i in zip(keys, at) if i is not None}


def _checked(n: int, left: np.ndarray, right: np.ndarray, must: list[tuple[int, int]],
             forbidden: dict[int, set[int]], held: "_Identifiers") -> np.ndarray:
    """Whether each record's component (of the edges and must-links) holds a must-link, both
    records of a pair kept apart, or two values of one kind of identifier: where a join may be
    refused, or made out of the edges' order. Every other component joins all its edges."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    ml = np.asarray(must, dtype=np.int64).reshape(-1, 2)
    rows, cols = np.concatenate([left, ml[:, 0]]), np.concatenate([right, ml[:, 1]])
    graph = coo_matrix((np.ones(len(rows), dtype=np.int8), (rows, cols)), shape=(n, n))
    count, label = connected_components(graph, directed=False)
    bad = np.zeros(count, dtype=bool)
    bad[label[ml[:, 0]]] = True
    apart = np.asarray([(a, b) for a, bs in forbidden.items() for b in bs], dtype=np.int64).reshape(-1, 2)
    bad[label[apart[:, 0]][label[apart[:, 0]] == label[apart[:, 1]]]] = True
    for kind in held.kinds:
        code = np.asarray(held.code[kind], dtype=np.int64)
        has = code >= 0
        low = np.full(count, np.iinfo(np.int64).max)
        high = np.full(count, -1)
        np.minimum.at(low, label[has], code[has])
        np.maximum.at(high, label[has], code[has])
        bad |= (high >= 0) & (low != high)
    return bad[label]


def _union_by_size(parent: list[int], size: list[int], left: list[int], right: list[int]) -> None:
    """The joins of unconstrained components: each edge in order joins its two roots, the larger
    (or, of two alike, the left one's) staying root, as ``constrained_clusters``' ``join`` does."""
    for ra, rb in zip(left, right):
        while parent[ra] != ra:
            ra = parent[ra]
        while parent[rb] != rb:
            rb = parent[rb]
        if ra == rb:
            continue
        if size[ra] < size[rb]:
            ra, rb = rb, ra
        parent[rb] = ra
        size[ra] += size[rb]


def _roots(parent: list[int], names: list[str]) -> list[str]:
    """Each record's root's name: the parent array followed to its fixed point in numpy, at once
    for every record, rather than ``find`` called a million times from Python."""
    up = np.asarray(parent, dtype=np.int64)
    while True:
        higher = up[up]
        if np.array_equal(higher, up):
            break
        up = higher
    return np.asarray(names, dtype=object)[up].tolist()


def _strongest_first(edges: Iterable[tuple[str, str, float]] | pd.DataFrame, names: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """The edges' record numbers (positions in ``names``: left ones, right ones), by match weight
    descending, then left key, then right key (string order as Python compares: by code point,
    UTF-8's byte order)."""
    if isinstance(edges, pd.DataFrame):     # a run's links: their columns as they are, no tuples
        left, right, weight = (edges[c] for c in EDGE_COLUMNS)
    else:
        left, right, weight = _columns(list(edges))
    if not len(left):
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    table = pa.table({"w": pa.array(np.asarray(weight, dtype=np.float64)), "l": pa.array(left, pa.string()),
                      "r": pa.array(right, pa.string())})
    order = pc.sort_indices(table, sort_keys=[("w", "descending"), ("l", "ascending"), ("r", "ascending")])
    # Both ends looked up in one call: each call hashes every name (a million) again.
    at = pc.index_in(pa.concat_arrays([table[side].take(order).combine_chunks() for side in ("l", "r")]),
                     value_set=names)
    if at.null_count:
        for side in ("l", "r"):
            missing = table[side].filter(pc.is_null(pc.index_in(table[side], value_set=names)))
            if len(missing):
                raise KeyError(missing[0].as_py())
    ends = at.to_numpy().astype(np.int64)
    return ends[:len(table)], ends[len(table):]


def _columns(edges: list[tuple[str, str, float]]) -> tuple[list[str], list[str], list[float]]:
    """The edges' left records, right records and weights, a list each. Not ``zip(*edges)``, which
    passes every edge to one call as an argument: at a million records (570k links) that cost half
    a CPU second a call, where these take a twentieth."""
    return [e[0] for e in edges], [e[1] for e in edges], [e[2] for e in edges]


class _Identifiers:
    """Each cluster root's identifiers by kind, as numbers: -1 none, a value's number, or -2 for
    several (a soft UPN join or a reviewer's match), their numbers then in ``several``. Two
    roots are against each other on a kind when both hold it and share no value."""

    def __init__(self, names: list[str], identifiers: dict[str, dict[str, str]]):
        empty: dict[str, str] = {}
        held = [identifiers.get(n, empty) for n in names]
        self.kinds = sorted({kind for ids in held for kind, v in ids.items() if v})
        self.code: dict[str, list[int]] = {}
        self.several: dict[str, dict[int, set[int]]] = {kind: {} for kind in self.kinds}
        for kind in self.kinds:
            number: dict[str, int] = {}
            self.code[kind] = [number.setdefault(v, len(number)) if (v := ids.get(kind)) else -1 for ids in held]

    def _values(self, kind: str, root: int) -> set[int]:
        c = self.code[kind][root]
        return self.several[kind][root] if c == -2 else {c}

    def against(self, ra: int, rb: int) -> list[str]:
        out = []
        for kind in self.kinds:
            code = self.code[kind]
            a, b = code[ra], code[rb]
            if a == -1 or b == -1 or a == b >= 0:
                continue
            if (a != b) if a >= 0 and b >= 0 else self._values(kind, ra).isdisjoint(self._values(kind, rb)):
                out.append(kind)
        return out

    def bridged(self, kind: str, ra: int, rb: int, pairs: set[frozenset[int]]) -> bool:
        """Some value of ``ra``'s and some of ``rb``'s form one of ``pairs`` (value numbers)."""
        if not pairs:
            return False
        theirs = self._values(kind, rb)
        return any(frozenset((a, b)) in pairs for a in self._values(kind, ra) for b in theirs)

    def merge(self, ra: int, rb: int) -> None:
        """``rb``'s identifiers into ``ra``'s (``ra`` is the new root)."""
        for kind in self.kinds:
            code = self.code[kind]
            a, b = code[ra], code[rb]
            if b == -1 or a == b >= 0:
                continue
            if a == -1:
                code[ra] = b
                if b == -2:
                    self.several[kind][ra] = self.several[kind].pop(rb)
                continue
            values = self._values(kind, ra) | self._values(kind, rb)
            self.several[kind].pop(rb, None)
            code[ra] = -2
            self.several[kind][ra] = values


def _apart(pairs: Iterable[tuple[str, str]], index: dict[str, int]) -> dict[int, set[int]]:
    apart: dict[int, set[int]] = {}
    for a, b in pairs:
        if a in index and b in index:
            i, j = index[a], index[b]
            apart.setdefault(i, set()).add(j)
            apart.setdefault(j, set()).add(i)
    return apart


def ambiguous_records(cluster_of: dict[str, str], edges: Iterable[tuple[str, str, float]],
                      gap: float = AMBIGUITY_GAP,
                      identifiers: dict[str, dict[str, str | None]] | None = None,
                      soft_upn: Iterable[tuple[str, str]] = (),
                      no_rivals: Callable[[list[tuple[str, str, str]]], set[tuple[str, str]]] | None = None,
                      ) -> dict[str, tuple[str, str]]:
    """Records whose best link into another child comes within ``gap`` of their best link
    into their own: record -> (best partner in its own child, best partner elsewhere).

    ``edges`` are every scored pair a run could have linked (guarded and refused ones too),
    so a link into another child here is one that a constraint kept apart: evidence that
    the two children are distinct.

    A pair whose two records hold different NHS numbers, or different UPNs (not a ``soft_upn``
    pair), is no other child the record could be: it is two children by their identifiers.
    Twins Macy and Maisie on one school roll score high against each other (one nickname), and
    reading that as "Maisie's record fits Macy as well as it fits the GP's Maisie" unlinked
    Maisie's records from each other, which left the GP's Maisie free to join Macy.

    ``no_rivals``: given (record, its best partner in its own child, a partner elsewhere within
    ``gap``), those (record, partner elsewhere) that are no alternative all the same (``rival``:
    a twin whose forename is not the record's); a record all of whose partners elsewhere are so
    is not ambiguous.
    """
    ids = identifiers or {}
    soft = {frozenset(p) for p in soft_upn}
    own: dict[str, tuple[float, str]] = {}
    other: dict[str, list[tuple[float, str]]] = {}
    edges = list(edges)
    child = cluster_of.get
    # The links into another child first (a few thousand of a million records' half million): only
    # their records' best link into their own child is then looked for.
    for a, b, w in edges:
        ca, cb = child(a), child(b)
        if ca is None or cb is None or ca == cb:
            continue
        if ids and two_by_identifiers(ids.get(a), ids.get(b), frozenset((a, b)) in soft):
            continue
        other.setdefault(a, []).append((w, b))
        other.setdefault(b, []).append((w, a))
    for a, b, w in edges:
        if (a in other or b in other) and (ca := child(a)) is not None and ca == child(b):
            for x, y in ((a, b), (b, a)):
                if x in other and (x not in own or (w, y) > own[x]):
                    own[x] = (w, y)
    near = {x: [c for c in other[x] if c[0] >= own[x][0] - gap] for x in own.keys() & other.keys()}
    near = {x: c for x, c in near.items() if c}
    if no_rivals is not None and near:
        gone = no_rivals([(x, own[x][1], y) for x, c in near.items() for _, y in c])
        near = {x: left for x, c in near.items() if (left := [(w, y) for w, y in c if (x, y) not in gone])}
    return {x: (own[x][1], max(c)[1]) for x, c in near.items()}


def outclassed_links(edges: Iterable[tuple[str, str, float]], identifiers: dict[str, dict[str, str | None]],
                     soft_upn: Iterable[tuple[str, str]] = (), gap: float = AMBIGUITY_GAP) -> set[frozenset[str]]:
    """Links (record pairs of ``edges``: left, right, match weight) from a record to one of two
    children it could be only one of, when it fits the other by ``gap`` more: a GP's William Li
    fits the school's William Li at his own home by 18.6 bits and another school William Li, two
    miles off under another UPN, by 5.0. Clustered strongest first, the first link may be refused
    (the guard, a third record) and the weaker one then made, a stranger joined. Two children are
    those two records' different UPNs (not a ``soft_upn`` pair) or NHS numbers."""
    soft = {frozenset(p) for p in soft_upn}
    best: dict[str, list[tuple[float, str]]] = {}
    for a, b, w in _outclass_candidates(edges, gap):
        best.setdefault(a, []).append((w, b))
        best.setdefault(b, []).append((w, a))
    out: set[frozenset[str]] = set()
    for y, partners in best.items():
        if len(partners) < 2:
            continue
        partners.sort(reverse=True)
        for i, (w, x) in enumerate(partners[1:], 1):
            if any(wz >= w + gap and two_by_identifiers(identifiers.get(z), identifiers.get(x),
                                                         frozenset((z, x)) in soft)
                   for wz, z in partners[:i]):
                out.add(frozenset((y, x)))
    return out


def _outclass_candidates(edges: Iterable[tuple[str, str, float]], gap: float) -> list[tuple[str, str, float]]:
    """The edges of the records some link of which another of theirs beats by ``gap`` (or whose
    weight is not a finite number): only their links can be outclassed, each judged against the
    record's other links alone. A million records' half million links, nearly all a record's only
    ones or within the gap of its others, are put aside in numpy, not sorted record by record."""
    edges = list(edges)
    if not edges:
        return []
    left, right, weight = (np.asarray(c, dtype=object) for c in _columns(edges))
    w = weight.astype(np.float64)
    at, ids = pd.factorize(np.concatenate([left, right]))
    both = np.concatenate([w, w])
    top = np.full(len(ids), -np.inf)
    np.maximum.at(top, at, np.where(np.isnan(both), -np.inf, both))
    low = np.full(len(ids), np.inf)
    np.minimum.at(low, at, np.where(np.isnan(both), -np.inf, both))
    # A record is looked at when its weakest link may lie ``gap`` below its strongest (an infinite
    # or missing weight is always looked at, as the plain comparison would).
    wanted = ~np.isfinite(top) | ~np.isfinite(low) | (low + gap <= top)
    keep = wanted[at[:len(w)]] | wanted[at[len(w):]]
    return [edges[i] for i in np.flatnonzero(keep)]


def two_by_identifiers(a: dict[str, str | None] | None, b: dict[str, str | None] | None, soft: bool) -> bool:
    """Two records holding different values of one identifier (a soft pair's UPNs excepted)."""
    if not a or not b:
        return False
    return any(a.get(kind) and b.get(kind) and a[kind] != b[kind] and not (kind == "upn" and soft)
               for kind in ("nhs", "upn"))


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
