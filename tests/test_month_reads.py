"""A month's second pass reaches a few thousand records of a million: the queries that read the
records its pairs name restrict the input to them before joining anything to it. A left join
written before ``WHERE unique_id IN (...)`` is not pushed below by DuckDB, which then joined every
record of the input (co-twins to each, or forename counts) and kept a few hundred: at 1M, 998,438
rows into ``reach``'s co-twin join and 983,384 into ``family_sql``'s forename join, each month."""

from __future__ import annotations

import json

from linkage.connectors.ingest import LINK_RECORDS_SQL
from linkage.link.complement import family_sql
from linkage.link.engine import LinkEngine
from linkage.link.reach import reach_sql
from linkage.store import Store
from linkage.store.schema import t
from test_cluster_evidence import rec
from test_queue_complement import _con
from test_registercounts import _month1, _month2


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


def _scanned(node: dict, table: str) -> list[int]:
    """Rows each scan of ``table`` in an analysed plan gave."""
    own = ([node.get("operator_cardinality", 0)] if "SCAN" in node.get("operator_name", node.get("operator_type", ""))
           and node.get("extra_info", {}).get("Table") == table else [])
    return own + [n for c in node.get("children", []) for n in _scanned(c, table)]


def test_a_months_records_to_derive_are_read_from_their_own_extracts_rows(tmp_path, synth_month1, synth_month2,
                                                                          trained_model, monkeypatch):
    # Month 2's GP list over month 1's linked store: its changed and new records are of its extract;
    # the school's and social care's current records (of extracts the cache holds) are not read for them.
    store = _month1(tmp_path / "m", synth_month1, trained_model)
    _month2(store, synth_month2, tmp_path)
    statements = []
    real = Store.execute
    monkeypatch.setattr(Store, "execute", lambda self, sql, params=None: statements.append(sql) or real(self, sql, params))
    month = LinkEngine(store, LINK_RECORDS_SQL, cache=True)
    month.settle()
    monkeypatch.undo()
    read = next(s for s in statements if s.startswith("CREATE OR REPLACE TABLE memory.link_fresh_records AS "))
    select = read.removeprefix("CREATE OR REPLACE TABLE memory.link_fresh_records AS ")
    fresh = sorted(r[0] for r in store.rows("SELECT k FROM memory.link_fresh"))
    assert 0 < len(fresh) == month.derived
    assert sorted(r[0] for r in store.rows(select)) == fresh      # the same records, each once
    plan = json.loads(store.rows(f"EXPLAIN (ANALYZE, FORMAT JSON) {select}")[0][1])
    scanned = _scanned(plan[0] if isinstance(plan, list) else plan, "records")
    gp = store.scalar(f"SELECT count(*) FROM {t('records')} WHERE extract_id = "
                      f"(SELECT max(extract_id) FROM {t('extracts')} WHERE source = 'health')")
    current = store.scalar(f"SELECT count(*) FROM ({LINK_RECORDS_SQL})")
    assert scanned and max(scanned) <= gp < current * 0.6, (scanned, gp, current)
    store.close()
