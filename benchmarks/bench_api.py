"""Benchmark the API: lookup and child-view latency and throughput, with audit on; or, with
``--endpoints``, every endpoint each role uses, one at a time (benchmarks/bench_endpoints.py).

    python benchmarks/bench_api.py --data-dir bench-out/synth-540000-42/ours --clients 8 --seconds 60

``--data-dir`` is a linked data directory (bench_link.py leaves one per run);
without it, ``--children N`` builds one. The server is the real ``linkage
serve`` on loopback; N asynchronous clients each loop lookup -> child view
until the time is up. Prints p50/p95/p99 per endpoint, requests per second,
errors, and whether audit entries equal requests.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
from datetime import date
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def build(children: int, work: Path) -> Path:
    from linkage.connectors import ingest_file
    from linkage.link import run_link
    from linkage.store import Store
    from linkage.synth import synthesise

    manifest = synthesise(children, 42, work / "extracts")
    store = Store(work / "data")
    for s in ("education", "social_care", "health"):
        ingest_file(store, s, work / "extracts" / f"{s}.csv", extract_date=date.fromisoformat(manifest["extract_date"]))
    run_link(store)
    store.close()
    return work / "data"


def sample_queries(home: Path, n: int) -> list[dict]:
    from linkage.store import Store

    store = Store(home, read_only=True)
    rows = store.rows(f"SELECT forename, surname, date_of_birth, postcode FROM store.records "
                      f"WHERE source = 'education' USING SAMPLE {n} ROWS")
    store.close()
    out = []
    for f, s, dob, pc in rows:
        q = {"forename": f, "surname": s, "date_of_birth": dob.isoformat()}
        if pc:
            q["postcode"] = pc
        out.append(q)
    return out


def versus_splink(home: Path, queries: list[dict], n: int) -> None:
    """The same lookups in process: ours against plain Splink's predict_between over the
    whole linked population, with the lookup's blocking rules. Prints the time ratio and
    whether both give the same children with the same probabilities."""
    import statistics

    from splink import block_on

    from linkage.link.lookup import BLOCKS, INDEX, LookupIndex, LookupQuery
    from linkage.store import Store

    store = Store(home, read_only=True)
    idx = LookupIndex(store)
    con, engine = store.connection, idx.engine
    linker = engine.linker(json.dumps(idx.model))
    population = engine._register(f"SELECT * EXCLUDE (child_id, rid) FROM memory.{INDEX}", "population")
    columns = [r[0] for r in con.execute(f"DESCRIBE memory.{INDEX}").fetchall() if r[0] not in ("child_id", "rid")]
    rules = [block_on(*cols) for cols in BLOCKS]
    ours_ms, plain_ms, same, compared = [], [], 0, 0
    for q in queries[:n]:
        lq = LookupQuery(q["forename"], q["surname"], date.fromisoformat(q["date_of_birth"]), q.get("postcode"))
        t = time.perf_counter()
        ours = idx.search(lq, limit=1000, min_probability=0.0)
        ours_ms.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        row = {**lq.features(), "unique_id": "query:1", "source_dataset": "query"}
        con.execute(f"CREATE OR REPLACE TABLE memory.plain_query AS SELECT * FROM memory.{INDEX} LIMIT 0")
        con.execute(f"INSERT INTO memory.plain_query ({', '.join(columns)}) VALUES "
                    f"({', '.join('?' for _ in columns)})", [row[c] for c in columns])
        query = engine.db_api.register("plain_query", table_name=f"plain_query_{len(plain_ms)}")
        pred = linker.inference.predict_between([query], [population], link_type="link_and_dedupe",
                                                blocking_rules_to_generate_predictions=rules, warning_mode="never")
        scored = con.execute(f"""
            SELECT i.child_id, max(p.match_probability) FROM {pred.physical_name} p
            JOIN memory.{INDEX} i ON i.unique_id = CASE WHEN p.unique_id_l = 'query:1' THEN p.unique_id_r
                                                        ELSE p.unique_id_l END
            GROUP BY i.child_id""").fetchall()
        plain_ms.append((time.perf_counter() - t) * 1000)
        pred.drop_table_from_database_and_remove_from_cache()
        plain = dict(scored)
        ours_p = {c.child_id: c.match_probability for c in ours}
        compared += 1
        same += ours_p.keys() == plain.keys() and all(abs(p - plain[c]) < 1e-6 for c, p in ours_p.items())
    store.close()
    o, p = statistics.median(ours_ms), statistics.median(plain_ms)
    print(f"\nsame {compared} lookups in process, against plain Splink (predict_between over all "
          f"{idx.size:,} records, same blocking rules):")
    print(f"  ours p50 {o:.1f} ms; plain Splink p50 {p:.0f} ms; ratio ours/plain {o / p:.4f} ({p / o:.0f}x faster)")
    print(f"  same children with the same probabilities (within 1e-6): {same}/{compared}")


async def client_loop(url: str, token: str, queries: list[dict], until: float, stats: dict) -> None:
    headers = {"Authorization": f"Bearer {token}", "X-Purpose": "admission"}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=30) as http:
        while time.perf_counter() < until:
            q = random.choice(queries)
            t = time.perf_counter()
            r = await http.post("/v1/lookup", json=q)
            stats["lookup"].append((time.perf_counter() - t) * 1000)
            stats["requests"] += 1
            if r.status_code != 200:
                stats["errors"].append(r.status_code)
                continue
            match = r.json()["match"]
            if not match:
                continue
            t = time.perf_counter()
            v = await http.get(f"/v1/children/{match['child_id']}")
            stats["child"].append((time.perf_counter() - t) * 1000)
            stats["requests"] += 1
            if v.status_code != 200:
                stats["errors"].append(v.status_code)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", type=Path)
    ap.add_argument("--children", type=int, default=20000)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--workers", type=int, default=1, help="server processes")
    ap.add_argument("--driver", choices=["python", "wrk"], default="python",
                    help="load generator: asyncio httpx, or wrk (C, lighter on a 2-core machine)")
    ap.add_argument("--work", type=Path, default=Path("bench-out/api"))
    ap.add_argument("--versus-splink", type=int, default=20, metavar="N",
                    help="then time N lookups against plain Splink's predict_between (0 to skip)")
    ap.add_argument("--settle-seconds", type=float, default=900,
                    help="wait at most this long for the server's start-up warm-up before measuring")
    ap.add_argument("--cpus", help="pin the server to these cores (taskset -c), e.g. 0; wrk runs on the others "
                    "when any are left")
    ap.add_argument("--profile", type=Path, metavar="DIR",
                    help="py-spy record each server process during the last wrk run (its figures are "
                         "printed, but the profiler's cost is in them), into DIR")
    ap.add_argument("--profile-gil", action="store_true",
                    help="sample only threads holding the GIL (Python CPU; waits and GIL-free C work left out)")
    ap.add_argument("--modes", default="lookup,child,mixed", help="wrk runs, in order (comma-separated)")
    ap.add_argument("--endpoints", action="store_true",
                    help="instead: every endpoint each role uses, cold and warm, and the server's memory, on a "
                         "copy of --data-dir in --work (benchmarks/bench_endpoints.py)")
    ap.add_argument("--n", type=int, default=20, help="--endpoints: warm calls per endpoint")
    ap.add_argument("--entries", type=int, default=0, help="--endpoints: fill the copy's audit log to this many")
    args = ap.parse_args()
    ended_by_signal()
    if args.endpoints:
        from bench_endpoints import main as endpoints

        return endpoints(args)

    from apiserver import Server
    from registry import register

    home = args.data_dir or build(args.children, args.work)
    client, secret = register(home, f"bench {time.time():.0f}", "ap_school", "admissions", org="Bench AP Academy")
    queries = sample_queries(home, 2000)
    log = home / "audit" / "log.jsonl"
    before = len(log.read_text().splitlines()) if log.exists() else 0
    t0 = time.perf_counter()
    # Throughput is measured here, not the per-client lookup limit (60 a minute for a person by
    # default): the bench client is given the allowance of a system integration.
    server = Server(home, workers=args.workers, ready_within=900,    # a million records, on a busy machine
                    cpus=args.cpus, env={"LINKAGE_LOOKUP_PER_MINUTE": "100000", "LINKAGE_LOOKUP_BURST": "10000"})
    print(f"server ready in {time.perf_counter() - t0:.1f}s over {home}; load average {_load()}")
    settle(server, args.settle_seconds)
    try:
        token = httpx.post(server.url + "/oauth/token", data={"grant_type": "client_credentials"},
                           auth=(client.client_id, secret)).json()["access_token"]
        if args.driver == "wrk":
            _wrk(server, token, queries, args, log, before)
            if args.versus_splink:
                versus_splink(home, queries, args.versus_splink)
            return
        stats = {"lookup": [], "child": [], "errors": [], "requests": 0}
        # Warm-up, not measured, and its audit entries are counted separately.
        warm = {"lookup": [], "child": [], "errors": [], "requests": 0}
        asyncio.run(client_loop(server.url, token, queries, time.perf_counter() + 3, warm))
        start, cpu = time.perf_counter(), server_cpu(server)
        until = start + args.seconds

        async def run_all():
            await asyncio.gather(*(client_loop(server.url, token, queries, until, stats)
                                   for _ in range(args.clients)))

        asyncio.run(run_all())
        elapsed, cpu = time.perf_counter() - start, server_cpu(server) - cpu
    finally:
        server.stop()
    after = len(log.read_text().splitlines())
    audited = after - before - warm["requests"]
    print(f"\n{args.clients} concurrent clients for {elapsed:.0f}s, {args.workers} server workers, audit on")
    print(f"{'endpoint':14}{'n':>7}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}")
    for name, key in (("POST lookup", "lookup"), ("GET child", "child")):
        v = stats[key]
        print(f"{name:14}{len(v):>7}{_percentile(v, .5):>9.1f}{_percentile(v, .95):>9.1f}{_percentile(v, .99):>9.1f}")
    print(f"server CPU: {1000 * cpu / max(stats['requests'], 1):.2f} ms a request (all its processes, /proc)")
    print(f"throughput: {stats['requests'] / elapsed:.0f} requests/s; errors: {len(stats['errors'])}"
          f"{' ' + str(sorted(set(stats['errors']))) if stats['errors'] else ''}")
    print(f"audit entries added: {audited} for {stats['requests']} requests "
          f"({'equal' if audited == stats['requests'] else 'MISMATCH'}); load average {_load()}")
    if args.versus_splink:
        versus_splink(home, queries, args.versus_splink)



_LUA = """
local bodies = {%s}
local paths = {%s}
local mode = "%s"
local i = 0
local h = {["Authorization"] = "Bearer %s", ["X-Purpose"] = "admission", ["Content-Type"] = "application/json"}
request = function()
  i = i + 1
  local k = (i %% #bodies) + 1
  if mode == "lookup" or (mode == "mixed" and i %% 2 == 0) then
    return wrk.format("POST", "/v1/lookup", h, bodies[k])
  end
  return wrk.format("GET", paths[k], h)
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %%d %%d %%.1f %%.1f %%.1f %%d\\n", summary.requests, summary.duration,
    latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000,
    e.status + e.connect + e.read + e.write + e.timeout))
end
"""


def ended_by_signal() -> None:
    """SIGTERM (a timeout, a killed job) unwinds like Ctrl-C, so the ``finally`` that stops the
    servers runs: otherwise they, and their workers, outlive the benchmark."""
    import signal

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))


def _children_cpu() -> float:
    """CPU seconds used by this process's finished children (wrk), from ``os.times``."""
    import os

    t = os.times()
    return t.children_user + t.children_system


def _wrk_pin(cpus: str | None) -> list[str]:
    """wrk on the cores the server was not pinned to (all of them when it was pinned to every one)."""
    import os

    if not cpus:
        return []
    mine = set()
    for part in cpus.split(","):
        lo, _, hi = part.partition("-")
        mine.update(range(int(lo), int(hi or lo) + 1))
    rest = sorted(os.sched_getaffinity(0) - mine)
    return ["taskset", "-c", ",".join(map(str, rest))] if rest else []


def _spy(server, out: Path, mode: str, seconds: float, gil: bool) -> list:
    """``py-spy record`` on each server process for the run's length (flame graphs in ``out``)."""
    import shutil
    import subprocess

    out.mkdir(parents=True, exist_ok=True)
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    return [subprocess.Popen([spy, "record", "-p", str(pid), "-d", str(int(seconds)), "-r", "200", "-f", "raw", *(["--gil"] if gil else []),
                              "-o", str(out / f"{mode}-{pid}.txt")],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for pid in _pids(server)]


def server_cpu(server) -> float:
    """CPU seconds (user + system) used so far by the server and its worker processes (Linux /proc)."""
    import os

    ticks = os.sysconf("SC_CLK_TCK")
    try:
        total = 0
        for pid in _pids(server):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])      # utime, stime
    except OSError:
        return float("nan")
    return total / ticks


def server_io(server) -> tuple[int, int]:
    """Bytes (read, written) so far by the server and its worker processes through read and write
    calls (``rchar``/``wchar`` of /proc/<pid>/io: files, the page cache and sockets alike)."""
    got = [0, 0]
    for pid in _pids(server):
        try:
            for line in Path(f"/proc/{pid}/io").read_text().splitlines():
                key, _, value = line.partition(": ")
                if key in ("rchar", "wchar"):
                    got[key == "wchar"] += int(value)
        except OSError:
            continue
    return got[0], got[1]


def _load() -> str:
    import os

    return " / ".join(f"{x:.1f}" for x in os.getloadavg())


def _pids(server) -> list[int]:
    """The server and its worker processes."""
    pid = server.proc.pid
    try:
        return [pid] + [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return [pid]


def _connections(server) -> str:
    """wrk's connections held by each server process, as "6/2": the kernel splits them between
    the workers when wrk connects, and a run where both append to the audit log costs more CPU
    a lookup than one where one worker holds them all (docs/benchmarks.md, session 24)."""
    import subprocess

    port = server.url.rsplit(":", 1)[1]
    out = subprocess.run(["ss", "-tnpH", "state", "established", "sport", "=", f":{port}"],
                         capture_output=True, text=True).stdout
    held = [out.count(f"pid={pid},") for pid in _pids(server)]
    return "/".join(str(n) for n in sorted((n for n in held if n), reverse=True)) or "?"


def _background_threads(server) -> int:
    """Server threads at the lowest priority (nice 19): the start-up warm-up (``api.app._warm``)."""
    n = 0
    for pid in _pids(server):
        for task in Path(f"/proc/{pid}/task").glob("*"):
            try:
                n += int((task / "stat").read_text().rsplit(")", 1)[1].split()[16]) == 19
            except (OSError, IndexError, ValueError):
                continue
    return n


def settle(server, limit: float = 900) -> None:
    """Wait until the server's start-up warm-up (the DPO pages' counts and patterns search, in
    threads at nice 19) has finished and the server is idle, so the runs measure serving alone.
    How long it took and its CPU are printed: a real cost of each start (and each worker), paid once."""
    start, first = time.perf_counter(), server_cpu(server)
    last = first
    while time.perf_counter() - start < limit:
        time.sleep(1)
        now = server_cpu(server)
        busy, last = now - last >= 0.05, now          # over 5% of a core: still working
        if not busy and not _background_threads(server):
            break
    left = _background_threads(server)
    print(f"start-up warm-up: {time.perf_counter() - start:.0f}s after ready, {server_cpu(server) - first:.1f} CPU-s"
          f"{f'; STILL RUNNING in {left} threads after {limit:.0f}s' if left else ''} (the runs start after it)")


def _wrk(server, token: str, queries: list[dict], args, log: Path, before: int) -> None:
    """Replay real lookups and child views with wrk; per-endpoint runs, then a mixed one."""
    import subprocess
    import tempfile

    bodies, paths, attempted = [], [], 0
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}",
                                                    "X-Purpose": "admission"}) as http:
        for q in queries[:300]:
            attempted += 1
            match = http.post("/v1/lookup", json=q).json()["match"]
            if match:
                bodies.append(json.dumps(q))
                paths.append(f"/v1/children/{match['child_id']}")
    lua_list = lambda xs: ", ".join(json.dumps(x) for x in xs)  # noqa: E731  (JSON strings are Lua strings)
    total = 0
    print(f"\nwrk, {args.clients} connections, {args.seconds:.0f}s per run, "
          f"{args.workers} server workers, audit on")
    print(f"{'run':10}{'requests':>10}{'req/s':>8}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'errors':>8}"
          f"{'CPU ms/req':>12}{'wrk CPU ms':>12}{'conns/wkr':>12}{'KB rd/req':>11}{'KB wr/req':>11}")
    modes = args.modes.split(",")
    for i, mode in enumerate(modes):
        with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as fh:
            fh.write(_LUA % (lua_list(bodies), lua_list(paths), mode, token))
        profiled = args.profile and i == len(modes) - 1
        spies = _spy(server, args.profile, mode, args.seconds, args.profile_gil) if profiled else []
        cpu, wrk_cpu, io = server_cpu(server), _children_cpu(), server_io(server)
        wrk = subprocess.Popen([*_wrk_pin(args.cpus), "wrk", "-t1", f"-c{args.clients}", f"-d{int(args.seconds)}s",
                                "-s", fh.name, server.url], stdout=subprocess.PIPE, text=True)
        time.sleep(min(2.0, args.seconds / 2))
        split = _connections(server)
        out = wrk.communicate()[0]
        wrk_cpu = _children_cpu() - wrk_cpu
        for spy in spies:
            spy.wait()
        n, dur, p50, p95, p99, errors = next(line for line in out.splitlines()
                                             if line.startswith("RESULT")).split()[1:]
        n, dur, cpu = int(n), int(dur) / 1e6, server_cpu(server) - cpu
        rd, wr = (b - a for a, b in zip(io, server_io(server)))
        total += n
        print(f"{mode + ('*' if profiled else ''):10}{n:>10}{n / dur:>8.0f}{float(p50):>9.1f}{float(p95):>9.1f}"
              f"{float(p99):>9.1f}{errors:>8}{1000 * cpu / max(n, 1):>12.2f}{1000 * wrk_cpu / max(n, 1):>12.2f}"
              f"{split:>12}{rd / 1024 / max(n, 1):>11.1f}{wr / 1024 / max(n, 1):>11.1f}")
    server.stop()
    after = len(log.read_text().splitlines())
    audited = after - before - attempted      # minus the lookups that prepared the replay
    # wrk stops counting at the deadline, but up to one request per connection is still in
    # flight; the server completes and audits those too.
    in_flight = len(modes) * args.clients
    ok = total <= audited <= total + in_flight
    print(f"audit entries added: {audited}; wrk counted {total} completed, plus at most {in_flight} in flight "
          f"at the deadlines ({'consistent' if ok else 'MISMATCH'}); load average {_load()}")


if __name__ == "__main__":
    main()
