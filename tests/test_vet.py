"""Every link a run makes goes through the twin and sibling checks (``link/vet.py``), through the
real clustering and the real sibling SQL over handcrafted records."""

from __future__ import annotations

from functools import partial

import duckdb
import pandas as pd

from linkage.link.cluster import ambiguous_records, constrained_clusters
from linkage.link.evidence import ClusterPass
from linkage.link.vet import refuse_ambiguous, second_children, vet_joins
from test_twin_evidence import population, rec

LINKS = ["unique_id_l", "unique_id_r"]


def _siblings(con: duckdb.DuckDBPyConnection):
    """What ``LinkEngine.second_children`` runs (``vet.second_children``), over this population."""
    return partial(second_children, con, "link_input")


# Macy's school record E1 and GP record H1 are one child; her social care record Y fits her sister
# Maisie's school record E2 nearly as well (ambiguous), and kept the social care Maisie S3 (guarded
# against Y: one source holds both) out of Macy's child. Once Y's links are gone, the clustering
# again joins S3 to H1: a Maisie linked to a Macy while Maisie's own school record is another child.
RECORDS = [rec("education:1", "macy", upn="A1"), rec("health:1", "macy", nhs="N1"),
           rec("social_care:1", "macy"), rec("education:2", "maisie", upn="B2"), rec("social_care:3", "maisie")]
EDGES = pd.DataFrame([("education:1", "health:1", 20.0), ("social_care:1", "education:1", 9.0),
                      ("health:1", "social_care:3", 8.0)], columns=[*LINKS, "match_weight"])
STRONG = [*EDGES.itertuples(index=False, name=None), ("social_care:1", "education:2", 8.5)]
GUARDED = [("social_care:1", "social_care:3")]
IDS = {"education:1": {"upn": "A1"}, "health:1": {"nhs": "N1"}, "education:2": {"upn": "B2"}}


def test_links_formed_when_an_ambiguous_record_leaves_are_checked_again():
    second = _siblings(population(RECORDS))
    nodes = [r["record_key"] for r in RECORDS]

    def cluster(links: pd.DataFrame, among: list[str]):
        return constrained_clusters(among, links.itertuples(index=False, name=None), GUARDED, IDS)

    def find(clusters, links, among):
        return {**second(clusters, links), **ambiguous_records(clusters, STRONG, identifiers=IDS)}

    cluster_of, refused = cluster(EDGES, nodes)
    assert cluster_of["social_care:3"] != cluster_of["health:1"] and refused == [("health:1", "social_care:3")]
    # One round, as the run did before: Y's links out, clustered again, not looked at again.
    once = EDGES[(EDGES["unique_id_l"] != "social_care:1") & (EDGES["unique_id_r"] != "social_care:1")]
    assert set(find(cluster_of, EDGES, None)) == {"social_care:1"}
    joined, _ = cluster(once, nodes)
    assert joined["social_care:3"] == joined["health:1"]          # Maisie's record in Macy's child
    cluster_of, refused, links, ambiguous = refuse_ambiguous(cluster_of, refused, EDGES, cluster, find)
    assert "social_care:1" in ambiguous and ambiguous.keys() & {"health:1", "social_care:3"}
    assert cluster_of["social_care:3"] != cluster_of["health:1"]
    assert not ((links["unique_id_l"] == "health:1") & (links["unique_id_r"] == "social_care:3")).any()


def test_a_record_the_checks_leave_alone_stays_linked():
    second = _siblings(population(RECORDS[:3]))
    edges = EDGES.iloc[:2]

    def cluster(links, among):
        return constrained_clusters(among, links.itertuples(index=False, name=None), (), IDS)

    cluster_of, refused = cluster(edges, [r["record_key"] for r in RECORDS[:3]])
    after, _, links, ambiguous = refuse_ambiguous(cluster_of, refused, edges, cluster,
                                                  lambda c, links, among: second(c, links))
    assert after == cluster_of and not ambiguous and len(links) == 2


def test_a_second_pass_join_a_sibling_fits_as_well_goes_to_review():
    # The second pass joins the GP's Maisie (a new surname) to Macy's child; Maisie's own school
    # record is a child of its own.
    records = [rec("education:1", "macy", upn="A1"), rec("education:2", "maisie", upn="B2"),
               rec("health:2", "maisie", nhs="N2", surname="shaw")]
    found = ClusterPass(links=[("education:1", "health:2")])
    clusters = {"education:1": "A", "education:2": "B", "health:2": "C"}
    refused = vet_joins(found, clusters, [], {}, _siblings(population(records)), "sibling", "refused")
    assert refused == [("education:1", "health:2")] and not found.links
    assert found.queue == [("education:1", "health:2", "sibling")]


def test_second_pass_joins_that_together_join_a_guarded_pair_or_two_nhs_numbers_go_to_review():
    records = [rec("education:1", "amy", upn="A1"), rec("health:1", "amy", nhs="N1"),
               rec("social_care:1", "amy", nhs="N9")]
    clusters = {"education:1": "A", "health:1": "B", "social_care:1": "C"}
    ids = {"health:1": {"nhs": "N1"}, "social_care:1": {"nhs": "N9"}}
    second = _siblings(population(records))
    found = ClusterPass(links=[("education:1", "health:1"), ("education:1", "social_care:1")])
    vet_joins(found, clusters, [], ids, second, "sibling", "refused")
    assert not found.links and {q[2] for q in found.queue} == {"refused"}
    found = ClusterPass(links=[("education:1", "health:1"), ("education:1", "social_care:1")])
    vet_joins(found, clusters, [("health:1", "social_care:1")], {}, second, "sibling", "refused")
    assert not found.links
    # One join alone, with nothing against it, is made.
    found = ClusterPass(links=[("education:1", "health:1")])
    assert vet_joins(found, clusters, [], ids, second, "sibling", "refused") == [] and found.links


def test_the_sibling_check_is_asked_only_about_links_of_two_forenames_or_a_swap():
    """``second_child_sql`` reads only links whose forenames differ or are swapped: the rest (a
    million records' 499,000 of 546,000 links) are left out before it joins every record whole."""
    from linkage.link.vet import _differing
    con = population([rec("education:1", "macy"), rec("health:1", "macy"), rec("social_care:1", "maisie"),
                      rec("education:2", "dua", surname="macy"), rec("health:2", None),
                      rec("social_care:2", "macy", surname="macy"), rec("education:3", "macy", surname="macy")])
    con.register("links_df", pd.DataFrame([("education:1", "health:1"), ("education:1", "social_care:1"),
                                           ("education:1", "education:2"), ("health:1", "health:2"),
                                           ("social_care:2", "education:3")], columns=LINKS))
    kept = set(con.execute(f"SELECT * FROM {_differing('links_df', 'link_input')}").fetchall())
    # Macy / Macy is one forename (left out); Macy / Maisie differ; Macy Dua / Dua Macy are swapped;
    # a missing forename is asked about; Macy Macy / Macy Macy is one forename, and swapped too.
    assert kept == {("education:1", "social_care:1"), ("education:1", "education:2"), ("health:1", "health:2"),
                    ("social_care:2", "education:3")}


class _Registers:
    """A real connection that also notes the rows of every relation registered on it."""

    def __init__(self, con: duckdb.DuckDBPyConnection):
        self.con, self.rows = con, {}

    def register(self, name, frame):
        self.rows[name] = frame.num_rows if hasattr(frame, "num_rows") else len(frame)
        return self.con.register(name, frame)

    def __getattr__(self, name):
        return getattr(self.con, name)


def test_a_call_of_few_links_hands_the_query_only_their_records_children():
    """Each of a run's sibling checks handed the query a table of every record's child (a million
    at 1M, a third of a call of a few hundred links); only the links' records are read from it, and
    whether a sibling is in another child is asked of the few found."""
    records = [rec("education:1", "macy", upn="A1"), rec("education:2", "maisie", upn="B2"),
               rec("health:2", "maisie", nhs="N2", dob="2015-05-17"),
               *(rec(f"health:{9 + i}", f"name{i}", nhs=f"N{9 + i}", surname=f"family{i}", postcode=f"LS{i} 1AA")
                 for i in range(300))]
    con = _Registers(population(records))
    clusters = {r["record_key"]: r["record_key"] for r in records} | {"health:2": "education:1"}
    links = pd.DataFrame([("education:1", "health:2")], columns=LINKS)
    assert second_children(con, "link_input", clusters, links) == {"health:2": ("education:1", "education:2")}
    assert con.rows["_second_clusters_df"] <= 2
    # Maisie's school record in the same child as the link: no second child in view.
    assert second_children(con, "link_input", clusters | {"education:2": "education:1"}, links) == {}
