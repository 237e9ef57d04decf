"""Pairs of children with a new surname and a move's shape, against the truth: does a piece of
cluster evidence tell one child from two? (read-only; session 30, issue 11's unqueued pairs)

    python benchmarks/shape_evidence.py HOME DATA

HOME is a linked home, DATA holds its ``truth.csv``. Pairs of children (``identity``) with a
record each sharing the forename's sound code, born within 31 days in one year, no source held by
both; counted by the best record pair's shape (same forename written, days apart, surname or
postcode shared), against two pieces of evidence:

* **left over**: each child lacks a source that at least ``COVER`` of the children born in its
  year hold, and the other child holds it (each half of a split child missing the other's source);
* **former surname**: a record of either child holds a former surname (whatever it says).

``one``: pairs that are one child in the truth; ``queued``: a queued record pair joins the two.
"""

from __future__ import annotations

import sys
from pathlib import Path

import duckdb
import pandas as pd

from linkage.store import Store
from linkage.store.schema import t

COVER = 0.8


def main(home: Path, data: Path) -> None:
    s = Store(home, read_only=True)
    rec = s.df(f"""SELECT x.unique_id, split_part(x.source_dataset, ':', 1) AS src, x.forename, x.forename_dm,
      x.surname, x.dob, x.postcode, x.former_surname, i.child_id
      FROM {t('link_input_cache')} x JOIN {t('identity')} i ON i.record_key = x.unique_id""")
    queue = s.df(f"SELECT record_key_l AS l, record_key_r AS r FROM {t('review_queue')} WHERE status = 'open'")
    s.close()
    truth = pd.read_csv(data / "truth.csv", dtype=str)
    truth["unique_id"] = truth["source"] + ":" + truth["source_record_id"]
    rec = rec.merge(truth[["unique_id", "person"]], on="unique_id", how="left")
    con = duckdb.connect()
    con.register("rec_df", rec)
    con.register("queue_df", queue)
    con.execute("CREATE TABLE rec AS SELECT * FROM rec_df")
    con.execute("""CREATE TABLE kid AS SELECT child_id, list_sort(list_distinct(list(src))) AS srcs, year(min(dob)) AS y,
      bool_or(coalesce(trim(former_surname), '') <> '') AS fs FROM rec GROUP BY 1""")
    con.execute("""CREATE TABLE cover AS SELECT y, s AS src, count(*)::DOUBLE / any_value(n) AS share FROM
      (SELECT y, unnest(srcs) AS s, count(*) OVER (PARTITION BY y) AS n FROM kid) GROUP BY y, s""")
    con.execute(f"""CREATE TABLE lacks AS SELECT k.child_id, list(c.src) AS lacks FROM kid k JOIN cover c ON c.y = k.y
      WHERE c.share >= {COVER} AND NOT list_contains(k.srcs, c.src) GROUP BY 1""")
    con.execute("""CREATE TABLE lr AS SELECT r.*, k.srcs, k.fs, l.lacks FROM rec r JOIN kid k USING (child_id)
      LEFT JOIN lacks l USING (child_id)""")
    con.execute("""CREATE TABLE kp AS SELECT a.child_id AS ca, b.child_id AS cb, bool_or(a.person = b.person) AS one,
      min(abs(date_diff('day', a.dob, b.dob))) AS dd, bool_or(a.forename = b.forename) AS same_fn,
      bool_or(a.surname = b.surname OR a.postcode = b.postcode) AS shared,
      bool_or(a.lacks IS NOT NULL AND list_has_any(a.lacks, b.srcs) AND b.lacks IS NOT NULL
              AND list_has_any(b.lacks, a.srcs)) AS left_over,
      bool_or(a.fs OR b.fs) AS former
      FROM lr a JOIN lr b ON coalesce(a.forename_dm, a.forename) = coalesce(b.forename_dm, b.forename)
        AND a.child_id < b.child_id AND year(a.dob) = year(b.dob) AND abs(date_diff('day', a.dob, b.dob)) <= 31
      WHERE NOT list_has_any(a.srcs, b.srcs) GROUP BY 1, 2""")
    con.execute("""CREATE TABLE qk AS SELECT DISTINCT least(a.child_id, b.child_id) AS ca, greatest(a.child_id, b.child_id) AS cb
      FROM queue_df q JOIN rec a ON a.unique_id = q.l JOIN rec b ON b.unique_id = q.r""")
    for piece in ("left_over", "former"):
        print(con.execute(f"""SELECT {piece}, same_fn, CASE WHEN dd = 0 THEN 'same day' WHEN dd <= 1 THEN '1 day'
            WHEN dd <= 7 THEN '2-7 days' ELSE '8-31 days' END AS born, count(*) AS pairs, sum(one::INT) AS one,
            sum((q.ca IS NOT NULL)::INT) AS queued, sum((one AND q.ca IS NULL)::INT) AS one_not_queued
            FROM kp LEFT JOIN qk q USING (ca, cb) WHERE NOT coalesce(shared, false) GROUP BY ALL ORDER BY ALL""").df()
              .to_string(index=False))


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
