"""Zero-downtime monthly updates, end to end: two real servers on one data directory keep
answering a load generator while `linkage link` links next month and publishes a snapshot;
both switch to it without a failed request, and the audit log records every request once."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from dataclasses import asdict
from pathlib import Path

import httpx
import pytest

import incli
from apiserver import Server
from linkage.config import get_settings
from registry import register

pytestmark = pytest.mark.e2e

MONTH2 = "2026-11-01"


def cli(home, *args: str, env: dict | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", "linkage.cli", *args, "--data-dir", str(home)],
                          capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "LINKAGE_HOME": str(home), "LINKAGE_MEMORY_LIMIT": "1GB", **(env or {})})
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def publish_now(home) -> str:
    """A snapshot of ``home``'s store published as ``linkage publish`` does (its one call), in this
    process: a command of its own cost a test ~2 s of CPU to start. Returns its id."""
    from linkage.store import Store
    from linkage.store.snapshots import publish

    store = Store(home, memory_limit="1GB")
    try:
        return publish(store, get_settings().snapshot_keep).snapshot
    finally:
        store.close()


def published_copy(linked_store, home):
    """``home``: a copy of the session's linked month 1, its snapshot published."""
    linked_store.checkpoint()
    shutil.copytree(linked_store.home, home, ignore=shutil.ignore_patterns("tmp", "snapshots"))
    publish_now(home)
    return home


@pytest.fixture(scope="module")
def month2_waiting(tmp_path_factory, linked_store, synth_month2):
    """Month 1 linked and published (in ``snapshots/``), then next month's extracts ingested into
    the link host's store: made once for both switch tests (read-only: copy it). What they show
    under load is `linkage link` and the switch, not ingest."""
    from datetime import date

    from linkage.connectors import ingest_files
    from linkage.store import Store

    home = published_copy(linked_store, tmp_path_factory.mktemp("switch") / "data")
    store = Store(home, memory_limit="1GB")
    try:
        ingest_files(store, [(source, synth_month2 / f"{source}.csv") for source in ("education", "social_care",
                                                                                     "health")],
                     date.fromisoformat(MONTH2))
    finally:
        store.close()
    return home


def ready(server: Server) -> dict:
    r = httpx.get(server.url + "/readyz", timeout=10)
    assert r.status_code == 200, r.text
    return r.json()


def wait_for(servers, predicate, seconds: float) -> list[dict]:
    deadline = time.time() + seconds
    while time.time() < deadline:
        states = [ready(s) for s in servers]
        if all(map(predicate, states)):
            return states
        time.sleep(0.5)
    raise AssertionError(f"servers did not get there: {[ready(s) for s in servers]}")


class Load:
    """Threads issuing lookups and child views with real tokens, round robin over the servers."""

    def __init__(self, servers, callers, people, threads: int = 6, pause: float = 0.0) -> None:
        """``pause``: each thread's rest between one lookup (and view) and the next."""
        self.servers, self.callers, self.people, self.pause = servers, callers, people, pause
        self.results: list[tuple[float, int, str, int, str | None]] = []   # when, server, what, status, request id
        self.failures: list[str] = []
        self.pseudonyms: dict[tuple[str, int], set[str]] = defaultdict(set)
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(i,)) for i in range(threads)]
        self._lock = threading.Lock()

    def __enter__(self) -> Load:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(60)

    def until(self, counts, seconds: float, answers: int = 6) -> None:
        """Until every server has given ``answers`` answers that ``counts(when)`` (a condition, not a sleep)."""
        deadline = time.time() + seconds
        while True:
            with self._lock:
                got = Counter(s for when, s, *_ in self.results if counts(when))
            if all(got[s] >= answers for s in range(len(self.servers))):
                return
            assert time.time() < deadline and not self.failures, (got, self.failures)
            time.sleep(0.1)

    def _note(self, server: int, what: str, r: httpx.Response) -> None:
        with self._lock:
            self.results.append((time.time(), server, what, r.status_code, r.headers.get("X-Request-ID")))

    def _run(self, n: int) -> None:
        client, i = httpx.Client(timeout=60), n
        while not self._stop.is_set():
            i += 1
            server = i % len(self.servers)
            who, (token, purpose) = list(self.callers.items())[i % len(self.callers)]
            f, s, dob, pc = self.people[i % len(self.people)]
            headers = {"Authorization": f"Bearer {token}", "X-Purpose": purpose}
            base = self.servers[server].url
            try:
                r = client.post(base + "/v1/lookup", headers=headers, json={
                    "forename": f, "surname": s, "date_of_birth": dob.isoformat(), "postcode": pc})
                self._note(server, "lookup", r)
                match = r.json().get("match") if r.status_code == 200 else None
                if match:
                    self.pseudonyms[(who, i % len(self.people))].add(match["child_id"])
                    r = client.get(base + f"/v1/children/{match['child_id']}", headers=headers)
                    self._note(server, "view", r)
            except (httpx.HTTPError, ValueError) as exc:
                with self._lock:
                    self.failures.append(f"{base}: {type(exc).__name__}: {exc}")
            self._stop.wait(self.pause)


def forge(home, good: str) -> str:
    """A snapshot whose manifest is correctly signed but whose file was altered afterwards."""
    from linkage.store.snapshots import Manifest, snapshot_dir
    from linkage.store.snapshots import manifest_key

    root = snapshot_dir(home)
    run, _ = good.split("-")
    bad = f"{run}-29991231T235959000000"
    data = bytearray((root / f"{good}.duckdb").read_bytes())
    manifest = Manifest(bad, int(run), "2999-12-31T23:59:59+00:00", f"{bad}.duckdb", len(data),
                        hashlib.sha256(bytes(data)).hexdigest())
    data[len(data) // 3] ^= 0xFF                                       # altered after it was signed
    (root / f"{bad}.duckdb").write_bytes(bytes(data))
    mac = hmac.new(manifest_key(home), manifest.body(), hashlib.sha256).hexdigest()
    (root / f"{bad}.json").write_text(json.dumps({**asdict(manifest), "mac": mac}))
    (root / "current").write_text(bad + "\n")
    return bad


def _audit(mode: str, home, url: str | None) -> list[dict]:
    if mode == "postgres":
        import psycopg

        with psycopg.connect(url) as con:
            lines = [r[0] for r in con.execute("SELECT line FROM audit_entries ORDER BY seq")]
    else:
        lines = (home / "audit" / "log.jsonl").read_text().splitlines()
    return [json.loads(line)["entry"] for line in lines]


@pytest.mark.parametrize("mode", ["files", "postgres"])
def test_two_servers_switch_to_next_month_under_load_without_a_failed_request(
        tmp_path, linked_store, month2_waiting, mode, request, monkeypatch):
    """``files``: both servers on one data directory (service.sqlite, audit/log.jsonl). ``postgres``:
    as on three machines, as deploy/compose: two servers each with its own data directory and the
    same keys, sharing PostgreSQL for state and audit, and a link host that publishes snapshots
    to a shared directory, the only thing of the linked data the servers see."""
    home = tmp_path / "data"           # where `linkage link` runs
    shutil.copytree(month2_waiting, home)
    people = linked_store.rows("SELECT forename, surname, date_of_birth, postcode FROM store.records "
                               "WHERE source = 'education' ORDER BY record_key LIMIT 40")
    url, shared = None, {}
    if mode == "postgres":
        url = request.getfixturevalue("postgres_url")
        shared = {"LINKAGE_STATE_URL": url, "LINKAGE_SNAPSHOT_DIR": str(tmp_path / "snapshots")}
        for k, v in shared.items():
            monkeypatch.setenv(k, v)
        get_settings.cache_clear()
        # Month 1's snapshot, published before month 2 was ingested, where the link host publishes.
        shutil.move(home / "snapshots", shared["LINKAGE_SNAPSHOT_DIR"])
    # Next month's extracts are in the link host's store before the servers start (month2_waiting):
    # what is shown under load is `linkage link` and the switch; ingesting under the load as well
    # cost the suite ~10 s of CPU a run of this test (docs/benchmarks.md "Suite time (s27-suite)").
    creds = {"sw": (register(home, "sw", "social_care", "social_worker",
                             org="Northshire Children's Services"), "safeguarding"),
             "ap": (register(home, "ap", "ap_school", "admissions", org="Oak AP Academy"), "admission")}
    # Tokens for the hour: the load's, issued before, are used through a whole `linkage link`, which
    # can take past the default 5 minutes on a loaded CI machine (then every request is a 401).
    env = {"LINKAGE_LOOKUP_PER_MINUTE": "100000", "LINKAGE_LOOKUP_BURST": "10000", "LINKAGE_TOKEN_TTL_SECONDS": "3600",
           "LINKAGE_SNAPSHOT_POLL_SECONDS": "0.5", "LINKAGE_SNAPSHOT_GRACE_SECONDS": "2",
           "LINKAGE_MEMORY_LIMIT": "1GB", **shared}
    homes = [home, home]
    if mode == "postgres":
        homes = [tmp_path / "api1" / "data", tmp_path / "api2" / "data"]
        shutil.copytree(home / "keys", homes[0] / "keys")           # no linked database, no state, no audit
    servers = [Server(homes[0], env)]
    try:
        if mode == "postgres":                  # the keys the first server made (tokens, audit), as compose shares
            shutil.copytree(homes[0] / "keys", homes[1] / "keys")
            assert not (homes[0] / "linkage.duckdb").exists()
        servers.append(Server(homes[1], env))
        before = [ready(s) for s in servers]
        assert before[0]["snapshot"] == before[1]["snapshot"] is not None
        old_run = before[0]["run_id"]
        callers = {who: (servers[0].token(client, secret), purpose) for who, ((client, secret), purpose)
                   in creds.items()}
        # Six callers, each resting 0.1 s between lookups: requests in flight on both servers all
        # through the link and the switch, but not as fast as the servers can answer. Flat out they
        # took both cores, and the 3 CPU s link (what is under test) took 20 s or more of wall.
        with Load(servers, callers, people, pause=0.1) as load:
            load.until(lambda when: True, 60)                  # each server answering under load
            linked = cli(home, "link", env=shared).stdout
            linked_at = time.time()
            assert "published snapshot" in linked
            after = wait_for(servers, lambda st: st["run_id"] > old_run, 300)
            switched = time.time()
            closed = switched + 2                # past the grace period: the old data is closed under load
            load.until(lambda when: when > closed, 60)
        new = after[0]["snapshot"]
        assert after[1]["snapshot"] == new != before[0]["snapshot"]

        # No failed request: no connection errors, no 5xx, nothing but answers.
        assert load.failures == []
        statuses = Counter((what, status) for _, _, what, status, _ in load.results)
        assert set(statuses) == {("lookup", 200), ("view", 200)}, statuses
        for server in (0, 1):                    # each server answered before and after its switch
            assert sum(1 for when, s, *_ in load.results if s == server and when < linked_at) > 5
            assert sum(1 for when, s, *_ in load.results if s == server and when > switched) > 5
        # Pseudonyms carry on across the switch: one per organisation and child, throughout.
        assert load.pseudonyms and all(len(p) == 1 for p in load.pseudonyms.values()), load.pseudonyms

        # Every request audited exactly once, and the chain intact.
        ids = [rid for *_, rid in load.results]
        assert len(set(ids)) == len(ids)
        sent = set(ids)                          # once: rebuilt per entry it was ~10^8 steps (~15 s)
        audited = Counter(e.get("request_id") for e in _audit(mode, home, url) if e.get("request_id") in sent)
        assert sum(audited.values()) == len(ids) and set(audited.values()) == {1}
        verified = incli.run("audit", "verify", "--data-dir", str(homes[0]),
                             env={"LINKAGE_HOME": str(homes[0]), **shared})
        assert verified.returncode == 0 and "audit log intact" in verified.stdout, verified.stdout + verified.stderr

        # A snapshot altered after it was signed is refused; both keep serving the one they have.
        bad = forge(home, new)
        states = wait_for(servers, lambda st: st["refused"] == bad, 60)
        assert all(st["snapshot"] == new and st["status"] == "ready" for st in states)
        servers[0].proc.send_signal(signal.SIGHUP)          # `systemctl reload`: look now, keep serving
        time.sleep(1)
        assert servers[0].proc.poll() is None and ready(servers[0])["snapshot"] == new
        token, purpose = callers["sw"]
        f, s, dob, pc = people[0]
        for server in servers:
            r = httpx.post(server.url + "/v1/lookup", timeout=30, headers={
                "Authorization": f"Bearer {token}", "X-Purpose": purpose},
                json={"forename": f, "surname": s, "date_of_birth": dob.isoformat(), "postcode": pc})
            assert r.status_code == 200, r.text
    finally:
        for s in servers:
            s.stop()


class TwoWorkers:
    """``serve --workers 2`` on a published copy of month 1, its output read as it comes."""

    def __init__(self, home, env: dict) -> None:
        from apiserver import free_port

        self.home, self.port = home, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen([sys.executable, "-m", "linkage.cli", "serve", "--port", str(self.port),
                                      "--data-dir", str(home), "--workers", "2"],
                                     env={**os.environ, "LINKAGE_HOME": str(home), "LINKAGE_MEMORY_LIMIT": "1GB",
                                          **env},
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines: list[str] = []
        threading.Thread(target=lambda: self.lines.extend(self.proc.stdout), daemon=True).start()

    def until(self, what: str, times: int, seconds: float = 120) -> None:
        deadline = time.time() + seconds
        while sum(what in line for line in list(self.lines)) < times:
            assert self.proc.poll() is None, "".join(self.lines)
            assert time.time() < deadline, f"{what!r} not seen {times} times:\n" + "".join(self.lines)
            time.sleep(0.2)


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory, linked_store):
    """One ``serve --workers 2`` for the module's tests of the supervisor, polling off, with a SIGHUP
    sent while its workers start (``test_sighup_...`` checks that it ended nothing): each start of
    a two-worker server is three interpreters importing the whole service."""
    home = published_copy(linked_store, tmp_path_factory.mktemp("workers") / "data")
    server = TwoWorkers(home, {"LINKAGE_SNAPSHOT_POLL_SECONDS": "0", "LINKAGE_SNAPSHOT_GRACE_SECONDS": "1"})
    try:
        server.until("Started parent process", 1)
        time.sleep(0.5)
        server.proc.send_signal(signal.SIGHUP)            # while the workers start: ends nothing
        server.until("Application startup complete", 2)
        yield server
    finally:
        server.proc.terminate()
        server.proc.wait(30)


def test_sighup_reaches_every_worker_and_never_ends_a_starting_server(two_workers):
    """``serve --workers 2`` with polling off: SIGHUP to the supervisor makes each worker switch to
    the newly published snapshot in place (no restart), and one sent while the workers were still
    starting (``two_workers``) ended nothing."""
    from linkage.store.snapshots import current_id

    server, url = two_workers, two_workers.url
    first = httpx.get(url + "/readyz", timeout=10).json()["snapshot"]
    new = publish_now(server.home)
    assert new == current_id(server.home) != first
    time.sleep(2)                                     # polling is off: nobody looks by itself
    assert all(httpx.get(url + "/readyz", timeout=10).json()["snapshot"] == first for _ in range(6))
    server.proc.send_signal(signal.SIGHUP)
    server.until(f"now serving snapshot {new}", 2, 60)       # each worker, once
    assert all(httpx.get(url + "/readyz", timeout=10).json()["snapshot"] == new for _ in range(6))
    assert server.proc.poll() is None
    lines = list(server.lines)
    assert not any("restarting processes" in line or "died" in line for line in lines), "".join(lines)
    assert sum("Application startup complete" in line for line in lines) == 2     # no worker replaced


def test_the_supervisor_of_several_workers_loads_no_application(two_workers):
    """The supervisor only starts, watches and signals its workers (each loads the application
    itself): it once imported the whole service first, FastAPI, Splink and pandas, about 1 CPU s of
    every multi-worker start. pandas' compiled modules are not in its memory; the workers' they are."""
    def maps(pid: int) -> str:
        return Path(f"/proc/{pid}/maps").read_text()

    pytest.importorskip("pandas")
    if not Path(f"/proc/{two_workers.proc.pid}/maps").exists():
        pytest.skip("no /proc on this platform")
    workers = [int(p) for p in subprocess.run(["pgrep", "-P", str(two_workers.proc.pid)], capture_output=True,
                                              text=True).stdout.split()]
    loaded = [pid for pid in workers if "/pandas/_libs/" in maps(pid)]
    assert len(loaded) == 2, (workers, loaded)
    assert "/pandas/_libs/" not in maps(two_workers.proc.pid), two_workers.proc.pid


def test_a_retired_snapshot_stays_open_while_a_request_started_on_it_runs(tmp_path, linked_store):
    """The old data is closed once its grace period is over AND the last request that started on it
    has ended: a slow request (a large export, a loaded machine) never finds its data closed under it."""
    from linkage.service.container import Services
    from linkage.service.switch import SnapshotWatcher
    from linkage.store.snapshots import current_id

    home = published_copy(linked_store, tmp_path / "data")
    settings = get_settings().model_copy(update={"memory_limit": "1GB"})
    served = {"now": Services.open(home, settings)}
    old = served["now"]
    watcher = SnapshotWatcher(home, lambda: served["now"], lambda new: served.update(now=new),
                              poll_seconds=0, grace_seconds=0)
    try:
        assert old.enter(), "a request starts on the first snapshot"
        publish_now(home)
        assert watcher.check() and served["now"].snapshot == current_id(home) != old.snapshot
        watcher._release_due()                           # grace over, the request still running
        assert old.cursor().execute("SELECT 1").fetchone() == (1,), "closed under a running request"
        assert len(watcher._retired) == 1
        assert served["now"].enter(), "a new request holds the new data"
        served["now"].leave()
        old.leave()                                      # the request ends
        watcher._release_due()
        assert watcher._retired == [] and not old.enter(), "released once idle, and never held again"
    finally:
        watcher.stop()
        served["now"].close()


def test_a_worker_busy_for_longer_than_uvicorns_health_check_is_not_replaced(two_workers):
    """A worker that cannot answer the supervisor's ping for a while (loading a million records on a
    busy machine) is not killed and replaced: uvicorn's 5 s would do so, and its replacement the
    same way, a loop that never serves (``LINKAGE_WORKER_HEALTHCHECK_SECONDS``, default 60)."""
    proc, lines = two_workers.proc, two_workers.lines
    workers = [int(p) for p in subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True,
                                              text=True).stdout.split()]
    busy = next(pid for pid in workers if f"[{pid}]" in "".join(lines))
    os.kill(busy, signal.SIGSTOP)                     # answers no ping: as if busy for 9 s
    time.sleep(9)
    os.kill(busy, signal.SIGCONT)
    time.sleep(2)
    os.kill(busy, 0)                                  # still there: not killed as hung
    assert not any("died" in line for line in lines), "".join(lines)
    assert httpx.get(f"{two_workers.url}/readyz", timeout=10).status_code == 200
    assert sum("Application startup complete" in line for line in list(lines)) == 2     # none started anew
