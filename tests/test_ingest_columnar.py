"""The columnar ingest accepts, rejects, sets aside and stores exactly what the row-by-row one did.

Hypothesis writes messy extracts for each source (bad dates, formulas, control characters,
undecodable bytes, duplicate ids, blank and short rows, quoted newlines, titles, scripts)
with enough clean rows that both halves of the columnar ingest are used; each file is
ingested twice, ``columnar=True`` and ``columnar=False``, into two fresh stores, and every
stored table, every count and every message must be the same.
"""

from __future__ import annotations

import csv
import io
from datetime import date
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from linkage.connectors import default_mapping_path, ingest_file, load_mapping
from linkage.connectors.ingest import ExtractRefused
from linkage.model import EVENT_TYPES
from linkage.store import Store
from linkage.validation import upn_check_letter
from linkage.validation.identifiers import nhs_check_digit

WHEN = date(2026, 11, 1)
TABLES = ["records", "quarantine", *sorted({m.table for m in EVENT_TYPES.values()})]


def _upn(body: str) -> str:
    return upn_check_letter(body) + body


def _nhs(first_nine: str) -> str:
    return first_nine + str(nhs_check_digit(first_nine))


MESSY = ["", "  ", "=1+1", "-", "@SUM(A1)", "\tx", "a\x01b", "caf\udce9", "x" * 501, "a\nb", "a\rb",
         "＝1", "None", " 'quoted' ", "0"]
DATES = ["2015-03-01", "01/03/2015", "1/3/2015", "20150301", "1 Mar 2015", "01-Mar-2015", "31/02/2015",
         "2030-01-01", "1990-01-01", "03/01/2015 10:00", "2015-03-01T09:00:00Z", "Mar 1 2015", "2015-3-1"]
NAMES = ["Amelia", "Jo Ann", "Ирина", "Mr Tom Smith", "Dr.", "Zoë", "o'brien", "Smith-Jones", "  Ann  Lee ",
         "123", "x" * 101, "Mrs", "李"]
FIELD_POOLS = {
    "sex": ["1", "2", "male", "F", "u", "q", " M "],
    "postcode": ["SW1A 1AA", "sw1a1aa", "ZZ99 3VZ", "BFPO 12", "XX", "L89 8HX", " M1  1AE "],
    "address": ["1 High St", "Flat 2, Barker Ave", "=HYPERLINK(1)", "Mr Smith House", "  7  Elm  Rd "],
    "upn": [_upn("316635126572"), _upn("31663512657A"), "A123", _upn("316635126572").lower(),
            " " + _upn("316635126573")],
    "nhs_number": [_nhs("733310361"), _nhs("558453521"), "1111111111", "733 310 3617", "12345", "7333103618"],
    "la_child_id": ["LA1", " LA2 ", "=x"],
}
EVENT_POOLS = {"date": DATES, "int": ["98", "0", "12", "98.5", "1e400", "-3", "9" * 20, "abc"],
               "float": ["1.5", "2", "nan", "x"], "str": ["Z90012", "North", "A&E attendance", "+x"],
               "phone": ["01632 960538", "+44 1632 960000", "(01632) 960000", "12", "0044 20 7946 0000"]}


def _pool(source: str) -> dict[str, list[str]]:
    """The good and plausible values of each column of the source's default mapping."""
    mapping = load_mapping(default_mapping_path(source))
    pools = {mapping.record_id: [f"R{i}" for i in range(40)] + [" R1 ", "R1"]}
    for canon, column in mapping.fields.items():
        if canon in ("date_of_birth", "address_from"):
            pools[column] = DATES
        elif canon in FIELD_POOLS:
            pools.setdefault(column, FIELD_POOLS[canon])
        else:
            pools.setdefault(column, NAMES)
    for spec in mapping.events:
        model = EVENT_TYPES[spec.type]
        for canon, column in spec.fields.items():
            info = model.model_fields[canon]
            kind = str(info.annotation)
            if canon in model.phones:
                good = EVENT_POOLS["phone"]
            elif "Literal" in kind:
                args = info.annotation.__args__[0].__args__ if "None" in kind else info.annotation.__args__
                good = [*args, str(args[0]).lower(), "ZZZ"]
            elif "date" in kind:
                good = DATES
            elif "int" in kind:
                good = EVENT_POOLS["int"]
            elif "float" in kind:
                good = EVENT_POOLS["float"]
            else:
                good = EVENT_POOLS["str"]
            pools.setdefault(column, good + [""] * 3)     # most events are absent
    return pools


@st.composite
def extracts(draw, source: str) -> bytes:
    pools = _pool(source)
    header = list(pools)
    rows: list[list[str]] = []
    # Each example costs two fresh stores (about 0.8 s of CPU) whatever its size, so examples are
    # few and long: five of up to 50 rows try about as many rows as ten of up to 25 did.
    for _ in range(draw(st.integers(1, 50))):
        kind = draw(st.sampled_from(["clean"] * 6 + ["messy", "messy", "blank", "short"]))
        if kind == "blank":
            rows.append([])
            continue
        cells = [draw(st.sampled_from(pools[h][:2])) for h in header]
        if kind == "messy":
            for i in draw(st.lists(st.integers(0, len(header) - 1), min_size=1, max_size=4)):
                cells[i] = draw(st.sampled_from(pools[header[i]] + MESSY))
        elif kind == "clean":
            cells[0] = f"C{len(rows)}"            # clean rows have their own ids
        rows.append(cells[:-1] if kind == "short" else cells)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator=draw(st.sampled_from(["\n", "\r\n"])))
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode("utf-8", errors="surrogateescape")


def _ingest(home: Path, source: str, path: Path, columnar: bool):
    store = Store(home, memory_limit="1GB")
    try:
        try:
            r = ingest_file(store, source, path, extract_date=WHEN, columnar=columnar)
            result = (r.rows_read, r.accepted, r.quarantined, r.blank, r.warned, r.problems_sample,
                      r.warnings_sample)
        except ExtractRefused as exc:
            result = str(exc)
        stored = {}
        for table in TABLES:
            cols = [c for (c,) in store.rows(
                "SELECT column_name FROM duckdb_columns() WHERE database_name = 'store' AND table_name = ? "
                "AND column_name <> 'extract_id'", [table])]
            stored[table] = store.rows(f"SELECT {', '.join(cols)} FROM store.{table} ORDER BY ALL")
        return result, stored
    finally:
        store.close()


@pytest.mark.parametrize("source", ["education", "social_care", "health"])
def test_columnar_ingest_equals_row_by_row(source, tmp_path_factory):
    runs = iter(range(10_000))

    @settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(data=extracts(source))
    def check(data: bytes) -> None:
        where = tmp_path_factory.mktemp(f"{source}{next(runs)}")
        path = where / f"{source}.csv"
        path.write_bytes(data)
        assert_same_both_ways(where, source, path)

    check()


def assert_same_both_ways(where: Path, source: str, path: Path) -> None:
    """``path`` ingested columnar and row by row into two fresh stores: the same counts, messages, tables."""
    old = _ingest(where / "old", source, path, columnar=False)
    new = _ingest(where / "new", source, path, columnar=True)
    assert new[0] == old[0]
    for table in TABLES:
        assert new[1][table] == old[1][table], table


def test_columnar_ingest_stores_clean_rows_without_parse_row(tmp_path, monkeypatch):
    """The fast half is really used: clean rows never reach ``parse_row``, a bad one does."""
    from linkage.connectors.base import Connector

    seen: list[str] = []
    original = Connector.parse_row

    def spy(self, raw, mapping, extract_date):
        seen.append(raw.get("id") if raw else None)
        return original(self, raw, mapping, extract_date)

    monkeypatch.setattr(Connector, "parse_row", spy)
    path = tmp_path / "health.csv"
    path.write_text("id,nhsNumber,name.given,name.family,birthDate\n"
                    f"P1,{_nhs('733310361')},Ann Mary,Lee,2015-03-01\n"
                    "P2,,Bob,Lee,2015-02-30\n"
                    f"P3,{_nhs('558453521')},Cy,Lee,01/03/2015\n", encoding="utf-8")
    store = Store(tmp_path / "data", memory_limit="1GB")
    try:
        r = ingest_file(store, "health", path, extract_date=WHEN, force=True)
        assert (r.accepted, r.quarantined) == (2, 1)
        assert seen == ["P2"]
        assert store.rows("SELECT source_record_id, forename, middle_names, line_no FROM store.records "
                          "ORDER BY 1") == [("P1", "Ann", "Mary", 2), ("P3", "Cy", None, 4)]
    finally:
        store.close()


@pytest.mark.parametrize("given", ["", "   ", '""'])
def test_a_given_name_split_to_nothing_is_refused_on_both_paths(given, tmp_path):
    """A name the connector's split_names leaves empty is a null, not a blank string: the fast
    path must still find the forename missing (it once stored such a row without a forename)."""
    path = tmp_path / "health.csv"
    path.write_text("id,nhsNumber,name.given,name.family,birthDate\n"
                    f"P1,{_nhs('733310361')},Ann Mary,Lee,2015-03-01\n"
                    f"P2,{_nhs('558453521')},Cy,Lee,2015-03-01\n"
                    f"P3,,{given},Holt,2015-02-01\n", encoding="utf-8")
    old = _ingest(tmp_path / "old", "health", path, columnar=False)
    new = _ingest(tmp_path / "new", "health", path, columnar=True)
    assert new[0] == old[0]
    assert old[0][1:3] == (2, 1)                       # accepted, quarantined
    assert new[1] == old[1]


def test_repeated_ids_are_counted_in_arrow_as_python_counts_them():
    """The columnar read counts repeated record ids in Arrow, stripping in Python only the ids with
    a space at an end: the same verdicts as ``str.strip`` and a Counter, for every character Python
    strips (RE2's own ``\\s`` is ASCII's only), the rows read apart counted too."""
    from collections import Counter

    import pyarrow as pa

    from linkage.connectors.columnar import _once, _stripped

    spaces = [c for c in map(chr, range(0x110000)) if c.isspace()]
    ids = ["A1", "A2", "A3", "\u200bA4", "A5"] + [f"{s}A{i}" for i, s in enumerate(spaces)] \
        + [f"B{s}" for s in spaces] + ["B", "C\u3000D", ""]
    apart = Counter(["A5", "C\u3000D ".strip()])
    column = pa.array(ids, pa.string())
    assert _stripped(column).to_pylist() == [v.strip() for v in ids]
    counted = Counter(v.strip() for v in ids) + apart
    assert _once(_stripped(column), apart).to_pylist() == [counted[v.strip()] == 1 for v in ids]
    assert not any(_once(_stripped(column), apart).to_pylist()[len(ids) - 3 - len(spaces):-2])  # every B is one id
    assert _once(_stripped(pa.array([], pa.string())), Counter()).to_pylist() == []
