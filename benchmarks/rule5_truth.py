"""Prediction rule 5 (a birthday and a surname initial, narrowed by a forename or surname alike),
the one rule whose key space is bounded (its pairs grow as the square of the population): the
pairs it finds, by whether another rule finds them too (``other``; NULL: no) and whether an
equality sub-block would keep them (``equi``: a forename initial, sound code or nickname key, a
surname or surname token in common, or no forename) or only its Jaro-Winkler tests do; with how
many are one child (the extracts' truth.csv), how many our link put in one child (``PRED``:
record -> child JSON, as bench_link writes), and how many the linked HOME's last run scored.

    python benchmarks/rule5_truth.py HOME EXTRACTS PRED.json     # HOME: a copy (the input cache is written)
"""
import json, sys
from pathlib import Path
import pandas as pd
from linkage.connectors.ingest import CURRENT_RECORDS_SQL
from linkage.link import spec
from linkage.link.engine import LinkEngine, INPUT
from linkage.store import Store
home, extracts, pred = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
store = Store(home)
e = LinkEngine(store, CURRENT_RECORDS_SQL, cache=True)
con = e.con
truth = pd.read_csv(extracts / "truth.csv", dtype=str)
truth["unique_id"] = truth["source"] + ":" + truth["source_record_id"]
con.register("truth_df", truth[["unique_id", "person"]])
p = json.loads(pred.read_text())
con.register("pred_df", pd.DataFrame({"unique_id": list(p), "child": list(p.values())}))
con.execute(f"CREATE TABLE memory.r AS SELECT row_number() OVER () AS rid, i.*, t.person, q.child FROM memory.{INPUT} i "
            "LEFT JOIN truth_df t USING (unique_id) LEFT JOIN pred_df q USING (unique_id)")
print("records", con.execute("SELECT count(*), count(person), count(child) FROM memory.r").fetchone())
rules = [r if isinstance(r, str) else r.get_blocking_rule("duckdb").blocking_rule_sql for r in spec.PREDICTION_RULES]
five = rules[5]
others = " OR ".join(f"({r})" for k, r in enumerate(rules) if k != 5)
equi = ("(l.forename IS NULL OR r.forename IS NULL OR l.forename_initial = r.forename_initial "
        "OR l.forename_dm = r.forename_dm OR list_has_any(l.forename_keys, r.forename_keys) "
        "OR l.surname = r.surname OR list_has_any(l.surname_all, r.surname_all))")
con.execute(f"CREATE TABLE memory.five AS SELECT l.rid AS a, r.rid AS b, ({others}) AS other, {equi} AS equi, "
            "l.person = r.person AS same, l.child = r.child AS linked "
            f"FROM memory.r l JOIN memory.r r ON ({five}) AND l.rid < r.rid")
con.execute("CREATE TABLE memory.ed AS SELECT least(record_key_l, record_key_r) AS x, greatest(record_key_l, record_key_r) AS y, "
            "match_probability FROM store.link_edges")
print(con.execute("SELECT f.other, f.equi, count(*) AS pairs, count(*) FILTER (WHERE same) AS one_child, "
                  "count(*) FILTER (WHERE same AND linked) AS one_child_linked, count(e.x) AS in_edges, "
                  "count(*) FILTER (WHERE e.match_probability >= 0.5) AS edges_over_half "
                  "FROM memory.five f JOIN memory.r a ON a.rid = f.a JOIN memory.r b ON b.rid = f.b "
                  "LEFT JOIN memory.ed e ON e.x = least(a.unique_id, b.unique_id) AND e.y = greatest(a.unique_id, b.unique_id) "
                  "GROUP BY ALL ORDER BY ALL").df().to_string())
store.close()
