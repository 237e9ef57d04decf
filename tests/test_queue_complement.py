"""Issue 11: every true pair the model cannot decide is in the queue (``link/complement.py``).

Small constructed populations in a real DuckDB file, through the real features SQL and the
second pass's SQL, as in ``test_cluster_evidence``. Each test has a twin that must stay out.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd

from linkage.link.complement import (COMPLEMENT_REASON, complementary_guarded, family_pairs, partner_cohorts,
                                     shared_identifiers)
from linkage.link.evidence import ClusterPass, candidates_sql, clusters_arrow, decide
from test_cluster_evidence import input_tables, rec


def _con(tmp_path: Path, records: list[dict], children: dict[str, str]) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(str(tmp_path / "queue.duckdb"))
    input_tables(con, records)
    upn = {r["record_key"]: r["upn"] for r in records}
    nhs = {r["record_key"]: r["nhs_number"] for r in records}
    con.register("kids_df", pd.DataFrame({"unique_id": list(children), "cluster_id": list(children.values()),
                                          "upn_root": [upn[k] for k in children],
                                          "nhs": [nhs[k] for k in children]}).astype("string"))
    con.execute("CREATE TABLE kids AS SELECT * FROM kids_df")
    return con


def _namesake_children(n: int, sources: tuple[str, ...]) -> tuple[list[dict], dict[str, str]]:
    """``n`` other children called Harper born in 2015 (none in April), each held by ``sources``."""
    records, children = [], {}
    for i in range(n):
        dob = f"2015-{1 + i % 11 + (i % 11 >= 3):02d}-{20 + i % 8}"
        for s in sources:
            records.append(rec(f"{s}:x{i}", "harper", f"other{i}", dob=dob, postcode=f"N{i} 1AA",
                               upn=f"U{i}" if s == "education" else None, nhs=f"X{i}" if s == "health" else None))
            children[f"{s}:x{i}"] = f"X{i}"
    return records, children


def _queued(tmp_path, namesake_sources: tuple[str, ...]) -> list[tuple[str, str]]:
    # A school record and a GP record of one Harper: a new surname and a move, nothing else in common.
    pair = [rec("education:1", "harper", "rocca", postcode="W5 1PW", upn="A1"),
            rec("health:1", "harper", "duhig", postcode="GL7 1AB", address="9 old lane", nhs="N1")]
    others, children = _namesake_children(30, namesake_sources)
    children = {"education:1": "C1", "health:1": "C2", **children}
    con = _con(tmp_path, [*pair, *others], children)
    rows = con.execute(candidates_sql("link_input", "kids", "cotwins")).df()
    rows = partner_cohorts(con, rows, "link_input", "kids")
    con.close()
    return [(a, b) for a, b, _ in decide(rows.to_dict("records"), [], children).queue]


def test_namesakes_who_hold_both_sources_cannot_be_the_other_half(tmp_path):
    # Thirty other Harpers born in 2015, each on a school roll *and* a GP list: none of them can
    # be the GP half of a school-only child, so the pair is not a likely coincidence; queued.
    assert _queued(tmp_path, ("education", "health")) == [("education:1", "health:1")]


def test_namesakes_missing_the_same_source_still_make_a_coincidence(tmp_path):
    # The same thirty Harpers known only to GPs: each could be the school child's GP record, so
    # one of them sharing the birthday is as likely as before; not queued.
    assert _queued(tmp_path, ("health",)) == []


def _family(tmp_path, extra: list[dict], children: dict[str, str], apart=()) -> ClusterPass:
    # A GP record, and a social care record with a typo in the forename, a birthday a day out
    # and no postcode: no blocking rule and no second-pass key brings them together.
    records = [rec("health:1", "eliza", "mackeown", dob="2016-08-14", postcode="W4H 1TE", nhs="N1"),
               rec("social_care:1", "ekza", "mackeown", dob="2016-08-13", postcode=None), *extra]
    children = {"health:1": "C1", "social_care:1": "C2", **children}
    con = _con(tmp_path, records, children)
    found = ClusterPass()
    family_pairs(con, "link_input", "kids", found, children, list(apart))
    con.close()
    return found


def test_a_family_forename_spelling_and_near_birthday_in_complementary_children_is_queued(tmp_path):
    found = _family(tmp_path, [], {})
    assert [(a, b) for a, b, _ in found.queue] == [("health:1", "social_care:1")]
    assert "birthday within a month" in found.queue[0][2]


def test_two_children_each_with_a_gp_record_are_not_queued_as_one(tmp_path):
    # The social care child has its own GP record: a source holds both children, so two children.
    extra = [rec("health:2", "ekza", "mackeown", dob="2016-08-13", postcode="W4H 1TE", nhs="N2")]
    assert _family(tmp_path, extra, {"health:2": "C2"}).queue == []


def test_a_reviewers_not_a_match_keeps_the_family_pair_out(tmp_path):
    assert _family(tmp_path, [], {}, apart=[("health:1", "social_care:1")]).queue == []


def test_guarded_pairs_are_queued_only_between_complementary_children():
    edges = pd.DataFrame({"unique_id_l": ["education:1", "education:1"], "unique_id_r": ["health:1", "health:2"],
                          "match_probability": [0.99, 0.98], "match_weight": [8.0, 7.0]})
    # education:1 (Isaac) and health:1 (Zke) alone; health:2's child already has a school record.
    cluster_of = {"education:1": "C1", "health:1": "C2", "health:2": "C3", "education:2": "C3"}
    band = complementary_guarded(edges, cluster_of)
    assert list(zip(band["unique_id_l"], band["unique_id_r"])) == [("education:1", "health:1")]
    assert list(band["reason"]) == [COMPLEMENT_REASON]


def test_one_identifier_in_two_complementary_children_is_queued_unless_kept_apart():
    # A school-only child and a social-care-only child with one UPN; two GP records of two
    # children with one NHS number (one source holds both: a number typed against the wrong child).
    cluster_of = {"education:1": "C1", "social_care:1": "C2", "health:1": "C3", "health:2": "C4"}
    ids = {"education:1": {"upn": "P1", "nhs": None}, "social_care:1": {"upn": "P1", "nhs": None},
           "health:1": {"upn": None, "nhs": "N1"}, "health:2": {"upn": None, "nhs": "N1"}}
    con = duckdb.connect()
    con.register("kids", clusters_arrow(cluster_of, ids))
    found = ClusterPass()
    shared_identifiers(con, "kids", found, cluster_of, [])
    assert [(a, b) for a, b, _ in found.queue] == [("education:1", "social_care:1")]
    kept = ClusterPass()
    shared_identifiers(con, "kids", kept, cluster_of, [("social_care:1", "education:1")])
    assert kept.queue == []


def test_no_guarded_pairs_gives_an_empty_band_with_its_columns():
    """A month whose delta has no guarded pair (the usual case) must not break the run."""
    import pandas as pd
    from linkage.link.complement import complementary_guarded

    empty = pd.DataFrame({c: pd.Series(dtype="object") for c in
                          ["unique_id_l", "unique_id_r", "match_probability", "match_weight", "guarded"]})
    band = complementary_guarded(empty, {})
    assert band.empty
    assert list(band.columns) == ["unique_id_l", "unique_id_r", "match_probability", "match_weight", "reason"]


def _namesakes_of(n: int) -> tuple[list[dict], dict[str, str]]:
    """``n`` other children called Eliza Mackeown, one every two months of 2012 to 2019, each with
    a GP record only (so each could be the other half of a school-only child)."""
    records = [rec(f"health:n{i}", "eliza", "mackeown", dob=f"{2012 + i // 6}-{1 + 2 * (i % 6):02d}-02",
                   postcode=f"N{i} 1AA", nhs=f"X{i}") for i in range(n)]
    return records, {r["record_key"]: f"N{i}" for i, r in enumerate(records)}


def test_a_full_name_common_enough_for_namesakes_born_that_near_is_not_queued(tmp_path):
    # Forty-eight other Eliza Mackeowns over eight years: about one is born within a month of any
    # birthday by chance, so a pair with nothing but the near birthday is no evidence of one child.
    extra, children = _namesakes_of(48)
    assert _family(tmp_path, extra, children).queue == []


def test_a_pair_at_one_home_is_queued_however_common_the_name(tmp_path):
    extra, children = _namesakes_of(48)
    records = [rec("health:1", "eliza", "mackeown", dob="2016-08-14", postcode="W4H 1TE", nhs="N1"),
               rec("social_care:1", "ekza", "mackeown", dob="2016-08-13", postcode="W4H 1TE"), *extra]
    children = {"health:1": "C1", "social_care:1": "C2", **children}
    con = _con(tmp_path, records, children)
    found = ClusterPass()
    family_pairs(con, "link_input", "kids", found, children, [])
    con.close()
    assert ("health:1", "social_care:1") in [(a, b) for a, b, _ in found.queue]


def test_queue_moved_queues_the_best_judged_pair_of_each_two_children_in_key_order():
    """``queue_moved``, the shape of the ``changed`` and ``household`` rules: picked pairs the pass
    has not settled are asked, unanswered or unjudged ones dropped, one pair per two children (the
    best rank) queued in key order; ``ask_all`` asks the settled picked pairs too."""
    from linkage.link.complement import queue_moved

    rows = pd.DataFrame({"l": ["a:3", "a:1", "a:2", "a:5", "a:7", "a:9"],
                         "r": ["b:3", "b:1", "b:2", "b:5", "b:7", "b:9"],
                         "ca": ["K1", "K1", "K3", "K5", "K7", "K9"], "cb": ["K2", "K2", "K4", "K6", "K8", "K0"],
                         "moved": [True, True, True, True, True, False], "score": [2, 5, 1, 1, 1, 9]})
    cluster_of = {**dict(zip(rows["l"], rows["ca"])), **dict(zip(rows["r"], rows["cb"]))}
    asked: list[set] = []

    def sql(table: str) -> str:
        asked.append({r[0] for r in con.execute(f"SELECT l FROM {table}").fetchall()})
        # a:7 goes unanswered; each answer is a pair's score doubled
        return f"SELECT l, r, 2 AS twice FROM {table} WHERE l <> 'a:7'"

    def judge(row: dict, answer: list) -> tuple | None:
        if row["score"] < 2 and row["l"] != "a:2":
            return None
        return (row["score"] * answer[0], row["l"], row["r"]), f"score {row['score']}"

    con = duckdb.connect()
    found = ClusterPass(queue=[("a:5", "b:5", "earlier")])
    queue_moved(con, rows, found, cluster_of, [], pick=lambda r: r["moved"], table="_t", sql=sql, judge=judge)
    # K5-K6 settled (queued already), a:7 unanswered, a:9 not picked; K1-K2 once, by its best (a:1)
    assert found.queue == [("a:5", "b:5", "earlier"), ("a:1", "b:1", "score 5"), ("a:2", "b:2", "score 1")]
    assert asked == [{"a:1", "a:2", "a:3", "a:7"}]
    found = ClusterPass(queue=[("a:5", "b:5", "earlier")])
    queue_moved(con, rows, found, cluster_of, [("a:2", "b:2")], pick=lambda r: r["moved"], table="_t", sql=sql,
                judge=judge, ask_all=True)
    assert found.queue == [("a:5", "b:5", "earlier"), ("a:1", "b:1", "score 5")]
    assert asked[1] == {"a:1", "a:2", "a:3", "a:5", "a:7"}
