"""A CSV extract is read once before it is parsed (``connectors.filescan``), and that one read
finds what the separate reads found: the hash, the first byte that is not UTF-8, the lines,
a bare carriage return, across the edges of the chunks it reads."""

from __future__ import annotations

import hashlib
import sys
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from linkage.connectors.filescan import scan
from linkage.connectors.readers import _utf8_check

_BYTES = st.lists(st.sampled_from([b"a", b",", b"\n", b"\r", b"\r\n", b'"', b"\xc3\xa9", b"\xe2\x80\xae", b"\xe9",
                                   b"\xc3", b"\xff"]), max_size=60).map(b"".join)


@settings(max_examples=300, deadline=None)
@given(data=_BYTES, chunk=st.integers(1, 9))
def test_one_read_finds_what_each_separate_read_found(tmp_path_factory, data, chunk):
    path = tmp_path_factory.mktemp("scan") / "x.csv"
    path.write_bytes(data)
    found = scan(path, 1 << 20, chunk=chunk)
    assert found.sha256 == hashlib.sha256(data).hexdigest() and found.size == len(data)
    assert found.lines == data.count(b"\n")
    assert (found.bad_utf8, found.wide or found.bad_utf8 is not None) == _utf8_check(path)
    assert found.bare_cr == (data.count(b"\r") != data.count(b"\r\n"))
    assert found.head == data[:4096]


def test_an_extract_is_read_whole_once_before_it_is_parsed(tmp_path):
    """The hash, the encoding check, the line count, the row-length check and the parser's bytes
    were five reads of the whole file (half a second of a core for each 70 MB extract): now the
    file is opened twice, once to read it and once for Python's reader to take its header."""
    from linkage.connectors import ingest_file
    from linkage.store import Store

    path = tmp_path / "pupils.csv"
    path.write_text("AdNo,UPN,Surname,Forename,DOB,Sex,Postcode,SchoolURN,EntryDate\n"
                    + "".join(f"{i},,Smith,Ann{chr(97 + i % 26)},14/03/2015,F,SW1A 1AA,100001,01/09/2021\n"
                              for i in range(1, 200)), encoding="utf-8")
    opened: list[str] = []
    watching = [True]

    def hook(event: str, args: tuple) -> None:
        if watching[0] and event == "open" and str(args[0]) == str(path):
            opened.append(str(args[1]))

    sys.addaudithook(hook)           # hooks cannot be removed: this one stops counting below
    store = Store(tmp_path / "data", memory_limit="1GB")
    try:
        result = ingest_file(store, "education", path, extract_date=date(2026, 1, 15))
    finally:
        watching[0] = False
        store.close()
    assert result.accepted == 199 and result.quarantined == 0
    assert len(opened) <= 2, opened


@pytest.mark.parametrize("text", [b"a,b\r\n1,2\r", b"a,b\r\n1,2\r\n", b"a,b\r1,2\n"])
def test_a_carriage_return_at_a_chunks_edge_is_told_apart(tmp_path, text):
    path = tmp_path / "x.csv"
    path.write_bytes(text)
    for chunk in range(1, len(text) + 1):
        assert scan(path, 100, chunk=chunk).bare_cr == (text.count(b"\r") != text.count(b"\r\n")), chunk
