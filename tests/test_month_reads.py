"""A month's second pass reaches a few thousand records of a million: the queries that read the
records its pairs name restrict the input to them before joining anything to it. A left join
written before ``WHERE unique_id IN (...)`` is not pushed below by DuckDB, which then joined every
record of the input (co-twins to each, or forename counts) and kept a few hundred: at 1M, 998,438
rows into ``reach``'s co-twin join and 983,384 into ``family_sql``'s forename join, each month."""

from __future__ import annotations

import json

from linkage.link.complement import family_sql
from linkage.link.reach import reach_sql
from test_cluster_evidence import rec
from test_queue_complement import _con


def _left_joins(node: dict) -> list[int]:
    """Rows each left join of an analysed plan (``EXPLAIN (ANALYZE, FORMAT JSON)``) gave."""
    extra = node.get("extra_info", {})
    own = ([node.get("operator_cardinality", 0)]
           if "JOIN" in node.get("operator_type", "") and extra.get("Join Type") == "LEFT" else [])
    return own + [n for c in node.get("children", []) for n in _left_joins(c)]


def _population(n: int) -> list[dict]:
    """``n`` families of twins the month did not reach (a co-twin each, so each is in ``cotwins``)."""
    return [rec(f"{s}:t{i}{k}", name, f"family{i}", dob=f"201{i % 10}-0{1 + i % 9}-1{i % 10}",
                postcode=f"LS{i} 1AA", upn=f"U{i}{k}" if s == "education" else None,
                nhs=f"N{i}{k}" if s == "health" else None)
            for i in range(n) for s in ("education", "health") for k, name in (("a", "amy"), ("b", "zoe"))]


def _analysed(tmp_path, reached: list[dict], children: dict[str, str], sql_of) -> tuple[list, list[int]]:
    con = _con(tmp_path, [*reached, *_population(150)], children)
    try:
        assert con.execute("SELECT count(*) FROM cotwins").fetchone()[0] >= 400
        sql = sql_of("link_input", "kids")
        rows = sorted(con.execute(sql).fetchall(), key=repr)
        plan = json.loads(con.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}").fetchall()[0][1])
    finally:
        con.close()
    return rows, _left_joins(plan)


def test_reach_reads_co_twins_only_of_the_records_its_keys_met(tmp_path):
    # Lexi Williams at school and at the GP, one middle name and birthday: the birthday key meets them.
    reached = [rec("education:1", "lexi", "williams", middle="faith", postcode="KY8 0HL", upn="A1"),
               rec("health:1", "lexi", "williams", middle="faith", postcode="HG3 1UU", nhs="N1")]
    children = {"education:1": "C1", "health:1": "C2"}
    rows, joins = _analysed(tmp_path, reached, children, lambda i, c: reach_sql(i, c, "cotwins"))
    assert {r[:4] for r in rows} == {("education:1", "health:1", "C1", "C2")}
    assert "birthday" in {r[4] for r in rows}
    assert joins and max(joins) <= len(children), joins


def test_family_pairs_read_forename_counts_only_of_the_records_they_met(tmp_path):
    # A GP record and a social care record with a typo in the forename and a birthday a day out.
    reached = [rec("health:1", "eliza", "mackeown", dob="2016-08-14", postcode="W4H 1TE", nhs="N1"),
               rec("social_care:1", "ekza", "mackeown", dob="2016-08-13", postcode=None)]
    children = {"health:1": "C1", "social_care:1": "C2"}
    rows, joins = _analysed(tmp_path, reached, children, family_sql)
    assert [r[:4] for r in rows] == [("health:1", "social_care:1", "C1", "C2")]
    assert joins and max(joins) <= len(children), joins
