"""Several API servers sharing PostgreSQL (service state and one audit chain), under wrk.

    python benchmarks/bench_api_shared.py --data-dir DIR --servers 2 --clients 8 --seconds 20

Starts a throwaway PostgreSQL (tests/pg.py: initdb on a free loopback port, ``fsync=off``)
unless ``--state-url`` names one, then ``--servers`` real ``linkage serve`` processes on one
data directory with ``LINKAGE_STATE_URL`` set, and runs wrk against all of them at once
(``--clients`` connections split between them), replaying real lookups. Prints each server's
requests/s, latency and CPU per request (/proc), then whether the audit entries added equal
the requests and ``linkage audit verify`` finds one intact chain.

On one machine the servers share its cores, so the sum says what this machine can serve, not
what N machines would: CPU per request is the figure that carries over. ``--cpus 0,1`` pins
server i to the i-th core listed (``taskset``), to measure scale-out per core: one server on
core 0, then two on cores 0 and 1. wrk and PostgreSQL are not pinned (they share the cores);
their CPU is printed beside the servers'.

``--cpu-budget 0.35`` holds each server to 0.35 of a core instead (a cgroup v1 ``cpu`` group
each, ``benchmarks/cpubudget.py``: a quota per ``--cpu-period-ms`` and the highest
``cpu.shares``, so the other jobs on the machine cannot take it), and gives PostgreSQL and wrk
the highest shares without a quota, so that the servers are the bound: a model of a small machine
per server. The quota applies from the first run (start-up and warm-up run unlimited); each
server's throttled periods are printed, and the groups are removed at the end. Needs root and a
writable ``/sys/fs/cgroup/cpu``; a one-line error otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
sys.path.insert(0, str(HERE))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", type=Path, required=True)
    ap.add_argument("--servers", type=int, default=2)
    ap.add_argument("--clients", type=int, default=8, help="wrk connections in all, split between the servers")
    ap.add_argument("--seconds", type=int, default=20)
    ap.add_argument("--state-url", help="a PostgreSQL URL; default: a throwaway server")
    ap.add_argument("--workers", type=int, default=1, help="worker processes per server")
    ap.add_argument("--cpus", help="comma-separated: server i runs on the i-th of these cores only (taskset)")
    ap.add_argument("--runs", type=int, default=1, help="wrk runs, one after another, on the same servers")
    ap.add_argument("--alone-first", action="store_true",
                    help="first drive server 1 alone (the same connections it gets in a run on all), so one "
                         "server and the pair are measured on one start-up (minutes at 1M)")
    ap.add_argument("--alone-each", action="store_true",
                    help="drive server 1 alone before each run on all (A/B back to back, each run's ratio shown)")
    ap.add_argument("--cpu-budget", type=float, metavar="CORES",
                    help="hold each server to this fraction of a core (cgroup v1 cpu quota), from the first run")
    ap.add_argument("--cpu-period-ms", type=float, default=10, help="the quota's period (with --cpu-budget)")
    ap.add_argument("--cgroup-root", type=Path, default=Path("/sys/fs/cgroup/cpu"),
                    help="where the cgroup v1 cpu controller is mounted (with --cpu-budget)")
    args = ap.parse_args()
    pins = args.cpus.split(",") if args.cpus else [None] * args.servers
    if len(pins) != args.servers:
        ap.error("--cpus names one core per server")
    if args.cpu_budget is not None and not 0.01 <= args.cpu_budget <= os.cpu_count():
        ap.error(f"--cpu-budget is a fraction of a core, 0.01 to {os.cpu_count()}")

    from bench_api import ended_by_signal

    ended_by_signal()
    groups: dict = {}
    try:
        if args.cpu_budget is not None:
            import cpubudget

            try:
                for name in [f"server{i + 1}" for i in range(args.servers)] + ["postgres", "wrk"]:
                    groups[name] = cpubudget.Group(name, args.cgroup_root)
            except cpubudget.CgroupError as e:
                ap.exit(2, f"bench_api_shared.py: --cpu-budget: {e}\n")
            gone = cpubudget.remove_stale(args.cgroup_root)
            if gone:
                print("removed cgroups left by killed runs:", ", ".join(gone))
        _bench(args, pins, groups)
    finally:
        for g in groups.values():
            g.remove()


def _bench(args, pins: list, groups: dict) -> None:
    """Start PostgreSQL (unless given) and the servers, drive them, verify the chain; ``groups``:
    the cgroups of ``--cpu-budget`` (none without it)."""
    from apiserver import Server
    from bench_api import _LUA, sample_queries, settle

    pg = None
    if not args.state_url:
        from pg import PostgresServer

        pg = PostgresServer()
        args.state_url = pg.fresh()
        if groups:
            for pid in _pg_pids(pg):     # backends fork from the postmaster later: they start in its group
                groups["postgres"].add(pid)
    os.environ["LINKAGE_STATE_URL"] = args.state_url
    from linkage.config import get_settings

    get_settings.cache_clear()
    from registry import register

    home = args.data_dir
    client, secret = register(home, f"bench {time.time():.0f}", "ap_school", "admissions", org="Bench AP Academy")
    queries = sample_queries(home, 300)
    env = {"LINKAGE_STATE_URL": args.state_url, "LINKAGE_LOOKUP_PER_MINUTE": "100000",
           "LINKAGE_LOOKUP_BURST": "10000"}
    servers = []
    try:
        t0 = time.perf_counter()
        # Started together, then waited for: each loads the whole population (minutes at 1M), and the
        # servers share nothing while they do.
        servers = [Server(home, env, workers=args.workers, cpus=pin, wait=False,
                          prefix=groups[f"server{i + 1}"].wrap([]) if groups else None)
                   for i, pin in enumerate(pins)]
        for s in servers:
            s.wait_ready(900)
        print(f"{args.servers} servers ({args.workers} worker(s) each{', on cores ' + args.cpus if args.cpus else ''})"
              f" ready in {time.perf_counter() - t0:.1f}s over {home}, sharing PostgreSQL "
              f"{'(throwaway, fsync=off)' if pg else ''}")
        for s in servers:
            settle(s)
        token = servers[0].token(client, secret)
        bodies, prepared = [], 0
        with httpx.Client(base_url=servers[0].url, headers={"Authorization": f"Bearer {token}",
                                                            "X-Purpose": "admission"}) as http:
            for q in queries[:200]:
                prepared += 1
                if http.post("/v1/lookup", json=q).json()["match"]:
                    bodies.append(json.dumps(q))
        with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as fh:
            fh.write(_LUA % (", ".join(json.dumps(b) for b in bodies), '"/"', "lookup", token))
        if groups:
            for i in range(args.servers):
                groups[f"server{i + 1}"].limit(args.cpu_budget, args.cpu_period_ms)
            print(f"each server held to {args.cpu_budget:g} of a core (cgroup cpu quota "
                  f"{int(args.cpu_budget * args.cpu_period_ms * 1000)} us a {args.cpu_period_ms:g} ms period, "
                  f"shares {groups['server1'].shares}); PostgreSQL{'' if pg else ' (not ours: not in a group)'} "
                  f"and wrk at the same shares, no quota")
        alone = _run(0, args, servers[:1], fh.name, pg, groups) if args.alone_first else None
        for run in range(1, args.runs + 1):
            if args.alone_each:
                alone = _run(run, args, servers[:1], fh.name, pg, groups)
            total = _run(run, args, servers, fh.name, pg, groups)
            if alone:
                print(f"run {run}: all servers / server 1 alone: {total / alone:.2f}x")
    finally:
        for s in servers:
            s.stop()
        try:
            verify = subprocess.run([sys.executable, "-m", "linkage.cli", "audit", "verify", "--data-dir", str(home)],
                                    capture_output=True, text=True, env={**os.environ, "LINKAGE_HOME": str(home)})
            print("audit verify:", (verify.stdout.strip() or verify.stderr.strip()).splitlines()[-1])
        finally:
            if pg is not None:
                pg.stop()


def _run(run: int, args, servers, script: str, pg, groups: dict) -> int:
    """One wrk run against every server in ``servers`` at once, ``args.clients // args.servers``
    connections each: each server's figures, wrk's and PostgreSQL's CPU, and whether the audit
    entries added match the requests. With ``groups`` (``--cpu-budget``), wrk runs in its group
    and each server's throttled periods are shown: a server throttled in most periods used its
    whole budget (it, not PostgreSQL or wrk, was the bound). Returns the requests completed."""
    from bench_api import _children_cpu, _load, server_cpu

    before = _audited(args.state_url)
    cpu = [server_cpu(s) for s in servers]
    pg_cpu, wrk_cpu = _pg_cpu(pg), _children_cpu()
    held = [groups[f"server{i + 1}"] for i in range(len(servers))] if groups else []
    stats = [g.stat() for g in held]
    out: list[str] = [""] * len(servers)

    def drive(i: int) -> None:
        conns = max(1, args.clients // args.servers)
        argv = ["wrk", "-t1", f"-c{conns}", f"-d{args.seconds}s", "-s", script, servers[i].url]
        out[i] = subprocess.run(groups["wrk"].wrap(argv) if groups else argv, capture_output=True, text=True).stdout
    threads = [threading.Thread(target=drive, args=(i,)) for i in range(len(servers))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    cpu = [server_cpu(s) - c for s, c in zip(servers, cpu)]
    pg_cpu, wrk_cpu = _pg_cpu(pg) - pg_cpu, _children_cpu() - wrk_cpu
    stats = [{k: v - before_stat.get(k, 0) for k, v in g.stat().items()} for g, before_stat in zip(held, stats)]
    time.sleep(2)                   # requests in flight at the deadline complete and are audited
    total = 0
    alone = " (server 1 alone)" if len(servers) < args.servers else ""
    print(f"\nrun {run}{alone}: wrk, {max(1, args.clients // args.servers) * len(servers)} connections in all, "
          f"{args.seconds}s, audit on, lookups; load average {_load()}")
    print(f"{'server':8}{'requests':>10}{'req/s':>8}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'errors':>8}"
          f"{'CPU ms/req':>12}" + (f"{'CPU cores':>11}{'throttled':>13}" if held else ""))
    for i, text in enumerate(out):
        n, dur, p50, p95, p99, errors = next(x for x in text.splitlines() if x.startswith("RESULT")).split()[1:]
        n, dur = int(n), int(dur) / 1e6
        total += n
        print(f"{i + 1:<8}{n:>10}{n / dur:>8.0f}{float(p50):>9.1f}{float(p95):>9.1f}{float(p99):>9.1f}"
              f"{errors:>8}{1000 * cpu[i] / max(n, 1):>12.2f}", end="")
        if held:
            st = stats[i]
            print(f"{cpu[i] / dur:>11.3f}{st['nr_throttled']:>7}/{st['nr_periods']:<5}", end="")
        print()
    added = _audited(args.state_url) - before
    in_flight = max(1, args.clients // args.servers) * len(servers)
    print(f"all     {total:>10}{total / args.seconds:>8.0f}   CPU ms/request: servers "
          f"{1000 * sum(cpu) / max(total, 1):.2f}, wrk {1000 * wrk_cpu / max(total, 1):.2f}, PostgreSQL "
          f"{1000 * pg_cpu / max(total, 1):.2f}{'' if pg else ' (not ours: not measured)'}")
    print(f"audit entries added: {added}; wrk counted {total} completed, plus at most {in_flight} in flight "
          f"({'consistent' if total <= added <= total + in_flight else 'MISMATCH'})")
    return total


def _pg_cpu(pg) -> float:
    """CPU seconds of the throwaway PostgreSQL: its postmaster and the backends alive now."""
    if pg is None:
        return 0.0
    total, ticks = 0, os.sysconf("SC_CLK_TCK")
    for p in _pg_pids(pg):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / ticks


def _pg_pids(pg) -> list[int]:
    """The throwaway PostgreSQL's postmaster and its children alive now."""
    pid = int((pg.data / "postmaster.pid").read_text().split()[0])
    try:
        return [pid, *map(int, Path(f"/proc/{pid}/task/{pid}/children").read_text().split())]
    except OSError:
        return [pid]


def _audited(url: str) -> int:
    import psycopg

    with psycopg.connect(url) as con:
        return con.execute("SELECT count(*) FROM audit_entries").fetchone()[0]


if __name__ == "__main__":
    main()
