"""Every API endpoint a local authority's staff use, timed one by one on a real server, with its memory.

    PYTHONPATH=src python benchmarks/bench_api.py --endpoints --data-dir DIR --work W --n 20
    PYTHONPATH=src python benchmarks/bench_api.py --endpoints --children 5000 --work W

``--data-dir`` (a linked data directory, as bench_link.py leaves) is copied to ``W``/data the first
time; the copy is used after that and the original is never written. Without it ``--children N``
builds one in ``W``. The organisations and API clients are registered the documented way, with
``linkage orgs add`` and ``linkage clients add`` (a client for each role, new each run: a secret
is shown once). ``--entries`` fills the audit log first (bench_pages.fill_audit), so the DPO's
calls run against a log of that size. The server is the real ``linkage serve``; each endpoint is
called once cold (the first call after the server started: caches empty) and then ``--n`` times
warm, in turn, as its role and under its purpose. Prints, per endpoint, the status, the cold
time, p50/p95 warm, the response size and the most the server's resident memory rose during
that endpoint's calls; then the server's resident and peak memory
(``VmRSS``/``VmHWM``) after start and at the end, and the CPU seconds it used.
"""

from __future__ import annotations

import os
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

# role name: (organisation type, code, role, purpose)
ROLES = {"admissions": ("ap_school", "140001", "admissions", "admission"),
         "social_worker": ("social_care", "803", "social_worker", "safeguarding"),
         "cme_officer": ("la_education", "802", "cme_officer", "cme"),
         "data_manager": ("la_education", "802", "data_manager", "data_management"),
         "dpo": ("dpo", "801", "dpo", "audit"),
         "commissioner": ("la_education", "802", "commissioner", "outcomes")}
ORG_NAMES = {"ap_school": "Oak AP Academy", "social_care": "Northshire Children's Services",
             "la_education": "Northshire Education", "dpo": "Northshire Council DPO"}


def _cli(home: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "linkage.cli", *args, "--data-dir", str(home)],
                          capture_output=True, text=True)


def register(home: Path) -> dict[str, tuple[str, str]]:
    """An organisation per type (kept if a run before registered it) and a new client per role."""
    creds = {}
    for org_type, code, *_ in ROLES.values():
        _cli(home, "orgs", "add", "--name", ORG_NAMES[org_type], "--type", org_type, "--code", code)
    stamp = time.strftime("%H%M%S")
    for name, (_, code, role, _) in ROLES.items():
        r = _cli(home, "clients", "add", "--name", f"bench {name} {stamp}", "--org", code, "--role", role)
        found = re.search(r"client_id: (\S+)\s+client_secret: (\S+)", r.stdout)
        if not found:
            raise SystemExit(f"clients add for {name} failed: {r.stdout}{r.stderr}")
        creds[name] = found.groups()
    return creds


def memory(pid: int) -> tuple[float, float, float]:
    """(resident MiB, peak resident MiB, CPU seconds) of a process: the server itself with one worker."""
    status = Path(f"/proc/{pid}/status").read_text()
    rss, hwm = (int(re.search(rf"{k}:\s+(\d+)", status).group(1)) / 1024 for k in ("VmRSS", "VmHWM"))
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = sum(int(x) for x in fields[11:15]) / os.sysconf("SC_CLK_TCK")
    return rss, hwm, cpu


class Caller:
    def __init__(self, url: str, client_id: str, secret: str, purpose: str) -> None:
        r = httpx.post(url + "/oauth/token", data={"grant_type": "client_credentials"},
                       auth=(client_id, secret), timeout=60)
        r.raise_for_status()
        self.http = httpx.Client(base_url=url, timeout=600, headers={
            "Authorization": "Bearer " + r.json()["access_token"], "X-Purpose": purpose})

    def call(self, method: str, path: str, body: dict | None = None) -> tuple[float, httpx.Response]:
        t = time.perf_counter()
        r = self.http.request(method, path, json=body)
        return (time.perf_counter() - t) * 1000, r


def plan(c: dict[str, Caller], query: dict) -> list[tuple[str, str, str, str, dict | None, bool | int]]:
    """(role, label, method, path, body, repeat): the workflows, each endpoint's arguments found
    from the answers before it (a child the lookup found, a pair from the queue, ...). ``repeat``:
    True for ``--n`` warm calls, or how many (a decision is made once; the whole chain's
    verification, which reads the whole log, twice)."""
    def first(role: str, path: str, key: str, field: str):
        items = c[role].call("GET", path)[1].json().get(key) or [{}]
        return items[0].get(field)
    match = (c["admissions"].call("POST", "/v1/lookup", query)[1].json().get("match") or {}).get("child_id")
    cme_child = first("social_worker", "/v1/cme", "children", "child_id")
    pair = first("data_manager", "/v1/review?page=5", "pairs", "id")
    canonical = (first("dpo", "/v1/audit?limit=1&decision=allow&purpose=admission", "entries", "child_id")
                 or "C-0").split(",")[0]
    head = c["dpo"].call("GET", "/v1/audit/checkpoints")[1].json().get("head") or 0
    sorted_cme = "/v1/cme?min_age=7&max_age=14&sort=out_of_school&order=desc"
    steps = [("admissions", "lookup", "POST", "/v1/lookup", query, True),
             ("admissions", "child view (own lookup)", "GET", f"/v1/children/{match}", None, True),
             ("admissions", "refused: CME list", "GET", "/v1/cme", None, True),
             ("social_worker", "CME list, page 1", "GET", "/v1/cme", None, True),
             ("social_worker", "CME list, sorted, ages 7-14", "GET", sorted_cme, None, True),
             ("social_worker", "child view (CME child)", "GET", f"/v1/children/{cme_child}", None, True),
             ("social_worker", "identity changes since 0", "GET", "/v1/identity/changes?since=0", None, True),
             ("cme_officer", "CME list, page 1", "GET", "/v1/cme", None, True),
             ("cme_officer", "CME list, page 200", "GET", "/v1/cme?page=200", None, True),
             ("data_manager", "review queue, page 1", "GET", "/v1/review", None, True),
             ("data_manager", "review queue, page 200", "GET", "/v1/review?page=200", None, True),
             ("data_manager", "review pair", "GET", f"/v1/review/{pair}", None, True),
             ("data_manager", "review decision", "POST", f"/v1/review/{pair}/decision",
              {"decision": "match", "reviewer": "bench", "note": "same child"}, 0),
             ("data_manager", "quarantine, page 1", "GET", "/v1/quarantine", None, True),
             ("data_manager", "quarantine export (CSV)", "GET", "/v1/quarantine/export", None, True),
             ("dpo", "audit search, newest page", "GET", "/v1/audit?limit=100", None, True),
             ("dpo", "audit search, deep offset", "GET", f"/v1/audit?limit=100&offset={max(0, head - 200)}",
              None, True),
             ("dpo", "audit search by agency", "GET", "/v1/audit?agency=Org%207&limit=100", None, True),
             ("dpo", "audit search by child", "GET", f"/v1/audit?child_id={canonical}", None, True),
             ("dpo", "audit search, refusals", "GET", "/v1/audit?decision=deny&limit=100", None, True),
             ("dpo", "subject access report", "GET", f"/v1/audit/subject/{canonical}", None, True),
             ("dpo", "break-glass uses", "GET", "/v1/audit/break-glass", None, True),
             ("dpo", "checkpoints", "GET", "/v1/audit/checkpoints", None, True),
             ("dpo", "proof, last 1,000", "GET", f"/v1/audit/proof?from={max(0, head - 1000)}&to={head}", None,
              True),
             ("dpo", "verify the whole chain", "GET", "/v1/audit/verify", None, 2),
             ("dpo", "refused: child view", "GET", f"/v1/children/{cme_child}", None, True),
             ("commissioner", "AP outcomes", "GET", "/v1/outcomes", None, True)]
    return steps


class Resident:
    """The most a process held resident (MiB) since the last ``reset``, sampled every 20 ms: what
    one endpoint's calls add to the server's memory (the kernel's peak is set by the start)."""

    def __init__(self, pid: int) -> None:
        self.pid, self.most, self._stop = pid, 0.0, threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def now(self) -> float:
        return memory(self.pid)[0]

    def _watch(self) -> None:
        while not self._stop.wait(0.02):
            try:
                self.most = max(self.most, self.now())
            except (OSError, AttributeError):
                return

    def reset(self) -> float:
        self.most = self.now()
        return self.most

    def stop(self) -> None:
        self._stop.set()


def run(home: Path, n: int, query: dict, server) -> list[tuple]:
    """Each step of ``plan`` once cold (the first such call since the server started), then warm."""
    creds = register(home)
    callers = {name: Caller(server.url, *creds[name], ROLES[name][3]) for name in ROLES}
    steps = plan(callers, query)
    rows, rss = [], Resident(server.proc.pid)
    for role, label, method, path, body, repeat in steps:
        before = rss.reset()
        cold, r = callers[role].call(method, path, body)
        warm = [callers[role].call(method, path, body)[0] for _ in range(n if repeat is True else repeat)]
        rows.append((role, label, r.status_code, cold, statistics.median(warm) if warm else float("nan"),
                     sorted(warm)[int(0.95 * (len(warm) - 1))] if warm else float("nan"), len(r.content),
                     rss.most - before))
        print(f"{role:14} {label:32} {r.status_code:>4} {cold:9.0f} {rows[-1][4]:8.0f} {rows[-1][5]:8.0f} "
              f"{len(r.content):>10} {rows[-1][7]:8.0f}", flush=True)
    rss.stop()
    return rows


def main(args) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    from apiserver import Server
    from bench_api import build, sample_queries
    from bench_pages import fill_audit

    home = args.work / "data"
    if args.data_dir is not None and not home.exists():
        shutil.copytree(args.data_dir, args.work / "data.partial", symlinks=True)
        (args.work / "data.partial").rename(home)       # a copy cut short is copied again
    elif args.data_dir is None and not (args.work / "built").exists():
        if home.exists():
            raise SystemExit(f"{home} is a copy or a build cut short, not a build: give --data-dir, or delete it")
        build(args.children, args.work)
        (args.work / "built").write_text(f"{args.children}\n")
    if args.entries:
        print(f"audit log: {fill_audit(home, args.entries)} entries")
    query = sample_queries(home, 1)[0]
    t = time.perf_counter()
    server = Server(home, env={"LINKAGE_LOOKUP_PER_MINUTE": "100000", "LINKAGE_LOOKUP_BURST": "10000"},
                    ready_within=900)
    started = time.perf_counter() - t
    try:
        at_start = memory(server.proc.pid)
        print(f"{'role':14} {'endpoint':32} {'st':>4} {'cold ms':>9} {'p50 ms':>8} {'p95 ms':>8} {'bytes':>10} "
              f"{'+MiB':>8}")
        run(home, args.n, query, server)
        at_end = memory(server.proc.pid)
    finally:
        server.stop()
    load = os.getloadavg()
    print(f"\nserver ready in {started:.0f} s; resident {at_start[0]:.0f} MiB after start (peak {at_start[1]:.0f}, "
          f"{at_start[2]:.0f} CPU s), {at_end[0]:.0f} MiB at the end (peak {at_end[1]:.0f}, "
          f"{at_end[2] - at_start[2]:.1f} CPU s for the calls); load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")
