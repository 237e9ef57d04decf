"""The review queue of a bench_link run, each pair with its two children's evidence and the truth:
which queued pairs hold enough to be linked without a reviewer. Reads the work directory (the
store through in-memory tables only) and writes a CSV; prints the true share by reason and evidence.

    python benchmarks/queue_evidence.py /tmp/x/synth-135000-42-realistic --csv q.csv
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

FEATURES_SQL = """
WITH c AS (SELECT * FROM _clusters),
i AS (SELECT x.*, c.cluster_id, x.unique_id IN (SELECT unique_id FROM memory.cotwins) AS has_cotwin
      FROM memory.link_input x JOIN c USING (unique_id)),
wanted AS (SELECT ca AS cluster_id FROM _q UNION SELECT cb FROM _q),
past AS (SELECT h.record_key AS unique_id, upper(regexp_replace(h.postcode, '[^A-Za-z0-9]', '', 'g')) AS pc
         FROM {history} h WHERE h.postcode IS NOT NULL),
kids AS (
  SELECT cluster_id, count(*) AS size,
    list(DISTINCT source_dataset) AS sources,
    coalesce(list(DISTINCT upn) FILTER (WHERE upn IS NOT NULL), []) AS upns,
    coalesce(list(DISTINCT nhs_number) FILTER (WHERE nhs_number IS NOT NULL), []) AS nhss,
    coalesce(list(DISTINCT sex) FILTER (WHERE sex IN ('M', 'F')), []) AS sexes,
    coalesce(list(DISTINCT split_part(middle_names, ' ', 1)) FILTER (WHERE coalesce(middle_names, '') <> ''), [])
      AS middles,
    list_distinct(flatten(list(surname_all))) AS surnames,
    list_distinct(flatten(list(forename_keys))) AS fkeys,
    coalesce(list(DISTINCT forename) FILTER (WHERE forename IS NOT NULL), []) AS forenames,
    coalesce(list(DISTINCT dob) FILTER (WHERE dob IS NOT NULL), []) AS dobs,
    coalesce(list(DISTINCT upper(regexp_replace(postcode, '[^A-Za-z0-9]', '', 'g')))
             FILTER (WHERE postcode IS NOT NULL), []) AS postcodes,
    bool_or(has_cotwin) AS cotwin
  FROM i WHERE cluster_id IN (SELECT cluster_id FROM wanted) GROUP BY cluster_id),
hist AS (SELECT i.cluster_id, list(DISTINCT p.pc) AS pcs FROM past p JOIN i USING (unique_id)
         WHERE i.cluster_id IN (SELECT cluster_id FROM wanted) GROUP BY i.cluster_id)
SELECT q.*, a.size AS size_a, b.size AS size_b,
  list_has_any(a.sources, b.sources) AS share_source,
  CASE WHEN len(a.upns) = 0 OR len(b.upns) = 0 THEN 'none' WHEN list_has_any(a.upns, b.upns) THEN 'agree'
       ELSE 'conflict' END AS upn,
  CASE WHEN len(a.nhss) = 0 OR len(b.nhss) = 0 THEN 'none' WHEN list_has_any(a.nhss, b.nhss) THEN 'agree'
       ELSE 'conflict' END AS nhs,
  len(list_distinct(list_concat(a.sexes, b.sexes))) > 1 AS sex_conflict,
  CASE WHEN len(a.middles) = 0 OR len(b.middles) = 0 THEN 'none'
       WHEN list_has_any(a.middles, b.middles) THEN 'agree' ELSE 'conflict' END AS middle,
  list_has_any(a.surnames, b.surnames) AS surname,
  list_has_any(a.forenames, b.forenames) AS forename_exact,
  list_has_any(a.fkeys, b.fkeys) AS forename_key,
  list_has_any(a.dobs, b.dobs) AS dob_exact,
  list_has_any(list_concat(a.postcodes, coalesce(ha.pcs, [])), list_concat(b.postcodes, coalesce(hb.pcs, [])))
    AS home,
  coalesce(a.cotwin OR b.cotwin, false) AS cotwin
FROM _q q JOIN kids a ON a.cluster_id = q.ca JOIN kids b ON b.cluster_id = q.cb
LEFT JOIN hist ha ON ha.cluster_id = q.ca LEFT JOIN hist hb ON hb.cluster_id = q.cb"""


def features(work: Path) -> pd.DataFrame:
    from miss_classes import reason_of

    from linkage.connectors.ingest import CURRENT_RECORDS_SQL
    from linkage.link import load_truth
    from linkage.link.engine import LinkEngine
    from linkage.store import Store
    from linkage.store.schema import t

    truth = load_truth(work / "extracts" / "truth.csv")
    pred = json.loads((work / "ours_pred.json").read_text())
    queue = json.loads((work / "ours_queue.json").read_text())
    q = pd.DataFrame([(a, b, pred[a], pred[b], reason_of(w), w, truth.get(a) is not None and truth.get(a) == truth.get(b))
                      for a, b, w in queue if a in pred and b in pred],
                     columns=["l", "r", "ca", "cb", "reason", "why", "true"])
    degree = Counter([*q["ca"], *q["cb"]])
    q["degree"] = [max(degree[a], degree[b]) for a, b in zip(q["ca"], q["cb"])]
    store = Store(work / "ours")
    try:
        LinkEngine(store, CURRENT_RECORDS_SQL)
        con = store.connection
        con.register("_q", q)
        con.register("_clusters", pd.DataFrame({"unique_id": list(pred), "cluster_id": list(pred.values())}))
        out = con.execute(FEATURES_SQL.format(history=t("address_history"))).df()
    finally:
        store.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("work", type=Path)
    ap.add_argument("--csv", type=Path)
    args = ap.parse_args()
    f = features(args.work)
    if args.csv:
        f.to_csv(args.csv, index=False)
    cols = ["upn", "nhs", "middle", "surname", "home", "forename_exact", "dob_exact", "cotwin", "share_source"]
    g = f.groupby(["reason", *cols]).agg(n=("true", "size"), true=("true", "sum")).reset_index()
    print(g.sort_values("n", ascending=False).head(60).to_string())


if __name__ == "__main__":
    main()
