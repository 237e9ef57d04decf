"""Verifying the audit log holds a bounded amount in memory, whatever the log's length.

A local authority's log reaches millions of entries; the DPO's ``GET /v1/audit/verify`` (and
``linkage audit verify``) walked it keeping every entry's hash, and compared the search index
with the log by loading every index row and every log line's row into two dictionaries: at
1,000,000 entries, hundreds of MiB per request in a server already holding the linked population.
"""

from __future__ import annotations

import sqlite3
import tracemalloc

import linkage.audit.log as audit_log
from linkage.audit import AuditLog

ENTRIES = 10_000
# Holding one row (or one hash) per entry took 12.5 MiB here (1.25 KiB an entry); streaming, 1.9 MiB.
BOUND_MIB = 5


def _log(home, monkeypatch) -> AuditLog:
    log = AuditLog(home, checkpoint_every=ENTRIES)
    with monkeypatch.context() as m:
        m.setattr(audit_log.os, "fsync", lambda fd: None)     # durability is not what is tested
        for i in range(ENTRIES):
            log.append({"client_id": f"user:{i % 300}", "agency": f"Org {i % 40}", "purpose": "admission",
                        "action": "view", "children": [f"C-{i}"], "decision": "allow"})
    log.index.sync()
    return log


def _peak_mib(work) -> tuple[float, object]:
    tracemalloc.start()
    try:
        out = work()
        return tracemalloc.get_traced_memory()[1] / 2**20, out
    finally:
        tracemalloc.stop()


def test_verifying_a_long_log_holds_neither_every_hash_nor_every_index_row(tmp_path, monkeypatch):
    log = _log(tmp_path / "home", monkeypatch)
    peak, found = _peak_mib(log.verify)
    assert found == []
    assert peak < BOUND_MIB, f"verify held {peak:.1f} MiB for {ENTRIES} entries"


def test_an_edited_index_row_is_still_found_reading_in_order(tmp_path, monkeypatch):
    """Streaming the comparison finds what comparing whole tables found: a changed row, a row
    deleted and a row invented, each in the middle of a long log."""
    log = _log(tmp_path / "home", monkeypatch)
    index = tmp_path / "home" / "audit" / "index.sqlite"
    for edit, first in (("UPDATE entries SET decision = 'deny' WHERE seq = 4321", 4321),
                        ("DELETE FROM entries WHERE seq = 777", 777),
                        ("INSERT INTO entries SELECT seq + 1000000, line_offset, at, client_id, agency, purpose, "
                         "action, decision, break_glass FROM entries WHERE seq = 9000", 1_009_000)):
        con = sqlite3.connect(index)
        con.execute(edit)
        con.commit()
        con.close()
        found = log.verify()
        assert [f.seq for f in found] == [first], (edit, found)
        assert "disagrees with the log on 1 entries" in found[0].problem
        assert log.verify() == []           # rebuilt from the log
