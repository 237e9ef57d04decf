"""The audit log on both backends (a file, and PostgreSQL shared by several servers): one chain,
the same lines, MACs, checkpoints, proofs, witness and `audit verify`, and tampering caught."""

from __future__ import annotations

import json
import threading

import psycopg
import pytest
from typer.testing import CliRunner

from linkage.audit import AuditLog, open_audit_log
from linkage.audit.log import GENESIS, chain, canonical_json, leaf_digest
from linkage.audit.pg import PostgresAuditLog
from linkage.audit.witness import LocalSource, Witness
from linkage.cli import app
from linkage.config import get_settings
from linkage.errors import Conflict


class Backend:
    """Opens logs of one kind on one home, and lets a test play the attacker on what it stores."""

    def __init__(self, home, url):
        self.home, self.url = home, url

    def open(self, **kw):
        if self.url:
            return PostgresAuditLog(self.home, url=self.url, **kw)
        return AuditLog(self.home, **kw)

    def rows(self) -> list[str]:
        if not self.url:
            return (self.home / "audit" / "log.jsonl").read_text().splitlines()
        with psycopg.connect(self.url) as con:
            return [r[0] for r in con.execute("SELECT line FROM audit_entries ORDER BY seq")]

    def rewrite(self, rows: list[str]) -> None:
        """Replace the stored lines, as someone with write access to the file or the database could."""
        if not self.url:
            (self.home / "audit" / "log.jsonl").write_text("\n".join(rows) + "\n")
            return
        with psycopg.connect(self.url, autocommit=True) as con:
            con.execute("ALTER TABLE audit_entries DISABLE TRIGGER USER")
            con.execute("DELETE FROM audit_entries")
            for n, line in enumerate(rows, start=1):
                con.execute("INSERT INTO audit_entries (seq, line, break_glass, children) VALUES (%s, %s, 0, '{}')",
                            (n, line))
            con.execute("ALTER TABLE audit_entries ENABLE TRIGGER USER")


@pytest.fixture(params=["file", "postgres"])
def backend(request, tmp_path):
    url = request.getfixturevalue("postgres_url") if request.param == "postgres" else None
    return Backend(tmp_path / "home", url)


def _fill(log, n, start=0):
    for i in range(start, start + n):
        log.append({"request_id": f"r{i}", "client_id": "c", "agency": "Ash" if i % 2 else "Elm",
                    "action": "view", "children": [f"C-{i}"], "decision": "allow"})


def test_one_chain_sealed_proved_and_witnessed(backend, tmp_path):
    log = backend.open(checkpoint_every=5)
    _fill(log, 12)
    assert log.verify() == [] and log.head() == 12
    assert [c["seq"] for c in log.checkpoints()] == [5, 10]
    log.close()                                        # seals the tail
    again = backend.open(checkpoint_every=5)           # a restart continues the chain
    _fill(again, 3, start=12)
    assert again.verify() == [] and [json.loads(r)["seq"] for r in backend.rows()] == list(range(1, 16))
    assert [c["seq"] for c in again.checkpoints()] == [5, 10, 12]
    again.checkpoint()
    cps = again.checkpoints()
    assert [c["seq"] for c in cps] == [5, 10, 12, 15]
    head = GENESIS if not cps else cps[0]["hash"]
    for leaf in again.leaves(5, 15):                   # a consistency proof from digests alone
        head = chain(head, leaf)
    assert head == cps[-1]["hash"]
    total, page = again.index.search(agency="Ash", limit=3)
    assert total == 7 and [r["seq"] for r in page] == [2, 4, 6]
    assert [r["seq"] for r in again.index.search(child_id="C-13")[1]] == [14]
    outcome = Witness(tmp_path / "witness").observe(LocalSource(again))
    assert [c["seq"] for c in outcome.accepted] == [5, 10, 12, 15]
    again.close()


@pytest.mark.parametrize("attack", ["edit", "delete", "forge", "reorder", "truncate"])
def test_tampering_is_found_and_never_sealed(backend, attack):
    log = backend.open(checkpoint_every=100)
    _fill(log, 8)
    log.checkpoint()
    rows = backend.rows()
    rec = json.loads(rows[3])
    if attack == "edit":
        rec["entry"]["decision"] = "deny"
        rows[3] = canonical_json(rec, True)
    elif attack == "delete":
        del rows[3]
    elif attack == "reorder":
        rows[3], rows[4] = rows[4], rows[3]
    elif attack == "truncate":              # the last entries, which the checkpoint covers
        del rows[5:]
    else:                                   # a new line chained correctly, but without the MAC key
        from linkage.audit.log import _hash
        last = json.loads(rows[-1])
        entry = {"action": "view", "client_id": "x", "decision": "allow", "request_id": "forged", "time": "t"}
        rows.append(canonical_json({"v": 2, "seq": last["seq"] + 1, "prev": last["hash"], "entry": entry,
                                    "hash": _hash(last["hash"], entry), "mac": "0" * 64}, True))
    backend.rewrite(rows)
    fresh = backend.open(checkpoint_every=100)
    found = " ".join(str(f) for f in fresh.verify())
    assert {"edit": "edited", "delete": "deleted", "forge": "MAC does not match", "reorder": "reordered",
            "truncate": "truncated"}[attack] in found
    if attack == "forge":                   # the tail after the last checkpoint is refused for sealing
        with pytest.raises(Conflict, match="tampered"):
            fresh.checkpoint()
        assert fresh.checkpoint(acknowledge=True)["seq"] == fresh.head()
    fresh.close()


def test_newest_entries_cut_away_under_a_running_server_are_recorded(backend):
    """Someone who can write the file (or, as the table's owner, turn its trigger off) removes the
    newest entries while servers run. The servers chained their next entries on what was left
    and said nothing: the DPO's pages never showed that accesses had been removed."""
    log, other = backend.open(checkpoint_every=100), backend.open(checkpoint_every=100)   # two servers
    _fill(log, 6)
    _fill(other, 6, 6)
    _fill(log, 1, 12)                               # this one has seen the head at 13
    backend.rewrite(backend.rows()[:9])             # the newest four, gone
    _fill(log, 2, 13)
    _fill(other, 2, 15)
    rows = [json.loads(r) for r in backend.rows()]
    events = [r["entry"] for r in rows if r["entry"]["action"] == "security.audit_log_cut"]
    # The other server, whose head (12) was cut and written again, says so too (the file log since
    # session 28: it compared the file's size alone).
    assert [(e["found_seq"], e["had_seq"], e["decision"]) for e in events] == [(9, 13, "refused"),
                                                                                (12, 12, "refused")], events
    assert rows[9]["entry"] == events[0]            # recorded before anything else is chained on the cut
    assert _links_broken(rows) == []
    assert {f"r{i}" for i in range(13, 17)} <= {r["entry"]["request_id"] for r in rows}
    log.close()
    other.close()


def test_a_cut_below_the_newest_checkpoint_is_not_claimed_sealed(backend):
    """The newest entries, sealed, are cut away under a running server, which records the cut and
    goes on. Its entries after the cut are below the newest checkpoint's seq: the server said they
    were sealed (`audit seal` gave back that checkpoint, which seals a line no longer there, and
    the witness was told nothing waited for a seal), though no checkpoint covers them."""
    log = backend.open(checkpoint_every=5)
    _fill(log, 10)                                  # checkpoints 5 and 10
    backend.rewrite(backend.rows()[:7])             # 8..10 gone: checkpoint 10 seals nothing there now
    _fill(log, 1, 10)                               # the cut recorded at 8, this entry at 9
    assert log.head() == 9 and [c["seq"] for c in log.checkpoints()] == [5, 10]
    # unsealed since entry 6: checkpoint 5's line is the newest a checkpoint still seals
    assert log.unsealed_since() == json.loads(backend.rows()[5])["entry"]["time"]
    with pytest.raises(Conflict, match="seq 10.* is not in the log"):
        log.checkpoint()
    with pytest.raises(Conflict, match="newest checkpoint"):    # checkpoints never go back
        log.checkpoint(acknowledge=True)
    _fill(log, 2, 11)                               # past checkpoint 10: sealed once acknowledged
    assert log.checkpoint(acknowledge=True)["seq"] == log.head() == 12
    log.close()


def test_a_cut_under_a_running_server_moves_its_next_seal_back_with_it(backend):
    """A seal refused (a forged line) leaves the server waiting N entries past the head before it
    tries again, and the refusal cached until a checkpoint moves on. The tail is then cut back
    below the forged line: the server went on waiting from the head it had, and refused the clean
    tail that followed for the line no longer there, so nothing was sealed again."""
    from linkage.audit.log import _hash
    log = backend.open(checkpoint_every=5)
    _fill(log, 10)                                  # checkpoints 5 and 10
    rows = backend.rows()
    last = json.loads(rows[-1])
    entry = {"action": "view", "client_id": "x", "decision": "allow", "request_id": "forged", "time": "t"}
    backend.rewrite(rows + [canonical_json({"v": 2, "seq": 11, "prev": last["hash"], "entry": entry,
                                            "hash": _hash(last["hash"], entry), "mac": "0" * 64}, True)])
    _fill(log, 4, 10)                               # 12..15: the seal at 15 is refused
    assert [c["seq"] for c in log.checkpoints()] == [5, 10]
    backend.rewrite(backend.rows()[:10])            # the forged line and all after it, gone
    _fill(log, 4, 14)                               # the cut recorded at 11, then 12..15
    assert [c["seq"] for c in log.checkpoints()] == [5, 10, 15]
    # (rows the test writes into PostgreSQL carry no search columns: verify rewrites them)
    assert [f for f in log.verify() if "search columns" not in f.problem] == []
    log.close()


def _links_broken(rows: list[dict]) -> list[int]:
    return [r["seq"] for r, before in zip(rows[1:], rows) if r["prev"] != before["hash"]]


@pytest.mark.parametrize("refill", ["server", "attacker"])
def test_a_head_cut_away_and_written_again_up_to_the_same_seq_is_not_chained_on(backend, refill):
    """The newest entries are cut away and as many written again (by another server, which records
    the cut, or by whoever cut them, to the same length in bytes) before this server appends.
    PostgreSQL appends checked the head by its seq alone, and the file log by the file's size
    alone (session 28): the server chained its entries on the hash of a line no longer there,
    breaking the chain (only `verify` would tell), and never said that entries it had seen were
    replaced."""
    log, other = backend.open(checkpoint_every=100), backend.open(checkpoint_every=100)
    _fill(log, 6)
    _fill(other, 6, 6)
    _fill(log, 1, 12)                               # this one has seen the head at 13, the other 12
    rows = backend.rows()
    if refill == "server":
        backend.rewrite(rows[:9])
        _fill(other, 3, 13)                         # records the cut at 10, then 11..13: the same seq
    else:           # edited and chained again, byte for byte as long, as someone could (without the MAC key)
        forged, prev = [], json.loads(rows[8])["hash"]
        for row in rows[9:]:
            rec = json.loads(row)
            rec["entry"]["decision"] = "alloW"
            rec["prev"] = prev
            rec["hash"] = prev = chain(prev, leaf_digest(rec["entry"]))
            forged.append(canonical_json(rec, True))
        assert sum(map(len, forged)) == sum(map(len, rows[9:])) and forged != rows[9:]
        backend.rewrite(rows[:9] + forged)
    _fill(log, 2, 16)
    rows = [json.loads(r) for r in backend.rows()]
    assert [r["seq"] for r in rows] == list(range(1, len(rows) + 1))
    assert _links_broken(rows) == []                # chained on the head there now, not its own
    events = [(r["seq"], r["entry"]) for r in rows if r["entry"]["action"] == "security.audit_log_cut"]
    mine = [(seq, e["found_seq"], e["had_seq"], e.get("replaced")) for seq, e in events if e["had_seq"] == 13]
    assert mine == [(14, 13, 13, True)], events     # recorded before its own entries
    if refill == "attacker":                        # and `verify` names the lines forged without the key
        assert {f.seq for f in log.verify() if "MAC" in f.problem} == {10, 11, 12, 13}
    log.close()
    other.close()


def test_concurrent_servers_append_to_one_chain(backend):
    """Several log instances (as several servers) appending at once: one intact chain, no gap."""
    logs = [backend.open(checkpoint_every=7) for _ in range(3)]
    threads = [threading.Thread(target=_fill, args=(lg, 15, 100 * i)) for i, lg in enumerate(logs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [json.loads(r)["seq"] for r in backend.rows()] == list(range(1, 46))
    assert logs[0].verify() == [] and logs[1].head() == 45
    assert {json.loads(r)["entry"]["request_id"] for r in backend.rows()} == {
        f"r{100 * i + j}" for i in range(3) for j in range(15)}
    for lg in logs:
        lg.close()


def test_servers_taking_turns_chain_after_each_other_not_after_their_own_last_entry(backend):
    """Each append after the other server's finds the head it last saw taken (PostgreSQL appends
    insert after the head they last saw, without a lock): it must chain after the newer entry."""
    a, b = backend.open(checkpoint_every=1000), backend.open(checkpoint_every=1000)
    for i in range(6):
        _fill(a if i % 2 else b, 1, start=i)
    rows = [json.loads(r) for r in backend.rows()]
    assert [r["seq"] for r in rows] == list(range(1, 7))
    assert [r["prev"] for r in rows] == [GENESIS] + [r["hash"] for r in rows[:-1]]
    assert a.verify() == [] and b.head() == 6
    a.close(), b.close()


def test_postgres_rows_are_append_only_and_verify_works_from_the_cli(postgres_url, tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("LINKAGE_AUDIT_URL", postgres_url)
    get_settings.cache_clear()
    log = open_audit_log(home, checkpoint_every=4)
    assert isinstance(log, PostgresAuditLog)
    _fill(log, 6)
    with pytest.raises(Exception, match="append-only"):
        log.state.execute("UPDATE audit_entries SET line = 'x'")
    log.close()
    assert not (home / "audit" / "log.jsonl").exists()
    result = CliRunner().invoke(app, ["audit", "verify", "--data-dir", str(home)])
    assert result.exit_code == 0 and "6 entries" in result.output, result.output
    Backend(home, postgres_url).rewrite([r.replace('"allow"', '"deny"', 1) for r in Backend(home, postgres_url).rows()])
    result = CliRunner().invoke(app, ["audit", "verify", "--data-dir", str(home)])
    assert result.exit_code == 1 and "edited" in result.output


@pytest.mark.parametrize("swap", ["older padded", "junk", "another file"])
def test_a_newest_checkpoint_cut_and_written_again_to_the_same_length_is_not_still_given(tmp_path, swap):
    """The file log remembered its newest checkpoint while the checkpoints file kept its length: one
    replaced by as many bytes (an older checkpoint padded, junk, another file in its place) was still
    given to the DPO's pages and to the next seal, which then checked only the lines after it."""
    log = AuditLog(tmp_path / "home", checkpoint_every=1000)
    _fill(log, 3)
    older = log.checkpoint()
    _fill(log, 3, 3)
    newest = log.checkpoint()
    assert log.last_checkpoint()["seq"] == newest["seq"] == 6
    path = log.checkpoints_path
    lines = path.read_bytes().splitlines(keepends=True)
    length = len(lines[-1]) - 1
    if swap == "junk":
        last = b"x" * length + b"\n"
    else:
        last = lines[0].rstrip(b"\n").ljust(length) + b"\n"            # the older checkpoint again, padded
    if swap == "another file":
        path.with_name("new").write_bytes(b"".join(lines[:-1]) + last)
        path.with_name("new").replace(path)
    else:
        path.write_bytes(b"".join(lines[:-1]) + last)
    assert path.stat().st_size == sum(map(len, lines))
    assert log.last_checkpoint()["seq"] == older["seq"] == 3            # what the file holds now
    log.close()
