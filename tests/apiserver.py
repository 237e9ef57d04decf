"""Start the real server (``linkage serve``) on a free loopback port for tests."""

from __future__ import annotations

import collections
import fcntl
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx


# Ports for test servers: below Linux's ephemeral range (32768 up), so no outgoing connection is
# handed the port between its check here and the server's bind, and cut into one disjoint slice
# per pytest-xdist worker, so two workers never pick the same one.
_PORTS = range(20000, 32768)
_PICK = random.SystemRandom()  # not the global generator, which hypothesis seeds per example


def free_port() -> int:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    index = int(worker[2:]) if worker[2:].isdigit() else 0
    size = len(_PORTS) // workers
    mine = _PORTS[index * size:(index + 1) * size]
    for _ in range(200):
        port = _PICK.choice(mine)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {mine.start}-{mine.stop - 1}")


def linked_home(home: Path, synth: Path, extract_date, children: int = 1,
                via_cli: bool = False, model: Path | None = None) -> list[tuple[str, tuple]]:
    """``home``: the three synthetic extracts in ``synth`` ingested and linked. Returns ``children``
    children known to all three agencies, each with its education demographics (forename,
    surname, date of birth, postcode), to look them up as an organisation would.

    A population is ingested and linked once per session, beside its extracts; each caller gets
    its own copy of that data directory (its own files, keys and state, which it may change), so
    a module pays for a file copy, not a link run. ``via_cli``: made by the real ``linkage ingest``
    and ``linkage link`` commands (which also record the CME list, write model.json and publish
    a snapshot), as an operator would; a template of its own. ``model``: linked with this saved
    model (``import_model``, as ``linkage link --model``) instead of training one, for a population
    whose test is not about training (u estimation alone costs ten seconds a link); a template of
    its own too."""
    shutil.copytree(template(synth, extract_date, via_cli, model) / "data", home, dirs_exist_ok=True)
    return _children_everyone_knows(home, children)


def template(synth: Path, extract_date, via_cli: bool = False, model: Path | None = None) -> Path:
    """The session's linked copy of ``synth`` (``linked_home``), made once: read it, never change it."""
    import hashlib

    if via_cli and model:
        raise ValueError("the CLI's template trains its own model")
    how = "cli-linked" if via_cli else "linked"
    if model:
        how += "-" + hashlib.sha256(Path(model).read_bytes()).hexdigest()[:12]
    return made_once(synth.parent / f"{synth.name}-{how}-{extract_date.isoformat()}",
                     lambda out: (_link_cli(out / "data", synth, extract_date) if via_cli
                                  else _link(out / "data", synth, extract_date, model)))


def made_once(out: Path, make) -> Path:
    """``out``, filled by ``make(out)`` unless a finished one is there: one process makes it, under
    a lock beside it, while any other (another pytest-xdist worker) waits, then reads it. A run
    that failed midway leaves no ``.complete`` mark, and the next caller starts again."""
    out.parent.mkdir(parents=True, exist_ok=True)
    done = out.with_name(out.name + ".complete")
    with open(out.with_name(out.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            shutil.rmtree(out, ignore_errors=True)
            out.mkdir()
            make(out)
            done.touch()
    return out


def _link(home: Path, synth: Path, extract_date, model: Path | None = None) -> None:
    from linkage.connectors import ingest_file
    from linkage.link import run_link
    from linkage.link.run import import_model
    from linkage.store import Store

    store = Store(home, memory_limit="2GB")
    try:
        for source in ("education", "social_care", "health"):
            ingest_file(store, source, synth / f"{source}.csv", extract_date=extract_date)
        if model:
            import_model(store, model)
        run_link(store)
    finally:
        store.close()


def _link_cli(home: Path, synth: Path, extract_date) -> None:
    from typer.testing import CliRunner

    from linkage.cli import app

    def run(*args: str) -> str:
        done = CliRunner().invoke(app, [*args, "--data-dir", str(home)], catch_exceptions=False)
        assert done.exit_code == 0, done.output
        return done.output

    for source in ("education", "social_care", "health"):
        run("ingest", str(synth / f"{source}.csv"), "--source", source, "--extract-date", extract_date.isoformat())
    # A realistic synth's second files of a source (early help, AP roll), each under its own mapping.
    for name, spec in json.loads((synth / "manifest.json").read_text()).get("second_files", {}).items():
        run("ingest", str(synth / name), "--source", spec["source"], "--mapping", str(synth / spec["mapping"]),
            "--amend", "--extract-date", extract_date.isoformat())
    out = run("link")
    assert "run 1 (full)" in out and "model trained" in out, out


def _children_everyone_knows(home: Path, children: int) -> list[tuple[str, tuple]]:
    from linkage.store import Store

    if children == 0:
        return []
    store = Store(home, memory_limit="2GB")
    try:
        found = [row[0] for row in store.rows("""
            SELECT i.child_id FROM store.identity i JOIN store.records r USING (record_key)
            GROUP BY i.child_id HAVING count(DISTINCT r.source) = 3 ORDER BY min(r.record_key) LIMIT ?""",
                                              [children])]
        return [(child, tuple(store.rows("""SELECT forename, surname, date_of_birth, postcode FROM store.records r
            JOIN store.identity i USING (record_key) WHERE i.child_id = ? AND source = 'education' LIMIT 1""",
                                         [child])[0])) for child in found]
    finally:
        store.close()


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


class Server:
    def __init__(self, home: Path, env: dict[str, str] | None = None, workers: int = 1,
                 ready_within: float = 120, cpus: str | None = None, wait: bool = True,
                 prefix: list[str] | None = None) -> None:
        """``cpus``: run the server (and its workers) on these cores only (``taskset -c``), for
        benchmarks that measure per-core scale-out. ``prefix``: a command to run it under
        (``benchmarks/cpubudget.py``'s ``Group.wrap([])``: in a cgroup). ``wait=False``: return
        once started, and let the caller ``wait_ready`` (several servers then start together)."""
        self.home = home
        self._tokens: dict[str, tuple[str, float]] = {}
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        full_env = {**os.environ, "LINKAGE_HOME": str(home), **(env or {})}
        pin = ["taskset", "-c", cpus] if cpus else []
        # A process group of its own, the supervisor's workers in it: ``stop`` ends them all even
        # when the supervisor has to be killed (its workers would live on, holding the port).
        self.proc = subprocess.Popen(
            [*(prefix or []), *pin, sys.executable, "-m", "linkage.cli", "serve", "--port", str(self.port),
             "--data-dir", str(home), "--workers", str(workers)],
            env=full_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
        # Drained all the time: a server whose output filled the pipe would block mid-test.
        self.output: collections.deque[str] = collections.deque(maxlen=5000)
        self._drain = threading.Thread(target=self._read_output, daemon=True)
        self._drain.start()
        if wait:
            self.wait_ready(ready_within)

    def wait_ready(self, within: float = 120) -> None:
        """Return once ``/healthz`` answers; stop the server and raise if it ends or is not ready in time."""
        deadline = time.time() + within
        while time.time() < deadline:
            if self.proc.poll() is not None:
                self._drain.join(5)
                raise RuntimeError("".join(self.output))
            # Asked over HTTP once the port takes a connection: an httpx request costs ~20 ms of
            # CPU (a client and its TLS context each time), a refused connect next to none, so
            # the wait looks every 50 ms, not 200, and no longer takes CPU from the starting server.
            if _listening(self.port):
                try:
                    if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("server did not start")

    def _read_output(self) -> None:
        for line in iter(self.proc.stdout.readline, b""):
            self.output.append(line.decode(errors="replace"))

    def token(self, client, secret: str) -> str:
        """A token for ``client``, reused while it has over a minute left, as a well-behaved
        client would: the token endpoint is rate limited per client."""
        held = self._tokens.get(client.client_id)
        if held and held[1] - time.time() > 60:
            return held[0]
        r = httpx.post(self.url + "/oauth/token", data={"grant_type": "client_credentials"},
                       auth=(client.client_id, secret), timeout=30)
        assert r.status_code == 200, r.text
        self._tokens[client.client_id] = (r.json()["access_token"], time.time() + r.json()["expires_in"])
        return self._tokens[client.client_id][0]

    def stop(self, within: float = 20) -> None:
        """Stop the server (SIGTERM, then SIGKILL after ``within`` s), and any worker it left."""
        import signal

        self.proc.terminate()
        try:
            self.proc.wait(within)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(20)
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:      # the group is empty: every worker ended with the supervisor
            pass
        self._drain.join(5)

    def printed(self) -> str:
        """What the server printed (its last 5,000 lines): complete once it has stopped."""
        return "".join(self.output)
