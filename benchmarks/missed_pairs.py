"""The true pairs a bench_link run left in two children and did not queue, and why.

Reads a bench_link work directory (``ours/`` store, ``ours_pred.json``, ``ours_queue.json``,
``extracts/truth.csv`` and ``truth_classes.csv``) and prints, for each missed true pair that no
queued pair reaches, the injected class, what the model did with it (scored and linkable,
scored in the review band, scored below it, twin-guarded, or never compared) and which fields
agree. The store is opened read-only in spirit: only in-memory tables are made.

    python benchmarks/missed_pairs.py /tmp/x/synth-20000-42-realistic [--csv out.csv]
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections import Counter, defaultdict
from itertools import combinations
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

FIELDS = ("forename", "surname", "middle", "dob", "sex", "postcode", "upn", "nhs")


def missed_not_queued(work: Path) -> tuple[list[tuple[str, str]], dict[str, str], dict[str, str]]:
    from linkage.link import load_truth

    truth = load_truth(work / "extracts" / "truth.csv")
    pred = json.loads((work / "ours_pred.json").read_text())
    queue = json.loads((work / "ours_queue.json").read_text())
    joined = {frozenset((pred.get(a), pred.get(b))) for a, b, _ in queue}
    by_person: dict[str, list[str]] = defaultdict(list)
    for k, p in truth.items():
        if k in pred:
            by_person[p].append(k)
    out = []
    for keys in by_person.values():
        for a, b in combinations(sorted(keys), 2):
            if pred[a] != pred[b] and frozenset((pred[a], pred[b])) not in joined:
                out.append((a, b))
    return out, pred, truth


def _classes(work: Path) -> dict[str, set[str]]:
    classes: dict[str, set[str]] = defaultdict(set)
    path = work / "extracts" / "truth_classes.csv"
    if path.exists():
        with open(path, newline="", encoding="utf-8") as fh:
            for r in csv.DictReader(fh):
                classes[f"{r['source']}:{r['source_record_id']}"].add(r["class"])
    return classes


def describe(work: Path) -> pd.DataFrame:
    from linkage.connectors.ingest import CURRENT_RECORDS_SQL
    from linkage.link.engine import INPUT, LinkEngine
    from linkage.store import Store

    pairs, pred, truth = missed_not_queued(work)
    classes = _classes(work)
    store = Store(work / "ours")
    try:
        LinkEngine(store, CURRENT_RECORDS_SQL)      # builds memory.link_input
        con = store.connection
        con.register("_mp", pd.DataFrame(pairs, columns=["l", "r"]))
        frame = con.execute(f"""
SELECT p.l, p.r, l.source_dataset AS src_l, r.source_dataset AS src_r,
  l.forename AS fn_l, r.forename AS fn_r, l.surname AS sn_l, r.surname AS sn_r,
  l.middle_names AS mn_l, r.middle_names AS mn_r, l.dob AS dob_l, r.dob AS dob_r,
  l.postcode AS pc_l, r.postcode AS pc_r, l.upn AS upn_l, r.upn AS upn_r, l.nhs_number AS nhs_l, r.nhs_number AS nhs_r,
  coalesce(l.forename = r.forename OR list_has_any(l.forename_keys, r.forename_keys), false) AS forename,
  coalesce(l.surname = r.surname OR list_has_any(l.surname_all, r.surname_all), false) AS surname,
  CASE WHEN l.middle_names IS NULL OR r.middle_names IS NULL THEN NULL
       ELSE split_part(l.middle_names, ' ', 1) = split_part(r.middle_names, ' ', 1) END AS middle,
  l.dob = r.dob AS dob, CASE WHEN l.sex IN ('M','F') AND r.sex IN ('M','F') THEN l.sex = r.sex END AS sex,
  l.postcode = r.postcode AS postcode, l.upn = r.upn AS upn, l.nhs_number = r.nhs_number AS nhs,
  e.match_probability, e.match_weight, e.guarded
FROM _mp p JOIN memory.{INPUT} l ON l.unique_id = p.l JOIN memory.{INPUT} r ON r.unique_id = p.r
LEFT JOIN store.link_edges e ON (e.record_key_l = p.l AND e.record_key_r = p.r)
                             OR (e.record_key_l = p.r AND e.record_key_r = p.l)""").df()
        con.unregister("_mp")
    finally:
        store.close()
    frame["class"] = [",".join(sorted(classes.get(a, set()) | classes.get(b, set()))) or "(none)"
                      for a, b in zip(frame["l"], frame["r"])]

    def model(p, g) -> str:
        if pd.isna(p):
            return "never compared"
        if bool(g) if not pd.isna(g) else False:
            return "twin-guarded"
        return "linkable (>=0.5)" if p >= 0.5 else "band (0.2-0.5)" if p >= 0.2 else "scored below 0.2"

    frame["model"] = [model(p, g) for p, g in zip(frame["match_probability"], frame["guarded"])]
    frame["disagree"] = [" ".join(f for f in FIELDS if r[f] is False or r[f] == 0) or "-"
                         for r in frame[list(FIELDS)].to_dict("records")]
    return frame


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("work", type=Path)
    ap.add_argument("--csv", type=Path)
    args = ap.parse_args()
    frame = describe(args.work)
    print(f"{len(frame)} missed true pairs not queued")
    print("\nby class and what the model did:")
    for (c, m), n in Counter(zip(frame["class"], frame["model"])).most_common():
        print(f"  {n:6}  {c:40} {m}")
    print("\nby fields that disagree (model outcome):")
    for (d, m), n in Counter(zip(frame["disagree"], frame["model"])).most_common(40):
        print(f"  {n:6}  {d:45} {m}")
    if args.csv:
        frame.to_csv(args.csv, index=False)


if __name__ == "__main__":
    main()
