"""How long each staff page takes the server to render, signed in as each role through the
real sign-in form, on a linked population and a large audit log.

    PYTHONPATH=src python benchmarks/bench_pages.py --data-dir DIR --work /tmp/pages1m --pages staff
    PYTHONPATH=src python benchmarks/bench_pages.py --children 5000 --work /tmp/pages-bench

``--data-dir`` is a linked data directory (bench_link.py / bench_api.py leave one). It is copied
to ``--work``/data the first time (later runs reuse the copy), and the people, their organisations
and the audit entries go into the copy: the original is never written. Without it
``--children N`` builds one under ``--work`` (kept: a second run reuses it; a build cut short
leaves no ``built`` marker: delete that ``--work`` directory before building again).
``--pages`` picks the staff pages (everyone's but the DPO's), the DPO's, or all. Before the server
starts, synthetic audit entries spread over 30 days are appended through the real ``AuditLog``
(chained and MAC'd as the service writes them; only the per-entry fsync is skipped, to write
them in minutes) until the log holds ``--entries``. The server is the real ``linkage serve`` on
loopback; each page is fetched once to warm it (that first time is printed too), then ``--n``
times; the time is the whole HTTP round trip on loopback (the server's render, and little
else). Prints p50/p95 per page against the 300 ms target: the DPO pages count the whole window
on a server's first visit and then only what changed. ``--only dpo`` times one role's pages.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import statistics
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import urlencode

import httpx

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
sys.path.insert(0, str(HERE))

TARGET_MS = 300
PASSWORD = "a long synthetic password 1"
PEOPLE = {"ap": ("amy@bench.example", "Amy Adeyemi", "Oak AP Academy", "ap_school", "140001", "admissions"),
          "cme": ("cam@bench.example", "Cam Price", "Northshire Education", "la_education", "802", "cme_officer"),
          "data": ("dana@bench.example", "Dana Shah", "Northshire Education", "la_education", "802", "data_manager"),
          "dpo": ("dee@bench.example", "Dee Okafor", "Northshire Council", "dpo", "801", "dpo"),
          "commissioner": ("kim@bench.example", "Kim Osei", "Northshire Education", "la_education", "802",
                           "commissioner")}


def fill_audit(home: Path, entries: int) -> int:
    """Append synthetic entries (300 people, 40 organisations, 30 days) until the log holds ``entries``."""
    import linkage.audit.log as audit_log
    from linkage.audit import AuditLog

    log = AuditLog(home, checkpoint_every=10_000)
    have = log.head()
    if have >= entries:
        log.index.sync()                # the backlog indexed before the server starts
        log.close()
        return have
    fsync, audit_log.os.fsync = audit_log.os.fsync, lambda fd: None     # durability is not what is measured
    try:
        rng, end, n = random.Random(have), datetime.now(timezone.utc), entries - have
        for i in range(n):
            log.append({"request_id": "bench", "client_id": f"user:{rng.randrange(300)}",
                        "agency": f"Org {rng.randrange(40)}",
                        "purpose": rng.choice(["admission", "cme", "safeguarding", "care"]),
                        "action": rng.choice(["view", "lookup", "list_cme"]),
                        "children": [f"C-{rng.randrange(100000)}"],
                        "decision": "allow" if rng.random() < .9 else rng.choice(["deny", "refused"]),
                        "time": (end - timedelta(seconds=30 * 86400 * (n - i) / n)).isoformat()})
    finally:
        audit_log.os.fsync = fsync
    log.index.sync()
    log.close()
    return entries


def sign_in(url: str, email: str) -> httpx.Client:
    c = httpx.Client(base_url=url, timeout=60)
    token = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/app/sign-in").text).group(1)
    r = c.post("/app/sign-in", data={"email": email, "password": PASSWORD, "csrf_token": token})
    if r.status_code != 303:
        raise SystemExit(f"sign-in as {email} failed: {r.status_code}")
    return c


def csrf(c: httpx.Client, form_page: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', c.get(form_page).text).group(1)


def time_page(c: httpx.Client, n: int, method: str, path: str, data: dict | None = None,
              form_page: str = "/app/lookup") -> tuple[list[float], int, float]:
    """``n`` timed requests after one to warm (its time is returned too); a form's CSRF token is
    fetched (untimed) from ``form_page``."""
    def once() -> tuple[float, int]:
        if data is not None:
            data["csrf_token"] = csrf(c, form_page)
        t = time.perf_counter()
        r = c.request(method, path, data=data)
        return (time.perf_counter() - t) * 1000, r.status_code
    first = once()[0]                                # warm: caches, the audit index's tail
    runs = [once() for _ in range(n)]
    return [ms for ms, _ in runs], runs[-1][1], first


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-dir", type=Path)
    ap.add_argument("--children", type=int, default=5000)
    ap.add_argument("--work", type=Path, default=Path("/tmp/pages-bench"))
    ap.add_argument("--entries", type=int, default=200_000)
    ap.add_argument("--n", type=int, default=20)
    ap.add_argument("--pages", choices=("staff", "dpo", "all"), default="all",
                    help="staff: every page but the DPO's")
    ap.add_argument("--only", default="", help="time only the pages of this role (ap, cme, data, dpo, ...)")
    args = ap.parse_args()

    from apiserver import Server
    from bench_api import build, sample_queries
    from browserpages import ENV
    from linkage.store import Store

    home = args.work / "data"
    if args.data_dir is not None:
        if args.data_dir.resolve() == home.resolve():
            raise SystemExit("--work must not hold --data-dir itself: the benchmark writes into its copy")
        if not home.exists():
            t = time.perf_counter()
            shutil.copytree(args.data_dir, args.work / "data.partial", symlinks=True)
            (args.work / "data.partial").rename(home)       # a copy cut short is copied again
            print(f"copied {args.data_dir} to {home} in {time.perf_counter() - t:.0f} s")
    else:
        if not (args.work / "built").exists():          # a build cut short is built again
            t = time.perf_counter()
            build(args.children, args.work)
            (args.work / "built").write_text(f"{args.children}\n")
            print(f"built and linked {args.children} children in {time.perf_counter() - t:.0f} s")
    store = Store(home, read_only=True)
    records = store.rows("SELECT count(*) FROM store.records")[0][0]
    # An AP setting with placed pupils, for its leader's own-pupils page (none unless AP data was loaded).
    ap_urn = store.rows("""SELECT e.urn FROM store.edu_enrolment e JOIN store.ref_establishment r USING (urn)
        WHERE r.is_ap GROUP BY e.urn ORDER BY count(*) DESC, e.urn LIMIT 1""") if _has_table(
        store, "ref_establishment") else []
    store.close()
    t = time.perf_counter()
    entries = fill_audit(home, args.entries)
    print(f"audit log: {entries} entries ({time.perf_counter() - t:.0f} s to fill)")
    people = dict(PEOPLE)
    if ap_urn:
        people["leader"] = ("lee@bench.example", "Lee Marsh", "The AP setting", "ap_school", ap_urn[0][0],
                            "ap_leader")
    for email, *rest in people.values():
        if not _has_user(home, email):
            _add_person(home, email, *rest)
    q = sample_queries(home, 1)[0]
    dob = q["date_of_birth"].split("-")
    lookup = {"forename": q["forename"], "surname": q["surname"], "dob-day": dob[2], "dob-month": dob[1],
              "dob-year": dob[0], "postcode": q.get("postcode") or "", "purpose": "admission"}
    server = Server(home, env={**ENV, "LINKAGE_LOOKUP_PER_MINUTE": "100000", "LINKAGE_LOOKUP_BURST": "10000"},
                    ready_within=600)      # a million records take a minute or more to load
    rows = []
    try:
        ap_c = sign_in(server.url, PEOPLE["ap"][0])
        found = re.search(r'/app/children/([^"?]+)\?purpose=', ap_c.post(
            "/app/lookup", data={**lookup, "csrf_token": re.search(
                r'name="csrf_token" value="([^"]+)"', ap_c.get("/app/lookup").text).group(1)}).text)
        staff = [("ap", "start", "GET", "/app/", None),
                 ("ap", "lookup result", "POST", "/app/lookup", lookup)]
        if found:
            staff.append(("ap", "child page", "GET", f"/app/children/{found.group(1)}?purpose=admission", None))
        sorted_filtered = {"purpose": "cme", "age_from": "7", "age_to": "14", "known_to": "any",
                           "sort": "out_of_school", "order": "desc"}
        staff += [("cme", "CME worklist", "GET", "/app/cme?purpose=cme", None),
                  ("cme", "CME worklist sorted, filtered", "GET", "/app/cme?" + urlencode(sorted_filtered), None),
                  ("cme", "CME worklist, page 3", "GET", "/app/cme?purpose=cme&page=3", None),
                  ("cme", "CME CSV export (all listed)", "POST", "/app/cme/export", {"purpose": "cme"}),
                  ("data", "review pair", "GET", "/app/review", None),
                  ("data", "review pair, position 10", "GET", "/app/review?position=10", None),
                  ("data", "quarantine", "GET", "/app/quarantine", None),
                  ("data", "quality", "GET", "/app/quality", None),
                  ("commissioner", "AP outcomes", "GET", "/app/outcomes", None),
                  ("commissioner", "AP outcomes CSV", "GET", "/app/outcomes.csv", None)]
        if ap_urn:
            staff.append(("leader", "AP leader's own pupils", "GET", "/app/outcomes/pupils", None))
        dpo = [("dpo", "DPO overview", "GET", "/app/dpo", None),
               ("dpo", "DPO access, 30 days", "GET", "/app/dpo/access?days=30", None),
               ("dpo", "DPO security events", "GET", "/app/dpo/security", None),
               ("dpo", "DPO break-glass", "GET", "/app/dpo/break-glass", None),
               ("dpo", "DPO unusual patterns", "GET", "/app/dpo/patterns", None),
               ("dpo", "DPO unusual patterns, all shown", "GET", "/app/dpo/patterns?show=all", None),
               ("dpo", "DPO consents", "GET", "/app/dpo/consents", None),
               ("dpo", "DPO chain (no verify)", "GET", "/app/dpo/chain", None)]
        pages = {"staff": staff, "dpo": dpo, "all": staff + dpo}[args.pages]
        forms = {"/app/lookup": "/app/lookup", "/app/cme/export": "/app/cme?purpose=cme"}
        clients = {"ap": ap_c}
        for role, name, method, path, data in [p for p in pages if args.only in ("", p[0])]:
            c = clients.get(role) or clients.setdefault(role, sign_in(server.url, people[role][0]))
            try:
                ms, status, first = time_page(c, args.n, method, path, dict(data) if data else None,
                                              forms.get(path, ""))
            except httpx.TimeoutException:
                rows.append((name, "timeout", float("inf"), float("inf"), float("inf")))
            else:
                rows.append((name, status, statistics.median(ms), sorted(ms)[int(0.95 * (len(ms) - 1))], first))
            print(f"{rows[-1][0]:34} {rows[-1][1]:>7} {rows[-1][2]:8.0f} {rows[-1][3]:8.0f} {rows[-1][4]:8.0f}",
                  flush=True)
    finally:
        server.stop()
    load = os.getloadavg()
    print(f"\n{records} records, {entries} audit entries, n={args.n} per page, "
          f"load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")
    print(f"{'page':34} {'status':>6} {'p50 ms':>8} {'p95 ms':>8} {'first ms':>8}  under {TARGET_MS} ms (p95)")
    for name, status, p50, p95, first in rows:
        print(f"{name:34} {status:>6} {p50:8.0f} {p95:8.0f} {first:8.0f}  "
              f"{'yes' if p95 < TARGET_MS else 'NOT REACHED'}")


def _has_table(store, name: str) -> bool:
    return bool(store.rows("SELECT 1 FROM duckdb_tables() WHERE database_name = 'store' AND table_name = ?",
                           [name]))


def _add_person(home: Path, email: str, name: str, org_name: str, org_type: str, code: str, role: str) -> None:
    """A person in the organisation of that name, or the one already registered with that code
    and type (a data directory another benchmark left), or a new one."""
    from linkage.access.orgs import OrgRegistry
    from linkage.access.users import UserRegistry
    from linkage.store.state import ServiceState

    orgs = OrgRegistry(ServiceState(home))
    org = orgs.by_name(org_name) or next((o for o in orgs.list() if o.code == code and o.org_type == org_type), None)
    if org is None:
        from browserpages import add_user

        add_user(home, email, name, org_name, org_type, code, role)
    else:
        UserRegistry(orgs.state, orgs).add(email, name, org.org_id, role, PASSWORD)


def _has_user(home: Path, email: str) -> bool:
    from linkage.access.orgs import OrgRegistry
    from linkage.access.users import UserRegistry
    from linkage.store.state import ServiceState

    state = ServiceState(home)
    return UserRegistry(state, OrgRegistry(state)).by_email(email) is not None


if __name__ == "__main__":
    main()
