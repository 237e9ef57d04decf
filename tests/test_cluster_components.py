"""``constrained_clusters`` joins the components that hold no constraint without its checks: the
same clusters (each id the same root record) and the same refused pairs in the same order as the
plain strongest-first union-find under every check (``_clusters_reference``), on graphs of many
components, some holding a guarded pair, two identifiers or a reviewer's decision and most none,
given as tuples or as a run's frame of links."""

from contextlib import contextmanager

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from test_second_pass_fast import _clusters_reference

from linkage.link import cluster
from linkage.link.cluster import EDGE_COLUMNS, constrained_clusters

_GROUPS = 8     # records r00..r39 in eight groups of five; most edges stay inside one group


@settings(max_examples=120, deadline=None)
@given(st.data())
def test_many_components_cluster_as_the_checked_union_find(data):
    nodes = [f"r{i:02d}" for i in range(5 * _GROUPS)]
    inside = st.integers(0, _GROUPS - 1).flatmap(
        lambda g: st.tuples(st.integers(5 * g, 5 * g + 4), st.integers(5 * g, 5 * g + 4)))
    anywhere = st.tuples(st.integers(0, len(nodes) - 1), st.integers(0, len(nodes) - 1))
    weight = st.sampled_from([1.0, 2.5, 2.5, 7.0, 7.0, 30.0])
    edges = [(nodes[a], nodes[b], w) for (a, b), w in data.draw(st.lists(
        st.tuples(st.one_of(inside, inside, inside, anywhere), weight), max_size=60))]
    pairs = st.lists(anywhere.map(lambda p: (nodes[p[0]], nodes[p[1]])), max_size=3)
    ids = data.draw(st.dictionaries(st.sampled_from(nodes), st.fixed_dictionaries({
        "nhs": st.sampled_from([None, "", "N1", "N2"]), "upn": st.sampled_from([None, "U1", "U2"])}), max_size=8))
    kw = dict(cannot_link=data.draw(pairs), identifiers=ids, must_link=data.draw(pairs),
              never_link=data.draw(pairs), soft_upn=data.draw(pairs))
    expected = _clusters_reference(nodes, edges, **kw)
    frame = pd.DataFrame(edges, columns=list(EDGE_COLUMNS)).astype({"match_weight": float})
    with _components_from(0):          # as a million records' call: the components found
        assert constrained_clusters(nodes, edges, **kw) == expected
        assert constrained_clusters(nodes, frame, **kw) == expected
    assert constrained_clusters(nodes, frame, **kw) == expected     # a small call: all checked


@contextmanager
def _components_from(edges: int):
    before, cluster.COMPONENTS_FROM = cluster.COMPONENTS_FROM, edges
    try:
        yield
    finally:
        cluster.COMPONENTS_FROM = before


def test_a_component_without_constraints_keeps_the_root_union_by_size_gives_it():
    # c-d joins first (strongest), then a-b, then b-c: two pairs of one size, the left one's root (a) stays.
    edges = [("b", "c", 5.0), ("c", "d", 9.0), ("a", "b", 7.0), ("x", "y", 1.0), ("y", "z", 1.0)]
    with _components_from(0):
        clusters, refused = constrained_clusters("abcdxyz", edges, identifiers={"a": {"nhs": "1"}, "d": {"nhs": "1"}})
    assert clusters == {"a": "a", "b": "a", "c": "a", "d": "a", "x": "x", "y": "x", "z": "x"} and refused == []
