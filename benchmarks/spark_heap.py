"""Where a Spark link's driver heap goes: the live objects of the JVM, sampled while it links.

    python benchmarks/spark_heap.py EXTRACTS WORK [--every 15] [--top 8]

Ingests the three extracts of ``EXTRACTS`` into ``WORK/home`` (once; later runs reuse it) and
links them from scratch on the Spark engine (``LINKAGE_SPARK_*`` as set: driver memory, lineage,
partitions). Every ``--every`` seconds a thread asks the JVM for its live-object histogram
(``jcmd PID GC.class_histogram``: a full collection first, so it counts what is reachable, not
what the heap has grown to) and Spark's block managers for the storage memory they hold, and
prints them on stderr with the link's current step: the classes that grow are where the memory
goes. The samples perturb timing (each is a full GC): do not time a run with this.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time
from datetime import date
from pathlib import Path

SOURCES = ("education", "social_care", "health")


def _histogram(pid: int, top: int) -> tuple[int, list[tuple[str, int]]]:
    out = subprocess.run(["jcmd", str(pid), "GC.class_histogram"], capture_output=True, text=True, timeout=120).stdout
    rows, total = [], 0
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 4 and parts[0].rstrip(":").isdigit():
            rows.append((parts[3], int(parts[2])))
        elif parts[:1] == ["Total"]:
            total = int(parts[2])
    return total, rows[:top]


def _storage(spark) -> dict:
    """Bytes the block managers hold (storage memory used) and the cached RDDs' sizes."""
    sc = spark.sparkContext._jsc.sc()
    status = sc.getExecutorMemoryStatus()
    it = status.values().iterator()
    used = 0
    while it.hasNext():
        pair = it.next()
        used += pair._1() - pair._2()
    rdds = [(i.name(), i.memSize(), i.diskSize()) for i in sc.getRDDStorageInfo()]
    return {"storage_used": used, "cached_rdds": len(rdds), "cached_mem": sum(r[1] for r in rdds),
            "cached_disk": sum(r[2] for r in rdds)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("extracts", type=Path)
    ap.add_argument("work", type=Path)
    ap.add_argument("--every", type=float, default=15.0)
    ap.add_argument("--top", type=int, default=8)
    ap.add_argument("--keep-model", action="store_true", help="score with the model a run before trained (no training)")
    args = ap.parse_args()

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from stageprof import profile

    prof = profile(tree=True)
    from linkage.config import get_settings
    from linkage.connectors import ingest_file
    from linkage.link import run_link
    from linkage.link.backends import make_backend
    from linkage.store import Store

    home = args.work / "home"
    fresh = not home.exists()
    store = Store(home)
    if fresh:
        when = date.fromisoformat(json.loads((args.extracts / "manifest.json").read_text())["extract_date"])
        for s in SOURCES:
            ingest_file(store, s, args.extracts / f"{s}.csv", extract_date=when)
    backend = make_backend("spark", home, get_settings())
    spark = backend.session()
    conf = {k: v for k, v in spark.sparkContext.getConf().getAll()
            if k.split(".")[-1] in ("memory", "partitions", "autoBroadcastJoinThreshold", "pageSize",
                                    "localRelationThreshold")}
    pid = int(spark.sparkContext._jvm.ProcessHandle.current().pid())
    step = ["start"]
    peak = [0, "", []]
    done = threading.Event()
    t0 = time.perf_counter()

    def sample() -> None:
        while not done.wait(args.every):
            try:
                total, rows = _histogram(pid, args.top)
                store_ = _storage(spark)
            except Exception as exc:            # the JVM may be busy or gone
                print(f"sample failed: {exc}", file=sys.stderr, flush=True)
                continue
            if total > peak[0]:
                peak[:] = [total, step[0], rows]
            top = ", ".join(f"{name.split('.')[-1]} {b / 2**20:,.0f}" for name, b in rows[:5])
            print(f"{time.perf_counter() - t0:7.1f}s live {total / 2**20:7,.0f} MiB "
                  f"storage {store_['storage_used'] / 2**20:,.0f} MiB cached {store_['cached_rdds']} "
                  f"[{step[0]}] {top}", file=sys.stderr, flush=True)

    def on_step(stage: str, detail: str) -> None:
        step[0] = f"{stage} {detail}".strip()[:60]
        print(f"{time.perf_counter() - t0:7.1f}s step {step[0]}", file=sys.stderr, flush=True)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        with prof.stage("link (run_link)"):
            result = run_link(store, full=True, retrain=fresh or not args.keep_model, backend=backend,
                              step=on_step)
    finally:
        done.set()
        thread.join()
        backend.close()
        store.close()
    stages = prof.report()
    print(json.dumps({"records": result.records, "link_s": round(time.perf_counter() - t0, 1),
                      "link_peak_mib": stages["link (run_link)"]["peak_mib"],     # the process tree's
                      "driver_memory": conf.get("spark.driver.memory"),
                      "peak_live_mib": round(peak[0] / 2**20), "peak_step": peak[1],
                      "peak_classes": [(n, round(b / 2**20)) for n, b in peak[2]],
                      "spark": conf,
                      "stages": stages}))


if __name__ == "__main__":
    main()
