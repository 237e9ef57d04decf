"""Does a lookup cost more after many lookups? Two servers, one given a history, then run in turn.

    python benchmarks/bench_api_history.py --data-dir DIR --history-runs 8 --pairs 3 --seconds 15 --workers 2

CPU per lookup measured run after run on one server rises and falls with the machine's load
(cache contention, the share of a core each thread gets), so a rise over consecutive runs does
not by itself say that the server's own work grows with its history. Here two servers start on
two copies of ``--data-dir`` (each its own audit log, index and service state). Server X alone
is run ``--history-runs`` times; then X (with that history) and Y (fresh) are run alternately,
``--pairs`` times each, in alternating order, so both see the same load. A cost that grows with
the number of earlier requests shows as X above Y in every pair.

Each run prints, per lookup: the server's CPU (user, system), bytes and syscalls read and
written, page faults and context switches (/proc, all its processes): counts that load does not
inflate as it inflates CPU time. Token lifetime is set to an hour so the runs outlast it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
sys.path.insert(0, str(HERE))

_TICK = os.sysconf("SC_CLK_TCK")


def counters(pids: list[int]) -> dict[str, float]:
    """CPU seconds and I/O, fault and switch counts so far, summed over ``pids`` (Linux /proc)."""
    c: dict[str, float] = defaultdict(float)
    for pid in pids:
        f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        c["user"] += int(f[11]) / _TICK
        c["sys"] += int(f[12]) / _TICK
        c["minflt"] += int(f[7])
        for line in Path(f"/proc/{pid}/io").read_text().splitlines():
            k, v = line.split(":")
            if k in ("rchar", "wchar", "syscr", "syscw"):
                c[k] += int(v)
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.endswith("ctxt_switches") or "ctxt_switches:" in line:
                k, v = line.split(":")
                c[k.split("_")[0]] += int(v)
    return c


class Side:
    """One server on its own copy of the data, with a wrk script replaying real lookups."""

    def __init__(self, name: str, home: Path, args) -> None:
        import bench_api as bench
        from apiserver import Server
        from registry import register

        self.name, self.args, self.bench, self.total = name, args, bench, 0
        client, secret = register(home, f"history {name} {time.time():.0f}", "ap_school", "admissions",
                                  org="Bench AP Academy")
        queries = bench.sample_queries(home, 2000)
        self.server = Server(home, workers=args.workers, ready_within=2400, cpus=args.cpus,
                             env={"LINKAGE_LOOKUP_PER_MINUTE": "100000", "LINKAGE_LOOKUP_BURST": "10000",
                                  "LINKAGE_TOKEN_TTL_SECONDS": "3600"})
        bench.settle(self.server, 900)
        token = httpx.post(self.server.url + "/oauth/token", data={"grant_type": "client_credentials"},
                           auth=(client.client_id, secret)).json()["access_token"]
        bodies = []
        with httpx.Client(base_url=self.server.url, timeout=60,
                          headers={"Authorization": f"Bearer {token}", "X-Purpose": "admission"}) as http:
            for q in queries[:300]:
                if http.post("/v1/lookup", json=q).json()["match"]:
                    bodies.append(json.dumps(q))
        lua_list = lambda xs: ", ".join(json.dumps(x) for x in xs)  # noqa: E731  (JSON strings are Lua strings)
        with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as fh:
            fh.write(bench._LUA % (lua_list(bodies), lua_list([]), "lookup", token))
        self.lua = fh.name
        pids = bench._pids(self.server)
        self.pids = pids[1:] if args.workers > 1 else pids       # the workers (the supervisor idles)

    def run(self, tag: str) -> None:
        before, load = counters(self.pids), self.bench._load()
        out = subprocess.run([*self.bench._wrk_pin(self.args.cpus), "wrk", "-t1", f"-c{self.args.clients}",
                              f"-d{self.args.seconds}s", "-s", self.lua, self.server.url],
                             capture_output=True, text=True).stdout
        after = counters(self.pids)
        n, dur, p50, p95, p99, errors = next(x for x in out.splitlines() if x.startswith("RESULT")).split()[1:]
        n = int(n)
        self.total += n
        d = {k: (after[k] - before[k]) / max(n, 1) for k in after}
        print(f"{tag:9}{self.name:>3}{n:>8}{n / (int(dur) / 1e6):>7.0f}{float(p95):>8.1f}{errors:>7}"
              f"{1000 * (d['user'] + d['sys']):>9.3f}{1000 * d['sys']:>8.3f}{d['rchar']:>9.0f}{d['wchar']:>9.0f}"
              f"{d['syscr']:>7.1f}{d['syscw']:>7.1f}{d['minflt']:>7.2f}{d['voluntary']:>6.2f}{d['nonvoluntary']:>6.2f}"
              f"{self.total:>9}  {load}", flush=True)

    def stop(self) -> None:
        workers = self.bench._pids(self.server)[1:]
        self.server.stop()
        for pid in workers:         # a worker the supervisor left behind
            try:
                os.kill(pid, 9)
            except ProcessLookupError:
                pass


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", type=Path, required=True, help="a linked data directory (copied twice, not changed)")
    ap.add_argument("--work", type=Path, default=Path("bench-out/api-history"))
    ap.add_argument("--history-runs", type=int, default=8)
    ap.add_argument("--pairs", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=15)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--cpus", help="pin both servers to these cores (taskset -c); wrk runs on the others")
    args = ap.parse_args()

    homes = []
    for name in ("x", "y"):
        home = args.work / name
        shutil.rmtree(home, ignore_errors=True)
        shutil.copytree(args.data_dir, home)
        homes.append(home)
    sides: list[Side] = []
    try:
        sides = [Side("X", homes[0], args), Side("Y", homes[1], args)]
        x, y = sides
        print(f"per lookup: CPU ms (sys ms), bytes read and written, read and write syscalls, minor faults, "
              f"voluntary and involuntary switches; {args.workers} workers, {args.clients} connections")
        print(f"{'run':9}{'srv':>3}{'n':>8}{'req/s':>7}{'p95 ms':>8}{'errors':>7}{'CPU ms':>9}{'sys ms':>8}"
              f"{'rchar':>9}{'wchar':>9}{'syscr':>7}{'syscw':>7}{'minflt':>7}{'vcs':>6}{'ivcs':>6}{'history':>9}  load")
        for i in range(args.history_runs):
            x.run(f"history{i + 1}")
        for i in range(args.pairs):
            for side in (x, y) if i % 2 == 0 else (y, x):
                side.run(f"pair{i + 1}")
    finally:
        for side in sides:
            side.stop()


if __name__ == "__main__":
    main()
