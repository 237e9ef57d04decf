"""Which step of a link grows faster than the records, and why: each prediction rule's blocked
pairs, Splink's predict and each step of the second pass, on nested samples of one population.

    python benchmarks/bench_second_pass.py capture HOME STATE.pkl     # once, on a copy of HOME
    python benchmarks/growth.py HOME STATE.pkl --fractions 0.25 0.5 1 [--out growth.jsonl]

A sample keeps whole children (the clusters captured before the second pass; a child is kept
when a hash of its id falls below the fraction), so a sample of a quarter is a population a
quarter the size with the same names, birthdays and errors: the records per blocking key fall
with it, as they would in a smaller country. Each fraction runs in its own process (Splink's
caches and the peak memory are then its own), prints one JSON line, and at the end the growth
exponent between the two largest samples for every figure (1 is linear, 2 is quadratic).

Per rule: ``joined`` is the pairs the rule's equalities alone join (what DuckDB must test),
``kept`` those the whole rule keeps, ``first`` those no earlier rule found (what the rule adds to
predict), with the seconds its join took. Per second-pass step: wall seconds.
"""

from __future__ import annotations

import argparse
import json
import math
import pickle
import resource
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _sample(cluster_of: dict[str, str], fraction: float) -> set[str]:
    import hashlib
    keep = {c for c in set(cluster_of.values())
            if int.from_bytes(hashlib.blake2b(c.encode(), digest_size=8).digest(), "big") < fraction * 2 ** 64}
    return {k for k, c in cluster_of.items() if c in keep}


def _rules(con, table: str) -> list[dict]:
    """Each prediction rule's joined, kept and first-found pairs on ``table``."""
    from linkage.link import spec
    from linkage.link.engine_scoring import _column_pairs

    con.execute(f"CREATE OR REPLACE TABLE memory.g_rows AS SELECT row_number() OVER "
                f"(ORDER BY source_dataset || '-__-' || unique_id) AS rid, * FROM {table}")
    out, seen = [], "memory.g_seen"
    con.execute(f"CREATE OR REPLACE TABLE {seen} (a BIGINT, b BIGINT)")
    for k, rule in enumerate(spec.PREDICTION_RULES):
        sql = rule if isinstance(rule, str) else rule.get_blocking_rule("duckdb").blocking_rule_sql
        eqs = _column_pairs(sql, superset=True) or frozenset()
        on = " AND ".join(f"l.{a} = r.{b}" for a, b in sorted(eqs)) or "true"
        t0 = time.perf_counter()
        joined = con.execute(f"SELECT count(*) FROM memory.g_rows l JOIN memory.g_rows r ON {on} "
                             f"AND l.rid < r.rid").fetchone()[0]
        con.execute(f"CREATE OR REPLACE TABLE memory.g_rule AS SELECT l.rid AS a, r.rid AS b FROM memory.g_rows l "
                    f"JOIN memory.g_rows r ON ({sql}) AND l.rid < r.rid")
        seconds = time.perf_counter() - t0
        kept = con.execute("SELECT count(*) FROM memory.g_rule").fetchone()[0]
        first = con.execute(f"SELECT count(*) FROM (SELECT a, b FROM memory.g_rule EXCEPT SELECT a, b FROM {seen})"
                            ).fetchone()[0]
        con.execute(f"INSERT INTO {seen} SELECT a, b FROM memory.g_rule EXCEPT SELECT a, b FROM {seen}")
        out.append({"rule": k, "sql": sql[:90], "joined": joined, "kept": kept, "first": first,
                    "seconds": round(seconds, 2)})
    con.execute("DROP TABLE memory.g_rows; DROP TABLE memory.g_rule; DROP TABLE memory.g_seen")
    return out


def one(home: Path, state: Path, fraction: float) -> dict:
    """One sample, in this process: blocking counts, predict, and the second pass by step."""
    import linkage.link.engine_pass as eng
    from linkage.config import get_settings
    from linkage.connectors.ingest import CURRENT_RECORDS_SQL
    from linkage.link.engine import INPUT, LinkEngine
    from linkage.link.run import _load_model
    from linkage.store import Store

    cluster_of, identifiers, apart = pickle.loads(state.read_bytes())
    kept = _sample(cluster_of, fraction)
    cluster_of = {k: c for k, c in cluster_of.items() if k in kept}
    apart = [(a, b) for a, b in apart if a in kept and b in kept]
    store = Store(home)
    row: dict = {"fraction": fraction}
    try:
        with store.memory_limited(get_settings().link_memory_limit):
            engine = LinkEngine(store, CURRENT_RECORDS_SQL, cache=True)
            con = engine.con
            import pandas as pd
            con.register("_keep_df", pd.DataFrame({"k": sorted(kept)}))
            for src, dst in ((f"memory.{INPUT}", "g_input"), ("memory.cotwins", "g_cotwins")):
                con.execute(f"CREATE OR REPLACE TABLE memory.{dst} AS SELECT * FROM {src} "
                            "WHERE unique_id IN (SELECT k FROM _keep_df)")
            con.unregister("_keep_df")
            for name in (INPUT, "cotwins"):      # the engine reads these names: give it the sample
                for kind in ("VIEW", "TABLE"):
                    try:
                        con.execute(f"DROP {kind} IF EXISTS memory.{name}")
                    except Exception:   # noqa: BLE001 -- the other kind of catalog entry
                        pass
                con.execute(f"ALTER TABLE memory.g_{'input' if name == INPUT else name} RENAME TO {name}")
            row["records"] = engine.count()
            row["children"] = len(set(cluster_of.values()))
            row["rules"] = _rules(con, f"memory.{INPUT}")
            engine.linker(_load_model(store)[0])
            t0 = time.perf_counter()
            edges = engine.predict_full(get_settings().review_lower)
            row["predict_s"] = round(time.perf_counter() - t0, 2)
            row["predict_pairs"] = len(edges)
            steps: dict[str, float] = {}

            def timed(name, fn):
                def wrapper(*a, **kw):
                    t1 = time.perf_counter()
                    try:
                        return fn(*a, **kw)
                    finally:
                        steps[name] = round(steps.get(name, 0.0) + time.perf_counter() - t1, 2)
                return wrapper

            for name in ("partner_cohorts", "decide", "family_pairs", "shared_identifiers", "household_pairs",
                         "decoy_pairs"):
                setattr(eng, name, timed(name, getattr(eng, name)))
            t0 = time.perf_counter()
            second = engine.cluster_pass(cluster_of, identifiers, apart)
            total = time.perf_counter() - t0
            row["second_pass_s"] = round(total, 2)
            steps["candidates (candidates_sql and the clusters table)"] = round(total - sum(steps.values()), 2)
            row["second_pass_steps"] = steps
            row["second_links"], row["second_queued"] = len(second.links), len(second.queue)
    finally:
        store.close()
    row["peak_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return row


def _exponent(a: float, b: float, na: int, nb: int) -> float | None:
    return round(math.log(b / a) / math.log(nb / na), 2) if a > 0 and b > 0 and nb != na else None


def growth(rows: list[dict]) -> None:
    """The exponent of every figure between the two largest samples."""
    x, y = sorted(rows, key=lambda r: r["records"])[-2:]
    n0, n1 = x["records"], y["records"]
    print(f"\ngrowth from {n0:,} to {n1:,} records (exponent: 1 linear, 2 quadratic)")
    for a, b in zip(x["rules"], y["rules"]):
        print(f"  rule {a['rule']:2d} joined {a['joined']:>12,} -> {b['joined']:>12,} ({_exponent(a['joined'], b['joined'], n0, n1)})"
              f"  kept {a['kept']:>10,} -> {b['kept']:>10,} ({_exponent(a['kept'], b['kept'], n0, n1)})"
              f"  first {b['first']:>10,}  {b['seconds']:6.1f} s  {a['sql'][:60]}")
    for key in ("predict_s", "predict_pairs", "second_pass_s"):
        print(f"  {key}: {x[key]} -> {y[key]} ({_exponent(x[key], y[key], n0, n1)})")
    for step, s in y["second_pass_steps"].items():
        s0 = x["second_pass_steps"].get(step, 0)
        print(f"  second pass, {step}: {s0} -> {s} s ({_exponent(s0, s, n0, n1)})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("home", type=Path)
    ap.add_argument("state", type=Path, help="bench_second_pass.py capture's output for HOME")
    ap.add_argument("--fractions", type=float, nargs="+", default=[0.25, 0.5, 1.0])
    ap.add_argument("--out", type=Path)
    ap.add_argument("--one", type=float, help=argparse.SUPPRESS)     # a child process: one fraction
    args = ap.parse_args()
    if args.one is not None:
        print(json.dumps(one(args.home, args.state, args.one)))
        return
    rows = []
    for f in args.fractions:
        load = Path("/proc/loadavg").read_text().split()[:3]
        done = subprocess.run([sys.executable, str(Path(__file__).resolve()), str(args.home), str(args.state),
                               "--one", str(f)], check=True, capture_output=True, text=True)
        row = json.loads(done.stdout.strip().splitlines()[-1])
        row["load"] = [load, Path("/proc/loadavg").read_text().split()[:3]]
        rows.append(row)
        print(json.dumps(row), flush=True)
        if args.out:
            with args.out.open("a") as fh:
                fh.write(json.dumps(row) + "\n")
    if len(rows) >= 2:
        growth(rows)


if __name__ == "__main__":
    main()
