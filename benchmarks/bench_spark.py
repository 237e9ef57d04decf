"""Benchmark: the same linkage run on DuckDB and on Spark (Splink's SparkAPI).

    python benchmarks/bench_spark.py --children 300
    python benchmarks/bench_spark.py --children 2000 --master 'local[2]' --spark-train

A model is trained once on DuckDB; each engine then scores the same records with it
(`run_link`: scoring, twin guard, clustering, the save), so the times compare like with
like and the pairs can be checked equal. Spark's session start-up is timed on its own.
``--spark-train`` also trains from scratch on Spark and compares what that model links with
DuckDB's (training samples nothing at random, so they should agree to 1e-6). Keep N small
on a shared machine.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import date
from pathlib import Path

SOURCES = ("education", "social_care", "health")


def _store(work: Path, name: str, extracts: Path):
    from linkage.connectors import ingest_file
    from linkage.store import Store

    store = Store(work / name, memory_limit="1GB")
    for source in SOURCES:
        ingest_file(store, source, extracts / f"{source}.csv", extract_date=date(2026, 10, 1))
    return store


def _edges(store):
    from linkage.store.schema import t

    return store.df(f"SELECT record_key_l, record_key_r, match_probability FROM {t('link_edges')}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--children", type=int, default=300)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--master", default="local[2]")
    ap.add_argument("--partitions", type=int, default=4)
    ap.add_argument("--break-lineage", default="local_checkpoint",
                    choices=["local_checkpoint", "checkpoint", "persist", "parquet"])
    ap.add_argument("--conf", action="append", default=[], metavar="KEY=VALUE", help="a further Spark property")
    ap.add_argument("--spark-train", action="store_true", help="also train a model from scratch on Spark")
    args = ap.parse_args()

    from linkage.link import run_link
    from linkage.link.backends.spark import SparkBackend
    from linkage.link.run import export_model, import_model
    from linkage.synth import synthesise

    with tempfile.TemporaryDirectory(prefix="bench_spark_") as tmp:
        work = Path(tmp)
        synthesise(args.children, args.seed, work / "extracts", month=1)
        times: dict[str, float] = {}

        trained = _store(work, "duckdb_train", work / "extracts")
        t0 = time.perf_counter()
        result = run_link(trained)
        times["duckdb: train and link"] = time.perf_counter() - t0
        model = export_model(trained, work)
        trained.close()

        duck = _store(work, "duckdb", work / "extracts")
        import_model(duck, model)
        t0 = time.perf_counter()
        run_link(duck)
        times["duckdb: link with the model"] = time.perf_counter() - t0

        backend = SparkBackend(work / "spark", master=args.master, shuffle_partitions=args.partitions,
                               driver_memory="1g", break_lineage=args.break_lineage,
                               extra_conf=dict(c.split("=", 1) for c in args.conf))
        try:
            t0 = time.perf_counter()
            backend.session()
            times["spark: session start"] = time.perf_counter() - t0
            spark = _store(work, "spark", work / "extracts")
            import_model(spark, model)
            t0 = time.perf_counter()
            run_link(spark, backend=backend)
            times["spark: link with the model"] = time.perf_counter() - t0
            if args.spark_train:
                fresh = _store(work, "spark_train", work / "extracts")
                t0 = time.perf_counter()
                run_link(fresh, backend=backend)
                times["spark: train and link"] = time.perf_counter() - t0
                own = _edges(fresh)
                fresh.close()
        finally:
            backend.close()

        a, b = _edges(duck), _edges(spark)
        if args.spark_train:
            m = a.merge(own, on=["record_key_l", "record_key_r"], how="outer", indicator=True)
            trained_note = (f"  model trained on Spark vs on DuckDB: {int((m['_merge'] != 'both').sum())} pairs differ, "
                            f"largest probability difference {float((m['match_probability_x'] - m['match_probability_y']).abs().max()):.2e}")
        both = a.merge(b, on=["record_key_l", "record_key_r"], how="outer", indicator=True)
        same = bool((both["_merge"] == "both").all())
        diff = float((both["match_probability_x"] - both["match_probability_y"]).abs().max())
        duck.close()
        spark.close()

    print(f"{args.children} children, {result.records} records, {len(a)} scored pairs; Spark {args.master}, "
          f"{args.partitions} partitions, lineage broken by {args.break_lineage}")
    for name, seconds in times.items():
        print(f"  {name:30s} {seconds:8.1f} s")
    ratio = times["spark: link with the model"] / times["duckdb: link with the model"]
    print(f"  spark / duckdb (link with the model): {ratio:.1f}x")
    print(f"  same pairs: {same}; largest probability difference: {diff:.2e}")
    if args.spark_train:
        print(trained_note)


if __name__ == "__main__":
    main()
