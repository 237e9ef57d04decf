"""How many audit appends a second one PostgreSQL hash chain takes from several servers at once.

    python benchmarks/bench_pg_chain.py --writers 1 2 4 8 --threads 16 --seconds 10 [--fsync]

Several API servers sharing PostgreSQL serialise every audited request through one chain
(``audit/pg.py``: group commit: a process's waiting appends chained and written in one
transaction under an advisory lock). That chain is the only thing the servers share on a
request's path, so its rate is the ceiling on N servers' total: N servers scale while
N x (one server's requests/s) stays well under it. Each writer is its own process with its
own ``PostgresAuditLog`` (as a server worker is), and ``--threads`` threads in it append
lookup-shaped entries as fast as they can (a worker's requests in flight; ``--threads 1`` is
one request at a time, which group commit cannot help). Starts a throwaway PostgreSQL
(tests/pg.py; with ``--fsync`` every commit is flushed, as in production). Prints appends/s,
latency and entries per transaction per writer count, then checks the chain is intact and
holds exactly the appends counted.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))


def _entry(i: int, writer: int) -> dict:
    return {"client_id": f"ap-school-{writer}", "agency": "Riverside AP Academy", "purpose": "admission",
            "action": "lookup", "decision": "allow", "categories": ["identity", "education"],
            "children": [f"c{i % 50_000:07d}"], "request_id": f"{writer}-{i}", "break_glass": False}


def _writer(home: str, url: str, seconds: float, writer: int, threads: int, start, out) -> None:
    from linkage.audit.pg import PostgresAuditLog

    log = PostgresAuditLog(Path(home), checkpoint_every=10, checkpoint_seconds=1.0, url=url)
    counts, lat = [0] * threads, []
    start.wait()
    end = time.perf_counter() + seconds

    def loop(t: int) -> None:
        mine = []
        while (t0 := time.perf_counter()) < end:
            log.append(_entry(counts[t] * threads + t, writer))
            mine.append(time.perf_counter() - t0)
            counts[t] += 1
        lat.extend(mine)
    pool = [threading.Thread(target=loop, args=(t,)) for t in range(threads)]
    for th in pool:
        th.start()
    for th in pool:
        th.join()
    log.close()
    out.put((sum(counts), lat))


def run(url: str, home: Path, writers: int, threads: int, seconds: float) -> tuple[int, list[float]]:
    ctx = mp.get_context("spawn")
    start, out = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_writer, args=(str(home), url, seconds, w, threads, start, out))
             for w in range(writers)]
    for p in procs:
        p.start()
    time.sleep(3)                      # every writer connected and waiting
    start.set()
    results = [out.get() for _ in procs]
    for p in procs:
        p.join()
    return sum(n for n, _ in results), [x for _, lat in results for x in lat]


def _transactions(url: str) -> int:
    """How many transactions wrote the entries (each row's ``xmin``)."""
    import psycopg

    with psycopg.connect(url) as con:
        return con.execute("SELECT count(DISTINCT xmin::text) FROM audit_entries").fetchone()[0] or 1


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--writers", type=int, nargs="+", default=[1, 2, 4, 8])
    ap.add_argument("--threads", type=int, default=16, help="appending threads in each writer process")
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--fsync", action="store_true", help="PostgreSQL flushes every commit (production)")
    args = ap.parse_args()
    from pg import PostgresServer

    from linkage.audit.pg import PostgresAuditLog

    print(f"load average at start: {os.getloadavg()[0]:.1f}; fsync {'on' if args.fsync else 'off'}; "
          f"{args.threads} threads a writer")
    server = PostgresServer(fsync=args.fsync)
    try:
        print(f"{'writers':>7} {'appends':>8} {'per s':>8} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} "
              f"{'per tx':>6} {'load':>5}")
        for k in args.writers:
            url = server.fresh()
            with tempfile.TemporaryDirectory() as tmp:
                home = Path(tmp)
                PostgresAuditLog(home, url=url).close()        # keys made once, as a deployment shares them
                n, lat = run(url, home, k, args.threads, args.seconds)
                lat.sort()
                q = statistics.quantiles(lat, n=100)
                print(f"{k:>7} {n:>8} {n / args.seconds:>8.0f} {lat[len(lat) // 2] * 1e3:>7.2f} "
                      f"{q[94] * 1e3:>7.2f} {q[98] * 1e3:>7.2f} {n / _transactions(url):>6.1f} "
                      f"{os.getloadavg()[0]:>5.1f}")
                log = PostgresAuditLog(home, url=url)
                findings, head = log.verify(), log.head()
                log.close()
                ok = "intact" if not findings else f"{len(findings)} problems, first: {findings[0]}"
                print(f"        chain {ok}; head {head} = appends counted {n}: {head == n}")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
