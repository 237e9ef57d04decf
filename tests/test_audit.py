"""The audit log catches every kind of tampering and says where."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from linkage.audit import AuditLog
from linkage.audit.log import _hash, _mac, canonical_json, record_line
from linkage.cli import app


def make_log(tmp_path, n=12, every=5) -> AuditLog:
    log = AuditLog(tmp_path, checkpoint_every=every)
    for i in range(n):
        log.append({"request_id": f"r{i}", "client_id": "c", "action": "view", "children": [f"C-{i}"],
                    "decision": "allow"})
    return log


def lines(log):
    return log.path.read_text().splitlines()


def write(log, rows):
    log.path.write_text("\n".join(rows) + "\n")


def test_intact_log_verifies_and_is_durable(tmp_path):
    log = make_log(tmp_path)
    assert log.verify() == []
    assert len(log.checkpoints()) == 2                 # every 5 entries
    reopened = AuditLog(tmp_path)                       # continues the chain after a restart
    reopened.append({"request_id": "after", "client_id": "c", "action": "view", "decision": "allow"})
    assert reopened.verify() == [] and len(reopened.entries()) == 13


def test_edited_entry_is_found(tmp_path):
    log = make_log(tmp_path)
    rows = lines(log)
    rec = json.loads(rows[3])
    rec["entry"]["decision"] = "deny"
    rows[3] = canonical_json(rec)
    write(log, rows)
    found = log.verify()
    assert any(f.line == 4 and "edited" in f.problem for f in found)


def test_deleted_entry_is_found(tmp_path):
    log = make_log(tmp_path)
    rows = lines(log)
    del rows[6]
    write(log, rows)
    found = log.verify()
    assert any(f.line == 7 and "deleted" in f.problem for f in found)


def test_inserted_entry_is_found(tmp_path):
    log = make_log(tmp_path)
    rows = lines(log)
    fake = json.loads(rows[2])
    fake["entry"]["request_id"] = "invented"
    fake["hash"] = _hash(fake["prev"], fake["entry"])
    rows.insert(3, canonical_json(fake))
    write(log, rows)
    found = log.verify()
    assert any(f.line == 4 for f in found)


def test_reordered_entries_are_found(tmp_path):
    log = make_log(tmp_path)
    rows = lines(log)
    rows[4], rows[5] = rows[5], rows[4]
    write(log, rows)
    found = log.verify()
    assert any(f.line == 5 and "expected seq 5" in f.problem for f in found)


def test_rewritten_chain_is_caught_by_signed_checkpoints(tmp_path):
    """An attacker who edits an entry and recomputes every later hash (and, holding the key in
    the data directory, every line's MAC) still fails."""
    log = make_log(tmp_path)
    rows = [json.loads(r) for r in lines(log)]
    rows[1]["entry"]["decision"] = "deny"
    prev = rows[0]["hash"]
    for rec in rows[1:]:
        rec["prev"] = prev
        rec["hash"] = prev = _hash(prev, rec["entry"])
        rec["mac"] = _mac(log.signer.mac_key, rec["seq"], rec["hash"])
    write(log, [canonical_json(r) for r in rows])
    found = log.verify()
    assert found and all("checkpoint" in f.problem for f in found)


def test_truncation_is_caught_by_an_exported_checkpoint(tmp_path):
    log = make_log(tmp_path, n=8, every=100)
    held_by_dpo = log.checkpoint()
    rows = lines(log)
    write(log, rows[:5])
    log.checkpoints_path.unlink()                       # the attacker removes local checkpoints too
    found = log.verify([held_by_dpo])
    assert any("missing" in f.problem for f in found)


def test_forged_checkpoint_signature_is_found(tmp_path):
    log = make_log(tmp_path, n=5, every=5)
    cps = log.checkpoints()
    cps[0]["hash"] = "f" * 64
    log.checkpoints_path.write_text(canonical_json(cps[0]) + "\n")
    assert any("signature" in f.problem for f in log.verify())


@pytest.mark.parametrize("tamper", ["edit", "delete"])
def test_cli_audit_verify_exits_non_zero_and_says_where(tmp_path, tamper):
    log = make_log(tmp_path)
    rows = lines(log)
    if tamper == "edit":
        rows[2] = rows[2].replace('"allow"', '"deny"')
    else:
        del rows[2]
    write(log, rows)
    result = CliRunner().invoke(app, ["audit", "verify", "--data-dir", str(tmp_path)])
    assert result.exit_code == 1
    assert "line 3" in result.output


def test_cli_exports_checkpoints_that_verify(tmp_path):
    make_log(tmp_path)
    out = tmp_path / "cp.json"
    runner = CliRunner()
    assert runner.invoke(app, ["audit", "checkpoints", str(out), "--data-dir", str(tmp_path)]).exit_code == 0
    result = runner.invoke(app, ["audit", "verify", "--checkpoint", str(out), "--data-dir", str(tmp_path)])
    assert result.exit_code == 0 and "intact" in result.output


def test_two_processes_appending_at_once_keep_one_intact_chain(tmp_path):
    import subprocess
    import sys

    AuditLog(tmp_path).close()  # creates keys once
    script = ("import sys; from pathlib import Path; from linkage.audit import AuditLog\n"
              "log = AuditLog(Path(sys.argv[1]), checkpoint_every=50)\n"
              "[log.append({'request_id': f'{sys.argv[2]}-{i}', 'client_id': 'c', 'action': 'view', "
              "'decision': 'allow'}) for i in range(300)]\n")
    procs = [subprocess.Popen([sys.executable, "-c", script, str(tmp_path), tag]) for tag in ("a", "b")]
    assert all(p.wait(120) == 0 for p in procs)
    log = AuditLog(tmp_path)
    assert len(log.entries()) == 600 and log.verify() == []
    assert [e["seq"] for e in log.entries()] == list(range(1, 601))


def test_a_first_format_log_still_verifies_and_continues_in_version_2(tmp_path):
    from linkage.audit.log import GENESIS, _hash_v1
    from linkage.audit.witness import LocalSource, Witness

    (tmp_path / "audit").mkdir()
    prev, rows = GENESIS, []
    for seq in range(1, 4):        # as the first format wrote them: UTF-8, no "v", no MAC
        entry = {"request_id": f"old{seq}", "agency": "Oak\u2028Academy", "action": "view", "decision": "allow",
                 "time": "2026-01-01T00:00:00+00:00"}
        digest = _hash_v1(prev, entry)
        rows.append(canonical_json({"seq": seq, "prev": prev, "entry": entry, "hash": digest}))
        prev = digest
    (tmp_path / "audit" / "log.jsonl").write_text("\n".join(rows) + "\n", encoding="utf-8")
    log = AuditLog(tmp_path, checkpoint_every=100)
    assert log.verify() == []
    log.append({"request_id": "new", "client_id": "c", "action": "view", "decision": "allow"})
    log.checkpoint()
    assert log.verify() == [] and [r.get("v", 1) for r in log.entries()] == [1, 1, 1, 2]
    witness = Witness(tmp_path / "witness")
    assert "without a proof" in witness.observe(LocalSource(log)).notes[0]      # no digests for old lines
    log.append({"request_id": "newer", "client_id": "c", "action": "view", "decision": "allow"})
    log.checkpoint()
    assert witness.observe(LocalSource(log)).latest["seq"] == 5
    with open(log.path, "a", encoding="utf-8") as fh:      # an old-format line can no longer be slipped in
        fh.write(canonical_json({"seq": 6, "prev": log.entries()[-1]["hash"], "entry": {}, "hash": "0"}) + "\n")
    assert any("first-format line after version 2" in f.problem for f in log.verify())


def test_appends_from_many_threads_share_fsyncs_yet_each_is_durable_before_it_returns(tmp_path, monkeypatch):
    """Group commit: no append returns before an fsync that began after its line was written,
    and the chain stays whole. (The real fsync runs; the wrapper only notes what it covered.)"""
    import os
    import threading

    real_fsync, covered, fsyncs = os.fsync, [0], []

    def observed_fsync(fd):
        size = os.fstat(fd).st_size           # every byte written so far is covered once this returns
        real_fsync(fd)
        fsyncs.append(size)
        covered[0] = max(covered[0], size)

    log = AuditLog(tmp_path, checkpoint_every=1000)
    monkeypatch.setattr(os, "fsync", observed_fsync)
    returned: dict[int, int] = {}

    def worker(t):
        for i in range(40):
            seq = log.append({"request_id": f"{t}-{i}", "client_id": "c", "action": "view",
                              "decision": "allow"})["seq"]
            returned[seq] = covered[0]        # bytes known to be on disk when this append returned

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ends, offset = {}, 0
    for raw in log.path.read_bytes().splitlines(keepends=True):
        offset += len(raw)
        ends[json.loads(raw)["seq"]] = offset
    assert len(ends) == 320 and log.verify() == []
    late = [seq for seq, on_disk in returned.items() if on_disk < ends[seq]]
    assert not late, f"appends answered before their line was fsync'd: {late[:5]}"
    assert len(fsyncs) <= 320


_json = st.recursive(st.none() | st.booleans() | st.integers() | st.text(),
                     lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
                     max_leaves=8)


@settings(max_examples=200, deadline=None)
@given(entry=st.dictionaries(st.text(), _json, max_size=5), seq=st.integers(1, 10**9),
       extra=st.dictionaries(st.text(), st.integers(), max_size=2))
def test_a_record_line_is_the_records_canonical_json(entry, seq, extra):
    """The appended line reuses the entry's serialisation: byte for byte the record's canonical JSON
    (any other key, sorting before or after ``entry``, still lands where sorting puts it)."""
    rec = {"v": 2, "seq": seq, "prev": "0" * 64, "entry": entry, "hash": "a" * 64, "mac": "b" * 64, **extra}
    rec["entry"] = entry
    assert record_line(rec, canonical_json(entry, True)) == canonical_json(rec, True)


def test_appended_lines_are_canonical_json_and_verify(tmp_path):
    log = make_log(tmp_path, n=3)
    for raw in lines(log):
        rec = json.loads(raw)
        assert raw == canonical_json(rec, True)
        assert rec["hash"] == _hash(rec["prev"], rec["entry"])
