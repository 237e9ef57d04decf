"""Constrained clustering: twins and conflicting identifiers never share a cluster."""

from hypothesis import given
from hypothesis import strategies as st

from linkage.link.cluster import constrained_clusters, outclassed_links


def test_chain_through_a_third_record_is_refused_for_twins():
    # A's school record links to A's and to B's GP records (Ella/Bella); A and B are twins.
    edges = [("edu_a", "gp_a", 30.0), ("edu_a", "gp_b", 20.0), ("edu_b", "gp_b", 30.0)]
    clusters, refused = constrained_clusters(["edu_a", "gp_a", "gp_b", "edu_b"], edges, [("edu_a", "edu_b")])
    assert clusters["edu_a"] == clusters["gp_a"] and clusters["edu_b"] == clusters["gp_b"]
    assert clusters["edu_a"] != clusters["edu_b"] and refused == [("edu_a", "gp_b")]


def test_clusters_holding_different_nhs_numbers_never_merge():
    ids = {"h1": {"nhs": "1"}, "h2": {"nhs": "2"}, "s": {"nhs": None, "upn": "U"}}
    clusters, refused = constrained_clusters(["h1", "h2", "s"], [("h1", "s", 10.0), ("s", "h2", 9.0)], (), ids)
    assert clusters["h1"] == clusters["s"] != clusters["h2"] and refused == [("s", "h2")]


def test_strongest_edges_win():
    ids = {"a": {"upn": "X"}, "b": {"upn": "Y"}}
    clusters, _ = constrained_clusters(["a", "b", "c"], [("a", "c", 5.0), ("b", "c", 25.0)], (), ids)
    assert clusters["b"] == clusters["c"] != clusters["a"]


@given(st.lists(st.tuples(st.integers(0, 9), st.integers(0, 9), st.floats(-5, 40)), max_size=40),
       st.lists(st.tuples(st.integers(0, 9), st.integers(0, 9)), max_size=6),
       st.dictionaries(st.integers(0, 9), st.sampled_from(["n1", "n2", "n3"]), max_size=6))
def test_no_cluster_ever_holds_a_cannot_link_pair_or_two_nhs_numbers(edges, apart, nhs):
    nodes = [str(i) for i in range(10)]
    e = [(str(a), str(b), w) for a, b, w in edges if a != b]
    cl = [(str(a), str(b)) for a, b in apart if a != b]
    ids = {str(k): {"nhs": v} for k, v in nhs.items()}
    clusters, _ = constrained_clusters(nodes, e, cl, ids)
    assert all(clusters[a] != clusters[b] for a, b in cl)
    by_cluster = {}
    for node, v in ids.items():
        by_cluster.setdefault(clusters[node], set()).add(v["nhs"])
    assert all(len(v) == 1 for v in by_cluster.values())


def test_a_soft_pair_joins_across_two_upns_but_never_across_two_nhs_numbers():
    # The schools gave one pupil two UPNs; names, birthday and address agree exactly (soft_upn).
    ids = {"e1": {"upn": "A1", "nhs": None}, "e2": {"upn": "B2", "nhs": None},
           "h1": {"upn": None, "nhs": "1"}, "h2": {"upn": "C3", "nhs": "2"}}
    edges = [("e1", "e2", 30.0), ("e1", "h1", 20.0), ("e2", "h2", 10.0)]
    clusters, refused = constrained_clusters(["e1", "e2", "h1", "h2"], edges, (), ids,
                                             soft_upn=[("e2", "e1"), ("e2", "h2")])
    assert clusters["e1"] == clusters["e2"] == clusters["h1"] != clusters["h2"]
    assert refused == [("e2", "h2")]
    strict, refused = constrained_clusters(["e1", "e2", "h1", "h2"], edges, (), ids)
    assert strict["e1"] == strict["h1"] != strict["e2"] and ("e1", "e2") in refused


@given(st.data())
def test_clustering_again_only_the_components_a_change_reaches_gives_what_clustering_all_gives(data):
    """The run drops the links of ambiguous records and clusters again only the components holding
    them (``components_of``); every other component must come out as a full clustering gives it."""
    from linkage.link.cluster import components_of

    nodes = [f"r{i}" for i in range(data.draw(st.integers(2, 24)))]
    pair = st.tuples(st.sampled_from(nodes), st.sampled_from(nodes)).filter(lambda p: p[0] != p[1])
    edges = [(a, b, float(w)) for (a, b), w in data.draw(st.lists(st.tuples(pair, st.integers(1, 6)), max_size=40))]
    apart = data.draw(st.lists(pair, max_size=4))
    must = data.draw(st.lists(pair, max_size=3))
    never = data.draw(st.lists(pair, max_size=2))
    ids = {n: {"nhs": data.draw(st.sampled_from([None, "1", "2"])), "upn": data.draw(st.sampled_from([None, "U", "V"]))}
           for n in nodes}

    def cluster(among, links):
        return constrained_clusters(among, links, apart, ids, must_link=must, never_link=never)

    first, refused = cluster(nodes, edges)
    seeds = set(data.draw(st.lists(st.sampled_from(nodes), min_size=1, max_size=3)))
    kept = [e for e in edges if e[0] not in seeds and e[1] not in seeds]
    whole, whole_refused = cluster(nodes, kept)
    again = components_of(first, refused, seeds)
    part, part_refused = cluster(sorted(again), [e for e in kept if e[0] in again and e[1] in again])
    assert {**first, **part} == whole
    assert sorted([p for p in refused if p[0] not in again] + part_refused) == sorted(whole_refused)


# William Li, twice at 30,000 independent records: the GP's record fits the school's William Li at
# its own home (18.6 bits) and another school William Li under another UPN two miles off (5.0);
# social care's "Bill Li" (the GP's, by NHS number) is guarded from the first school record.
_LI_EDGES = [("health:H", "social_care:Bill", 31.9), ("health:H", "education:S1", 18.6),
             ("health:H", "education:S2", 5.0)]
_LI_IDS = {"health:H": {"nhs": "N1"}, "social_care:Bill": {"nhs": "N1"}, "education:S1": {"upn": "V1"},
           "education:S2": {"upn": "A2"}}


def _li_clusters(ids: dict) -> dict[str, str]:
    from linkage.link.cluster import outclassed_links

    weaker = outclassed_links(_LI_EDGES, ids)
    edges = [e for e in _LI_EDGES if frozenset(e[:2]) not in weaker]
    nodes = sorted({k for e in _LI_EDGES for k in e[:2]})
    return constrained_clusters(nodes, edges, [("education:S1", "social_care:Bill")], ids)[0]


def test_a_record_is_not_linked_to_the_weaker_of_two_children_after_its_best_is_refused():
    clusters = _li_clusters(_LI_IDS)
    assert clusters["education:S2"] != clusters["health:H"]
    assert clusters["health:H"] == clusters["social_care:Bill"]


def test_the_weaker_link_stands_when_nothing_says_the_two_are_two_children():
    # The second school record under no UPN may be the first one's child typed again: linked.
    clusters = _li_clusters({**_LI_IDS, "education:S2": {}})
    assert clusters["education:S2"] == clusters["health:H"]


def test_only_records_whose_links_lie_a_gap_apart_are_looked_at_for_an_outclassed_link():
    """``outclassed_links`` sorts the links of only the records some link of which another of theirs
    beats by the gap (or whose weight is no number): the others cannot have a link outclassed."""
    from linkage.link.cluster import _outclass_candidates
    edges = [("a", "b", 20.0), ("a", "c", 18.0), ("d", "e", 20.0), ("d", "f", 10.0), ("g", "h", float("nan")),
             ("g", "i", 5.0), ("j", "k", 3.0)]
    assert [e[:2] for e in _outclass_candidates(iter(edges), 4.0)] == [("d", "e"), ("d", "f"), ("g", "h"), ("g", "i")]


@given(st.lists(st.tuples(st.integers(0, 9), st.integers(0, 9),
                          st.one_of(st.floats(-5, 30), st.sampled_from([float("-inf"), float("nan"), 12.0, 16.0]))),
                max_size=40),
       st.dictionaries(st.integers(0, 9), st.tuples(st.sampled_from([None, "n1", "n2"]), st.sampled_from([None, "u1", "u2"]))))
def test_outclassed_links_are_those_the_plain_sort_of_every_record_finds(raw, held):
    """The links left out unsorted change nothing: every record's links sorted, as before."""
    from linkage.link.cluster import _outclass_candidates, two_by_identifiers
    seen, edges = set(), []
    for a, b, w in raw:
        if a != b and frozenset((a, b)) not in seen:
            seen.add(frozenset((a, b)))
            edges.append((f"r{a}", f"r{b}", w))
    ids = {f"r{k}": {"nhs": n, "upn": u} for k, (n, u) in held.items()}
    best: dict = {}
    for a, b, w in edges:
        best.setdefault(a, []).append((w, b))
        best.setdefault(b, []).append((w, a))
    plain = set()
    for y, partners in best.items():
        partners.sort(reverse=True)
        for i, (w, x) in enumerate(partners[1:], 1):
            if any(wz >= w + 4.0 and two_by_identifiers(ids.get(z), ids.get(x), False) for wz, z in partners[:i]):
                plain.add(frozenset((y, x)))
    assert outclassed_links(iter(edges), ids) == plain
    looked_at = {frozenset(e[:2]) for e in _outclass_candidates(iter(edges), 4.0)}
    assert plain <= looked_at
