"""The PostgreSQL audit chain's group commit, against a real PostgreSQL: appends waiting together
go in one transaction; several processes (servers) append to one intact chain; an entry a caller
was answered for is in the log whatever happens next (a writer killed mid-batch, PostgreSQL
crashing and coming back); and a log closes without sealing under a closed pool."""

from __future__ import annotations

import logging
import os
import random
import selectors
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psycopg
import pytest

from linkage.audit.pg import _LOCK, PostgresAuditLog

WRITER = """
import sys, threading
from pathlib import Path
from linkage.audit.pg import PostgresAuditLog
url, home, tag, threads, each = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
log = PostgresAuditLog(Path(home), checkpoint_every=10, checkpoint_seconds=0.2, url=url)
out = threading.Lock()
def run(t):
    i = 0
    while each < 0 or i < each:
        got = log.append({"client_id": tag, "action": "lookup", "decision": "allow", "request_id": f"{tag}-{t}-{i}",
                          "children": [f"c{t}"]})
        with out:       # answered: from here on the caller may rely on it
            print(got["seq"], got["hash"], flush=True)
        i += 1
ts = [threading.Thread(target=run, args=(t,)) for t in range(threads)]
[t.start() for t in ts]
[t.join() for t in ts]
log.close()
"""


def _writer(url: str, home: Path, tag: str, threads: int, each: int) -> subprocess.Popen:
    """A separate process appending as a server worker does: ``threads`` requests at once."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    return subprocess.Popen([sys.executable, "-c", WRITER, url, str(home), tag, str(threads), str(each)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def _first_answer(proc: subprocess.Popen, within: float) -> str:
    """The first line ``proc`` prints (an append it was answered for), waiting at most ``within`` seconds."""
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        if not sel.select(within):
            proc.kill()
            raise AssertionError(f"the writer answered no append in {within:.0f}s: {proc.communicate()[1][-2000:]}")
    line = proc.stdout.readline()
    assert line, f"the writer ended before any append: {proc.communicate()[1][-2000:]}"
    return line


def _answered(out: str) -> dict[int, str]:
    """seq -> hash of each append a writer was answered for (a killed writer's last line may be cut)."""
    pairs = (line.split() for line in out.splitlines())
    return {int(p[0]): p[1] for p in pairs if len(p) == 2 and len(p[1]) == 64}


def _stored(url: str) -> dict[int, tuple[str, str]]:
    """seq -> (hash in the line, the transaction that wrote it)."""
    import json

    with psycopg.connect(url) as con:
        return {seq: (json.loads(line)["hash"], xmin)
                for seq, line, xmin in con.execute("SELECT seq, line, xmin::text FROM audit_entries")}


def _intact(home: Path, url: str) -> int:
    log = PostgresAuditLog(home, url=url)
    try:
        assert log.verify() == []
        return log.head()
    finally:
        log.close()


def test_appends_waiting_together_are_written_in_one_transaction_between_them(tmp_path, postgres_url):
    log = PostgresAuditLog(tmp_path, checkpoint_every=1000, url=postgres_url)
    holder = psycopg.connect(postgres_url, autocommit=True)
    holder.execute("SELECT pg_advisory_lock(%s)", (_LOCK,))      # another server holds the chain
    answers, errors = [], []

    def append(i):
        try:
            answers.append(log.append({"client_id": "a", "action": "lookup", "request_id": str(i)}))
        except Exception as exc:        # pragma: no cover - reported below
            errors.append(exc)
    threads = [threading.Thread(target=append, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    try:
        deadline = time.monotonic() + 20
        while not holder.execute("SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'advisory'"
                                 ).fetchone()[0]:
            assert time.monotonic() < deadline, "no append waited for the chain's lock"
            time.sleep(0.05)
        time.sleep(1.0)                 # the other eleven queue behind the one waiting for the lock
        assert answers == []            # none answered before its entry is written
    finally:
        holder.execute("SELECT pg_advisory_unlock(%s)", (_LOCK,))
        holder.close()
    for t in threads:
        t.join(30)
    assert errors == [] and len(answers) == 12
    stored = _stored(postgres_url)
    assert sorted(stored) == list(range(1, 13))
    # the one that was waiting for the lock when the others came, then the eleven that queued behind it
    assert len({xmin for _, xmin in stored.values()}) <= 2, "the waiting appends took a transaction each"
    assert {a["seq"]: a["hash"] for a in answers} == {seq: h for seq, (h, _) in stored.items()}
    log.close()
    assert _intact(tmp_path, postgres_url) == 12


def test_two_processes_of_many_threads_append_one_intact_chain(tmp_path, postgres_url):
    PostgresAuditLog(tmp_path, url=postgres_url).close()       # keys made once, shared as a deployment's are
    writers = [_writer(postgres_url, tmp_path, tag, threads=8, each=40) for tag in ("server-a", "server-b")]
    outs = [w.communicate(timeout=180) for w in writers]
    assert [w.returncode for w in writers] == [0, 0], [err[-2000:] for _, err in outs]
    answered = {**_answered(outs[0][0]), **_answered(outs[1][0])}
    assert len(answered) == 640                 # no seq answered twice
    stored = _stored(postgres_url)
    assert {seq: h for seq, (h, _) in stored.items()} == answered
    assert len({xmin for _, xmin in stored.values()}) < len(stored)      # appends were grouped
    assert _intact(tmp_path, postgres_url) == 640


def test_a_writer_killed_mid_batch_leaves_no_fork_and_loses_nothing_answered(tmp_path, postgres_url):
    PostgresAuditLog(tmp_path, url=postgres_url).close()
    steady = _writer(postgres_url, tmp_path, "steady", threads=4, each=150)
    killed = []
    for n in range(3):
        victim = _writer(postgres_url, tmp_path, f"victim-{n}", threads=8, each=-1)
        # Killed once it is appending (a fixed sleep killed a victim still starting on a loaded machine,
        # and then none had written), at whatever point of its batches it had then reached.
        first = _first_answer(victim, within=120)
        time.sleep(random.uniform(0, 0.3))
        victim.send_signal(signal.SIGKILL)
        killed.append(first + victim.stdout.read())
        victim.wait(30)
    out, err = steady.communicate(timeout=180)
    assert steady.returncode == 0, err[-2000:]
    answered = _answered(out)
    for victim_out in killed:
        assert _answered(victim_out), "a victim was answered for no append before it died"
        answered.update(_answered(victim_out))
    stored = {seq: h for seq, (h, _) in _stored(postgres_url).items()}
    assert all(stored.get(seq) == h for seq, h in answered.items()), "an answered entry is not in the log"
    assert _intact(tmp_path, postgres_url) == len(stored)


def test_appends_ride_out_a_postgresql_crash_and_every_answered_entry_is_kept(tmp_path):
    from pg import PostgresServer

    server = PostgresServer()           # its own: crashed below
    try:
        url = server.fresh()
        log = PostgresAuditLog(tmp_path, checkpoint_every=10, checkpoint_seconds=0.2, url=url)
        answered, errors, stop = {}, [], threading.Event()

        def run(t):
            i = 0
            while not stop.is_set():
                try:
                    got = log.append({"client_id": "a", "action": "lookup", "request_id": f"{t}-{i}"})
                    answered[got["seq"]] = got["hash"]
                except Exception as exc:
                    errors.append(exc)
                i += 1
        threads = [threading.Thread(target=run, args=(t,)) for t in range(6)]
        for t in threads:
            t.start()
        time.sleep(1.5)
        before = len(answered)
        server.crash()
        time.sleep(1.0)
        server.start()
        time.sleep(2.0)
        stop.set()
        for t in threads:
            t.join(60)
        assert errors == [], errors[:3]             # waited for the database, none failed
        assert before > 0 and len(answered) > before
        log.close()
        stored = {seq: h for seq, (h, _) in _stored(url).items()}
        assert all(stored.get(seq) == h for seq, h in answered.items()), "an answered entry was lost"
        assert len(stored) == len(answered)         # none written twice by a retry
        assert _intact(tmp_path, url) == len(stored)
    finally:
        server.stop()


def test_a_second_timer_start_makes_no_second_sealer_and_close_seals_nothing_closed(tmp_path, postgres_url, caplog):
    def sealers():
        return {t for t in threading.enumerate() if t.name == "audit-seal" and t.is_alive()}
    before = sealers()              # other tests' logs in this process
    log = PostgresAuditLog(tmp_path, checkpoint_every=1, checkpoint_seconds=0.05, url=postgres_url)
    log.start_timer(0.05)
    assert len(sealers() - before) == 1
    with caplog.at_level(logging.ERROR, logger="linkage.audit"):
        for i in range(40):
            log.append({"client_id": "a", "action": "lookup", "request_id": str(i)})
        log.close()
        log.close()                     # twice: nothing more
        time.sleep(0.3)
    assert [r.getMessage() for r in caplog.records] == []
    assert sealers() - before == set()
    assert _intact(tmp_path, postgres_url) == 40


@pytest.mark.parametrize("threads", [1, 16])
def test_every_append_is_committed_before_it_returns(tmp_path, postgres_url, threads):
    log = PostgresAuditLog(tmp_path, checkpoint_every=1000, url=postgres_url)
    watcher = psycopg.connect(postgres_url, autocommit=True)
    late = []

    def run(t):
        for i in range(20):
            got = log.append({"client_id": "a", "action": "lookup", "request_id": f"{t}-{i}"})
            row = watcher.execute("SELECT 1 FROM audit_entries WHERE seq = %s", (got["seq"],)).fetchone()
            if row is None:
                late.append(got["seq"])
    ts = [threading.Thread(target=run, args=(t,)) for t in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    watcher.close()
    log.close()
    assert late == []


def test_a_failed_write_fails_every_append_it_took_and_the_next_write_goes_on():
    from linkage.audit.group import GroupCommit

    gate, calls = threading.Event(), []

    def write(take):
        batch = take()
        calls.append([p.item for p in batch])
        if len(calls) == 1:
            gate.wait(10)               # the first write holds while the others queue behind it
            raise RuntimeError("database gone")
        for p in batch:
            p.done(p.item * 10)
    group = GroupCommit(write)
    results = {}

    def submit(i):
        try:
            results[i] = group.submit(i)
        except RuntimeError as exc:
            results[i] = str(exc)
    first = threading.Thread(target=submit, args=(0,))
    first.start()
    while not calls:
        time.sleep(0.01)
    others = [threading.Thread(target=submit, args=(i,)) for i in range(1, 6)]
    for t in others:
        t.start()
    time.sleep(0.3)
    gate.set()
    for t in [first, *others]:
        t.join(10)
    assert results[0] == "database gone"
    assert {i: results[i] for i in range(1, 6)} == {i: i * 10 for i in range(1, 6)}    # not failed with it
    assert calls[0] == [0] and sorted(calls[1]) == [1, 2, 3, 4, 5]      # the five queued went in one write
    assert group.submit(7) == 70
