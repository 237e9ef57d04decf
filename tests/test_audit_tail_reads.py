"""What the file audit log reads to seal and to append: its unsealed tail, not the log.

Two server processes share one log, so nearly every append follows the other's, and each
re-reads the log's head; each seal finds the line the last checkpoint sealed and checks the
lines after it. Both used to read (and decode, and scan) the last 64 KB whatever they were
looking for. Measured here by the bytes this process reads (``/proc/self/io``), two logs on
one home standing in for the two processes (each its own file handle and lock).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from linkage.audit import AuditLog
from linkage.audit.signer import Signer

ENTRY = {"request_id": "r", "client_id": "c1", "action": "lookup", "decision": "allow",
         "children": ["C0000001"], "fields": ["forename", "surname"], "note": "x" * 400}


def _read() -> int:
    """Bytes read so far by this process (any file), from ``/proc/self/io``."""
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    raise AssertionError("no rchar in /proc/self/io")


@pytest.fixture
def pair(tmp_path):
    if not Path("/proc/self/io").exists():
        pytest.skip("needs Linux /proc/self/io")
    signer = Signer.default(tmp_path)
    a, b = AuditLog(tmp_path, 10**6, signer), AuditLog(tmp_path, 10**6, signer)   # no seal in line
    yield a, b
    a.close()
    b.close()


def _grow(a: AuditLog, b: AuditLog, entries: int) -> None:
    for _ in range(entries):
        a.append(ENTRY)
    b.checkpoint()


def _costs(a: AuditLog, b: AuditLog) -> tuple[int, int, int]:
    """(bytes read by an append after the other writer's, by a seal of 20 entries after the other
    writer sealed, the unsealed lines' own bytes)."""
    b.append(ENTRY)
    start = _read()
    a.append(ENTRY)
    append = _read() - start
    size = a.path.stat().st_size
    for _ in range(9):
        b.append(ENTRY)
        a.append(ENTRY)
    tail = a.path.stat().st_size - size + 600       # and the sealed line before them
    start = _read()
    a.seal_if_due()
    return append, _read() - start, tail


def test_an_append_and_a_seal_read_the_tail_whatever_the_logs_length(pair):
    a, b = pair
    _grow(a, b, 150)                # about 90 KB: more than the 64 KB once read each time
    short = _costs(a, b)
    _grow(a, b, 1500)               # ten times that
    long = _costs(a, b)
    assert a.verify() == [] and a.last_checkpoint()["seq"] == a.head()
    for append, seal, tail in (short, long):
        # The head is the last line: one small read (4 KB), not 64 KB.
        assert append <= 8192, f"an append after another writer's read {append} bytes"
        # The sealed line and the 20 after it (about 12 KB): read once or twice over, with the
        # newest checkpoint (the other writer's, so not remembered).
        assert seal <= 3 * tail + 8192, f"a seal of {tail} bytes of lines read {seal} bytes"
    assert abs(long[1] - short[1]) <= 8192, f"a seal read {short[1]} bytes, then {long[1]} in a log ten times longer"


def test_the_tail_is_found_across_reads_and_past_junk(tmp_path):
    """Lines longer than the first read, and junk after the last line, still give the right head
    and let a seal find the line it starts from (reading back in growing steps)."""
    log = AuditLog(tmp_path, 10**6)
    for n in range(30):
        log.append({**ENTRY, "note": "y" * (100 if n % 3 else 9000)})      # some lines over 4 KB
    cp = log.checkpoint()
    log.append({**ENTRY, "note": "z" * 20000})
    seq, digest = log._tail()
    assert seq == 31 and seq == log.head()
    lines, cut = log._from_sealed(cp["seq"], cp["hash"])
    assert len(lines) - cut == 1 and f'"seq":{cp["seq"]}' in lines[cut - 1]
    with open(log.path, "a") as fh:             # junk written by someone else after the last line
        fh.write("not json\n" * 2000)
    other = AuditLog(tmp_path, 10**6)
    assert other._tail() == (seq, digest)
    assert other.last_checkpoint()["seq"] == cp["seq"]
    other.close()
    log.close()


def test_an_append_after_another_writers_reads_only_what_that_writer_added(pair):
    """With two server workers nearly every append follows the other's, and must chain to its line.
    What the other appended since this process last wrote is read (its line), not the last 4 KB of
    the log again; and the chain is one chain whichever way the appends fall."""
    a, b = pair
    _grow(a, b, 60)
    for others in (1, 3):
        a.append(ENTRY)
        size = a.path.stat().st_size
        for _ in range(others):
            b.append(ENTRY)
        added = a.path.stat().st_size - size
        start = _read()
        a.append(ENTRY)
        read = _read() - start
        # the other's lines, and the /proc/self/io text read to count them (a few hundred bytes)
        assert read <= added + 1024 < 4096, f"an append after {added} bytes of another writer's lines read {read}"
    seqs = [rec["seq"] for rec in a.entries()]
    assert seqs == list(range(1, len(seqs) + 1)) and a.verify() == []


def test_a_seal_checks_in_full_only_lines_it_has_not_seen_pass(pair):
    """Before sealing, the lines since the last checkpoint are checked (chain and MAC). A server's
    own lines, and lines one of its seals already checked, are known by their exact text: only the
    other writer's new lines are parsed and hashed again. A line edited since is checked, and refused."""
    import pytest

    from linkage.errors import Conflict

    a, b = pair
    for _ in range(12):
        a.append(ENTRY)
        b.append(ENTRY)
    before = a.lines_checked
    a.checkpoint()
    assert a.lines_checked - before == 12          # b's lines; its own 12 were written by it
    for _ in range(5):
        a.append(ENTRY)
        b.append(ENTRY)
    before_b = b.lines_checked
    b.checkpoint()
    assert b.lines_checked - before_b == 5
    for _ in range(3):
        a.append(ENTRY)
    text = a.path.read_text()
    lines = text.splitlines(keepends=True)
    lines[-2] = lines[-2].replace('"client_id":"c1"', '"client_id":"c2"')     # an unsealed line of a's edited
    a.path.write_text("".join(lines))
    with pytest.raises(Conflict, match="edited"):
        a.checkpoint()
    assert len(a.verify()) >= 1


def test_a_seal_reads_forwards_from_the_line_it_starts_from(pair):
    """A seal starts from the line the last checkpoint sealed: where this process wrote that line,
    or found it as the newest, it reads forwards from there (the unsealed lines once), not back from
    the end in doubling steps (up to twice the lines over again)."""
    a, b = pair
    _grow(a, b, 150)
    append, seal, tail = _costs(a, b)
    # the lines since the checkpoint and the sealed one, the other writer's checkpoint (read back, 4 KB
    # at most here), and the /proc/self/io text read to count them
    assert seal <= tail + 4096 + 1024, f"a seal of {tail} bytes of lines read {seal} bytes"
    assert a.verify() == [] and a.last_checkpoint()["seq"] == a.head()
