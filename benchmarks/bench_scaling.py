"""Benchmark: how linking, publishing and a server's switch grow with the population.

    python benchmarks/bench_scaling.py --children 135000 270000
    python benchmarks/bench_scaling.py --children 20000 --engine spark
    python benchmarks/bench_scaling.py --children 135000 270000 --relink   # link again, no ingest

For each population, in separate processes (so wall time and peak memory are each step's own):
``link``: ingest the three synthetic extracts into a fresh encrypted store and link them
(DuckDB, or Spark through ``--engine``), then publish the snapshot; ``load``: what a server
does to switch to it (check, load, build the lookup index and the per-child documents).
Prints one JSON line per population, and ``uptime`` before and after: the machine may be shared.
``stages`` gives each stage's wall time and the peak resident memory while in it
(``stageprof.py``); on Spark that peak counts the JVM and its Python workers too.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

SOURCES = ("education", "social_care", "health")


def _peak_mib() -> float:
    from stageprof import peak_mib     # ru_maxrss, or the higher mark the stage profile cleared

    return peak_mib()


def _say(what: str) -> None:
    """Progress on stderr, with the load average: how far a long run got, and under what load."""
    with open("/proc/loadavg", encoding="ascii") as fh:
        load = " ".join(fh.read().split()[:3])
    print(f"{time.strftime('%H:%M:%S')} load {load} peak {_peak_mib():,.0f} MiB: {what}", file=sys.stderr, flush=True)


def phase_link(work: Path, engine: str) -> dict:
    from stageprof import profile

    prof = profile(tree=engine == "spark")
    from linkage.config import get_settings
    from linkage.connectors import ingest_file
    from linkage.link import run_link
    from linkage.link.backends import make_backend
    from linkage.store import Store
    from linkage.store.snapshots import publish

    manifest = json.loads((work / "extracts" / "manifest.json").read_text())
    when = date.fromisoformat(manifest["extract_date"])
    home = work / f"home-{engine}"
    t0 = time.perf_counter()
    store = Store(home)
    with prof.stage("ingest + validation"):
        for s in SOURCES:
            _say(f"ingest {s}")
            ingest_file(store, s, work / "extracts" / f"{s}.csv", extract_date=when)
    t_ingest = time.perf_counter() - t0
    backend = make_backend(engine, home, get_settings())
    try:
        t1 = time.perf_counter()
        with prof.stage("link (run_link)"):
            result = run_link(store, backend=backend, step=lambda stage, detail: _say(f"link: {stage} {detail}"))
        t_link = time.perf_counter() - t1
    finally:
        backend.close()
    t2 = time.perf_counter()
    _say("publish")
    with prof.stage("snapshot publish"):
        snap = publish(store)
    t_publish = time.perf_counter() - t2
    store.close()
    return {"records": result.records, "children": result.children, "ingest_s": round(t_ingest, 1),
            "link_s": round(t_link, 1), "publish_s": round(t_publish, 1), "snapshot_mib": round(snap.bytes / 2**20),
            "link_peak_mib": round(_peak_mib()), "stages": prof.report()}


def phase_load(work: Path, engine: str) -> dict:
    from linkage.config import Settings
    from linkage.service.container import load_published

    home = work / f"home-{engine}"
    t0 = time.perf_counter()
    data = load_published(home, Settings(home=home))
    took = time.perf_counter() - t0
    data.store.close()
    return {"load_s": round(took, 1), "load_peak_mib": round(_peak_mib())}


def phase_relink(work: Path, engine: str) -> dict:
    """Link again what ``link`` ingested, from scratch (retrain, rescore all): link time and
    memory alone, without ingest, for a second measurement on a quieter machine."""
    from stageprof import profile

    prof = profile(tree=engine == "spark")
    from linkage.config import get_settings
    from linkage.link import run_link
    from linkage.link.backends import make_backend
    from linkage.store import Store

    home = work / f"home-{engine}"
    store = Store(home)
    backend = make_backend(engine, home, get_settings())
    try:
        t0 = time.perf_counter()
        with prof.stage("link (run_link)"):
            result = run_link(store, full=True, retrain=True, backend=backend,
                              step=lambda stage, detail: _say(f"relink: {stage} {detail}"))
        took = time.perf_counter() - t0
    finally:
        backend.close()
        store.close()
    return {"records": result.records, "relink_s": round(took, 1), "relink_peak_mib": round(_peak_mib()),
            "stages": prof.report()}


PHASES = {"link": phase_link, "load": phase_load, "relink": phase_relink}


def _run(phase: str, work: Path, engine: str) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--phase", phase, "--work", str(work), "--engine", engine],
                          stdout=subprocess.PIPE, text=True)   # stderr (progress, errors) passes through
    if proc.returncode != 0:
        raise SystemExit(f"phase {phase} failed (exit {proc.returncode}); its stderr is above")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def _context(engine: str) -> dict:
    """What a point in ``scaling_points.jsonl`` needs beside its figures: the code and, on Spark,
    the settings it ran with (``LINKAGE_SPARK_*``)."""
    commit = subprocess.run(["git", "-C", str(HERE), "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    out: dict = {"commit": commit, "argv": " ".join(sys.argv)}
    if engine == "spark":
        from linkage.config import get_settings
        from linkage.link.backends.spark import SparkBackend

        backend = SparkBackend.from_settings(get_settings(), HERE)    # settings only: no session starts
        out["spark"] = {"master": backend.master, "shuffle_partitions": backend.shuffle_partitions,
                        "break_lineage": backend.break_lineage, "driver_memory": backend.driver_memory}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--children", type=int, nargs="+", default=[20000])
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--engine", choices=("duckdb", "spark"), default="duckdb")
    ap.add_argument("--work", type=Path, default=Path("bench-out"))
    ap.add_argument("--relink", action="store_true", help="only link again populations already linked here")
    ap.add_argument("--phase", choices=sorted(PHASES), help=argparse.SUPPRESS)
    args = ap.parse_args()
    os.environ.setdefault("LINKAGE_MEMORY_LIMIT", "8GB")
    if args.phase:
        print(json.dumps(PHASES[args.phase](args.work, args.engine)))
        return
    from linkage.synth import synthesise

    for n in args.children:
        work = args.work / f"scaling-{n}-{args.seed}"
        if args.relink:
            before = _uptime()
            row = {"children_synthesised": n, "engine": args.engine, **_context(args.engine),
                   **_run("relink", work, args.engine)}
            print(json.dumps({**row, "uptime_before": before, "uptime_after": _uptime()}), flush=True)
            continue
        if not (work / "extracts" / "manifest.json").exists():
            synthesise(n, args.seed, work / "extracts")
        home = work / f"home-{args.engine}"
        if home.exists():
            import shutil
            shutil.rmtree(home)
        before = _uptime()
        row = {"children_synthesised": n, "engine": args.engine, **_context(args.engine),
               **_run("link", work, args.engine)}
        row.update(_run("load", work, args.engine))
        print(json.dumps({**row, "uptime_before": before, "uptime_after": _uptime()}), flush=True)


if __name__ == "__main__":
    main()
