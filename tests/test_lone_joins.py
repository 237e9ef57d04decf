"""The second pass's queue rules keep only pairs of two children holding no source in common, so one
of the two lacks the source most children hold: ``reach``'s keys and ``complement.family_sql`` meet
their pairs from such a child's rows only. At 1,000,000 realistic records the GP's children are 85% of
the records, and the pairs of two of them, every one dropped in the end, were most of what the
joins formed (docs/benchmarks.md, "Session 36: pipe3")."""

from __future__ import annotations

import json

from linkage.link.complement import family_sql
from linkage.link.evidence import ClusterPass
from linkage.link.reach import lone_sql, reach_pairs, reach_sql
from test_cluster_evidence import rec
from test_queue_complement import _con


def _operators(node: dict) -> list[tuple[str, dict, int]]:
    """(operator type, extra info, rows out) of every operator of an analysed plan."""
    own = [(node.get("operator_type", ""), node.get("extra_info", {}), node.get("operator_cardinality", 0))]
    return own + [o for c in node.get("children", []) for o in _operators(c)]


def _namesakes(n: int) -> tuple[list[dict], dict[str, str]]:
    """``n`` children held by the school and the GP, every record of one middle name, birthday and
    surname (a school year of one family name: what a key's join pairs by the square)."""
    records, children = [], {}
    for i in range(n):
        for s in ("education", "health"):
            records.append(rec(f"{s}:x{i}", f"name{i}", "smith", middle="grace", dob="2015-04-07",
                               postcode=f"N{i} 1AA", upn=f"U{i}" if s == "education" else None,
                               nhs=f"X{i}" if s == "health" else None))
            children[f"{s}:x{i}"] = f"X{i}"
    return records, children


# Lexi Smith at school, and at the GP under a typed forename, born the same day, middle name Grace.
_PAIR = [rec("education:1", "lexi", "smith", middle="grace", postcode="KY8 0HL", upn="A1"),
         rec("health:1", "lexxi", "smith", middle="grace", postcode="HG3 1UU", nhs="N1"),
         rec("social_care:1", "maya", "jones", dob="2009-01-02", postcode="LS1 1AA")]
_CHILDREN = {"education:1": "C1", "health:1": "C2", "social_care:1": "C3"}


def _analysed(tmp_path, sql_of) -> tuple[list, list[tuple[str, dict, int]], dict[str, str]]:
    others, children = _namesakes(40)
    children = {**_CHILDREN, **children}
    con = _con(tmp_path, [*_PAIR, *others], children)
    try:
        sql = sql_of("link_input", "kids")
        rows = con.execute(sql).fetchall()
        plan = json.loads(con.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}").fetchall()[0][1])
        lone = sorted(c for (c,) in con.execute(lone_sql("kids")).fetchall())
        found = ClusterPass()
        reach_pairs(con, "link_input", "kids", "cotwins", found, children, [])
    finally:
        con.close()
    # 41 school and 41 GP records: "education" sorts first, so its lone children lack it.
    assert lone == ["C2", "C3"]
    assert [(a, b) for a, b, _ in found.queue] == [("education:1", "health:1")]
    return rows, _operators(plan), children


def test_reach_meets_no_pair_of_two_children_holding_the_commonest_source(tmp_path):
    rows, ops, _ = _analysed(tmp_path, lambda i, c: reach_sql(i, c, "cotwins"))
    assert {r[:4] for r in rows} >= {("education:1", "health:1", "C1", "C2")}
    # Each of the 80 namesakes' school records met each other child's GP record by middle name and
    # birthday (3,160 pairs a key); now only the two lone children's records are met, each against all.
    joined = [n for kind, extra, n in ops if kind == "HASH_JOIN" and extra.get("Join Type") == "INNER"]
    assert joined and max(joined) <= 2 * 83, joined


def test_family_pairs_are_met_from_the_lone_childrens_rows(tmp_path):
    rows, ops, children = _analysed(tmp_path, family_sql)
    assert [r[:4] for r in rows] == [("education:1", "health:1", "C1", "C2")]
    # Each row under its families (surname, its consonants, the home): 83 records, about 250 rows; every
    # namesake's row wanting the social care child's sources, from its span and the next, were 480 more.
    unnested = [n for kind, _, n in ops if kind == "UNNEST"]
    assert unnested and max(unnested) <= 3 * len(children), unnested
