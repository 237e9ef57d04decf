"""The review queue of a data directory linked through the CLI (``/tmp/s24/la.sh``: the independent
generator's extracts), against its truth: per reason, the pairs that are one child, a pair of twins
(``twins.csv``) or two strangers, and what the two children's identifiers say (agree, conflict or
none, per kind, and whether one register holds both). ``--show twins,stranger`` prints those pairs'
two records.

    PYTHONPATH=src python benchmarks/queue_truth.py /tmp/la-home /tmp/s23/la-data --show stranger
"""

from __future__ import annotations

import argparse
import csv
from collections import Counter, defaultdict
from pathlib import Path

from linkage.connectors.ingest import LINK_RECORDS_SQL
from linkage.store import Store
from linkage.store.schema import t

SHOWN = "record_key, register, forename, middle_names, surname, sex, date_of_birth, postcode, upn, nhs_number"
KINDS = ("one", "twins", "stranger")


def _read(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _says(a: frozenset, b: frozenset) -> str:
    return "none" if not (a and b) else "agree" if a & b else "conflict"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("home", type=Path, help="the data directory (LINKAGE_HOME) after `linkage link`")
    ap.add_argument("data", type=Path, help="the extracts' directory, with truth.csv and twins.csv")
    ap.add_argument("--show", default="", help="print the pairs of these kinds (one, twins, stranger)")
    args = ap.parse_args()
    truth = {f"{r['source']}:{r['source_record_id']}": r["person"] for r in _read(args.data / "truth.csv")}
    twins = {frozenset((r["person_a"], r["person_b"])) for r in _read(args.data / "twins.csv")}
    store = Store(args.home)
    try:
        queue = store.rows(f"SELECT record_key_l, record_key_r, match_probability, reason FROM {t('review_queue')} "
                           "WHERE status = 'open' ORDER BY reason, record_key_l, record_key_r")
        child = dict(store.rows(f"SELECT record_key, child_id FROM {t('identity')}"))
        rows = store.rows(f"SELECT {SHOWN} FROM ({LINK_RECORDS_SQL})")
    finally:
        store.close()
    record = {r[0]: r for r in rows}
    held: dict[str, dict[str, set]] = defaultdict(lambda: defaultdict(set))
    for key, register, *_, upn, nhs in rows:
        kid = held[child.get(key)]
        kid["register"].add(register)
        kid["upn"].update([upn] if upn else [])
        kid["nhs"].update([nhs] if nhs else [])
    table, evidence, shown = Counter(), Counter(), []
    for left, right, p, why in queue:
        a, b = truth.get(left), truth.get(right)
        kind = "one" if a is not None and a == b else "twins" if frozenset((a, b)) in twins else "stranger"
        reason = why.split(" (")[0]
        table[reason, kind] += 1
        ca, cb = child.get(left), child.get(right)
        if ca == cb:
            said = "one child already"
        else:
            ha, hb = held[ca], held[cb]
            said = (f"upn {_says(frozenset(ha['upn']), frozenset(hb['upn']))}, "
                    f"nhs {_says(frozenset(ha['nhs']), frozenset(hb['nhs']))}, "
                    f"a register holds both: {bool(ha['register'] & hb['register'])}")
        evidence[reason[:40], said, kind] += 1
        if kind in args.show.split(","):
            shown.append((kind, why, p, record.get(left), record.get(right)))
    print(f"{'reason':72} {'pairs':>5} " + " ".join(f"{k:>8}" for k in KINDS))
    for reason in sorted({r for r, _ in table}):
        counts = [table[reason, k] for k in KINDS]
        print(f"{reason[:72]:72} {sum(counts):5} " + " ".join(f"{n:8}" for n in counts))
    one = sum(n for (_, k), n in table.items() if k == "one")
    print(f"{len(queue)} pairs, {one} one child ({one / max(len(queue), 1):.1%})\n")
    for (reason, said, kind), n in sorted(evidence.items()):
        print(f"{n:5}  {reason:40}  {said:60}  {kind}")
    for kind, why, p, left, right in shown:
        print(f"\n[{kind}] {why} p={p:.3f}\n   {left[1:] if left else None}\n   {right[1:] if right else None}")


if __name__ == "__main__":
    main()
