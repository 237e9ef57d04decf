"""A data manager's mistakes with another agency's own export, through a custom mapping.

Each mistake (a file cut short, a file saved in another encoding than the mapping says, a
workbook instead of a CSV, a column named twice, a typo in the mapping, Excel's date numbers)
ends in one line naming the row or column and why, and the current extract is still whole.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from linkage.cli import app
from linkage.connectors import ConnectorError, ingest_file
from linkage.connectors.ingest import CURRENT_RECORDS_SQL, ExtractRefused

NAMES = ["Zoë", "Amy", "Ben", "Siân", "Cai", "Dev", "Chloé", "Eli", "Fay", "Gus"]
MAPPING = """source: social_care
record_id: Child Ref
encoding: {encoding}
delimiter: ";"
fields:
  forename: First Name
  surname: Last Name
  date_of_birth: D.O.B.
  postcode: Post Code
  address: Address
"""


def cms_export(path: Path, n: int = 10, encoding: str = "cp1252", extra: str = "",
               header: str = "Child Ref;First Name;Last Name;D.O.B.;Post Code;Address") -> Path:
    """A case-management export as Windows writes it: semicolons, CRLF, day-first dates, a quoted newline."""
    rows = [header] + [
        f"NS{i:03d};{NAMES[i % 10]};{'O’Brien' if i % 9 == 0 else 'Smith'}{i};{1 + i % 28:02d}/03/2015;NE1 4ST;"
        + (f'"{i} High St\r\nFlat 2"' if i % 3 == 0 else f"{i} Low Rd") + extra for i in range(n)]
    path.write_bytes(("\r\n".join(rows) + "\r\n\r\n").encode(encoding))
    return path


def mapping(tmp_path: Path, encoding: str = "cp1252", text: str = MAPPING) -> Path:
    path = tmp_path / f"cms-{encoding}.yaml"
    path.write_text(text.format(encoding=encoding))
    return path


def current(store) -> list[tuple]:
    return store.rows(f"SELECT source_record_id, forename, surname, address FROM ({CURRENT_RECORDS_SQL}) "
                      "ORDER BY source_record_id")


@pytest.fixture
def loaded(store, tmp_path):
    """A first whole extract of ten children, read with its own mapping."""
    r = ingest_file(store, "social_care", cms_export(tmp_path / "oct.csv"), mapping(tmp_path),
                    extract_date=date(2026, 10, 1))
    assert (r.rows_read, r.accepted, r.quarantined, r.blank) == (11, 10, 0, 1)
    before = current(store)
    assert before[0] == ("NS000", "Zoë", "O’Brien0", "0 High St Flat 2") and before[9][2] == "O’Brien9"
    return before


def nov(store, path, mapping_path, **kw):
    return ingest_file(store, "social_care", path, mapping_path, extract_date=date(2026, 11, 1), **kw)


@pytest.mark.parametrize("cut,forced", [("mid-row", (9, 1)), ("inside a quoted cell", (10, 0))])
def test_a_file_cut_short_is_refused_and_the_current_extract_stays(store, tmp_path, loaded, cut, forced):
    whole = cms_export(tmp_path / "nov.csv").read_bytes()
    # mid-row: no line ending at the end; inside a quoted cell: the file ends with the cell's own CRLF
    end = whole.index(b"NS009") + 12 if cut == "mid-row" else whole.index(b'"9 High St\r\n') + 12
    part = tmp_path / "nov-part.csv"
    part.write_bytes(whole[:end])
    with pytest.raises(ExtractRefused, match=r"nov-part.csv ends part-way through its last row \(line \d+: "
                                             r"\d of 6 cells.*cut short.*nothing was stored"):
        nov(store, part, mapping(tmp_path))
    assert current(store) == loaded and store.scalar("SELECT count(*) FROM store.extracts") == 1
    r = nov(store, part, mapping(tmp_path), force=True)         # the user insists: taken as it is
    assert (r.accepted, r.quarantined) == forced


def test_a_short_last_row_that_ends_its_line_is_a_bad_row_not_a_cut(store, tmp_path, loaded):
    path = tmp_path / "nov.csv"
    path.write_bytes(cms_export(tmp_path / "x.csv").read_bytes() + "NS777;Amy\r\n".encode("cp1252"))
    r = nov(store, path, mapping(tmp_path))
    assert (r.accepted, r.quarantined) == (10, 1)


def test_a_windows_1252_file_read_as_utf8_is_refused_naming_the_line(store, tmp_path, loaded):
    path = cms_export(tmp_path / "nov.csv", n=12)
    with pytest.raises(ExtractRefused, match=r"nov.csv is not UTF-8 \(the first byte that is not is on line 2\)"
                                             r".*set `encoding: cp1252` in the mapping; nothing was stored"):
        nov(store, path, mapping(tmp_path, "utf-8"))
    assert current(store) == loaded               # (before: 5 of 12 rows quarantined, 7 replaced the 10)
    assert nov(store, path, mapping(tmp_path, "utf-8"), force=True).quarantined == 5


def test_damaged_bytes_in_a_utf8_file_are_still_quarantined_cell_by_cell(store, tmp_path):
    path = tmp_path / "oct.csv"
    path.write_bytes(cms_export(tmp_path / "x.csv", encoding="utf-8").read_bytes().replace(b"Amy", b"Am\x81"))
    r = nov(store, path, mapping(tmp_path, "utf-8"))      # 0x81 is not Windows-1252 either: a damaged byte
    assert (r.accepted, r.quarantined) == (9, 1)


def test_a_utf8_file_under_a_cp1252_mapping_is_read_as_utf8(store, tmp_path, loaded):
    r = nov(store, cms_export(tmp_path / "nov.csv", encoding="utf-8"), mapping(tmp_path, "cp1252"))
    assert r.accepted == 10
    assert current(store) == loaded               # not 'ZoÃ«' and 'Oâ€™Brien'


@pytest.mark.parametrize("magic,what", [(b"PK\x03\x04" + b"\x00" * 26 + b"[Content_Types].xml", "Excel workbook"),
                                        (b"\xd0\xcf\x11\xe0", "old Excel"), (b"%PDF-1.7", "PDF")])
def test_a_workbook_is_refused_in_one_line_saying_what_it_is(store, tmp_path, loaded, magic, what):
    path = tmp_path / "nov.xlsx"
    path.write_bytes(magic + b"\x00" * 64)
    with pytest.raises(ConnectorError, match=f"nov.xlsx is an? {what}.*save it as 'CSV UTF-8"):
        nov(store, path, mapping(tmp_path))
    assert current(store) == loaded


def test_a_column_named_twice_is_refused_only_when_the_mapping_reads_it(store, tmp_path, loaded):
    header = "Child Ref;First Name;Last Name;D.O.B.;Post Code;Address"
    path = cms_export(tmp_path / "nov.csv", header=header + ";Notes;Notes", extra=";a;b")
    assert nov(store, path, mapping(tmp_path)).accepted == 10
    path = cms_export(tmp_path / "dec.csv", header=header.replace("Post Code", "First Name"))
    with pytest.raises(ConnectorError, match=r"'First Name' is columns 2, 5\): the mapping cannot tell"):
        nov(store, path, mapping(tmp_path))


def test_a_typo_in_the_mapping_names_the_column_it_meant(store, tmp_path, loaded):
    typo = mapping(tmp_path, text=MAPPING.replace("surname: Last Name", "surname: Lsat Name"))
    with pytest.raises(ConnectorError, match=r"lacks required columns \['Lsat Name'\] \(a typo in the mapping\? "
                                             r"closest: 'Lsat Name' -> 'Last Name'\)"):
        nov(store, cms_export(tmp_path / "nov.csv", n=11), typo)
    assert current(store) == loaded


def test_an_excel_date_number_is_quarantined_with_the_date_it_stands_for(store, tmp_path):
    path = cms_export(tmp_path / "oct.csv").read_bytes().replace(b"01/03/2015", b"42064")   # 42064 = 2015-03-01
    (tmp_path / "serial.csv").write_bytes(path)
    r = nov(store, tmp_path / "serial.csv", mapping(tmp_path))
    assert r.quarantined == 1
    (reason,) = store.rows("SELECT reason FROM store.quarantine")[0]
    assert "42064 looks like an Excel date number, 2015-03-01" in reason


def test_the_cli_says_a_cut_file_in_one_line_and_exits_2(tmp_path):
    home, maps = tmp_path / "home", mapping(tmp_path)
    ok = CliRunner().invoke(app, ["ingest", str(cms_export(tmp_path / "oct.csv")), "--source", "social_care",
                                  "--mapping", str(maps), "--extract-date", "2026-10-01", "--data-dir", str(home)])
    assert ok.exit_code == 0, ok.output
    part = tmp_path / "nov.csv"
    part.write_bytes(cms_export(tmp_path / "x.csv").read_bytes()[:-30])
    out = CliRunner().invoke(app, ["ingest", str(part), "--source", "social_care", "--mapping", str(maps),
                                   "--extract-date", "2026-11-01", "--data-dir", str(home)])
    assert out.exit_code == 2
    assert "Traceback" not in out.output and out.output.count("\n") == 1
    assert "ends part-way through its last row" in out.output


@pytest.mark.parametrize("command", [["status"], ["link"], ["export-ids", "ids.csv"], ["quarantine", "list"],
                                     ["review", "list"], ["changes"]])
def test_a_mistyped_data_directory_is_said_not_made(tmp_path, command):
    typo = tmp_path / "linkgae"
    out = CliRunner().invoke(app, [*command, "--data-dir", str(typo)])
    assert out.exit_code == 2 and "Traceback" not in out.output
    assert f"there is no linkage database in {typo}: check --data-dir or LINKAGE_HOME" in out.output
    assert not typo.exists()                      # (before: an empty database and a new key, "no linkage run yet")


def test_a_mostly_quarantined_file_names_the_column_and_reason_to_look_at(store, tmp_path, loaded):
    path = tmp_path / "nov.csv"
    text = cms_export(tmp_path / "x.csv", n=11).read_bytes()
    for day in range(1, 12):                                  # every birth date as Excel's day number
        text = text.replace(f"{day:02d}/03/2015".encode(), str(42063 + day).encode())
    path.write_bytes(text)
    with pytest.raises(ExtractRefused, match=r"11 of 11 rows \(100%\) would be quarantined.*; most in column "
                                             r"D\.O\.B\. \(11 rows\), first on line 2: unrecognised date '42064'.*"
                                             r"Excel date number, 2015-03-01.*nothing was stored"):
        nov(store, path, mapping(tmp_path))
    assert current(store) == loaded


def test_an_extract_date_in_the_future_is_refused(store, tmp_path, loaded):
    from datetime import timedelta
    soon = date.today() + timedelta(days=200)                 # a typo: 2027 for 2026
    with pytest.raises(ConnectorError, match=f"the extract date {soon} is in the future"):
        ingest_file(store, "social_care", cms_export(tmp_path / "nov.csv", n=11), mapping(tmp_path),
                    extract_date=soon)
    assert current(store) == loaded


def test_a_utf8_file_with_one_damaged_byte_is_not_taken_for_windows_1252(store, tmp_path):
    path = tmp_path / "oct.csv"
    path.write_bytes(cms_export(tmp_path / "x.csv", encoding="utf-8").read_bytes().replace(b"Amy", b"Am\xe9"))
    r = nov(store, path, mapping(tmp_path, "utf-8"))       # Zoë is UTF-8: only Am\xe9's row is held back
    assert (r.accepted, r.quarantined) == (9, 1)
    assert store.scalar("SELECT forename FROM store.records WHERE source_record_id = 'NS000'") == "Zoë"


def test_a_parquet_file_cut_short_says_so(store, tmp_path, loaded):
    import pyarrow as pa
    import pyarrow.parquet as pq

    whole = tmp_path / "nov.parquet"
    pq.write_table(pa.table({"Child Ref": ["NS001"], "First Name": ["Amy"], "Last Name": ["Lee"],
                             "D.O.B.": ["01/03/2015"]}), whole)
    part = tmp_path / "nov-part.parquet"
    part.write_bytes(whole.read_bytes()[:-40])
    with pytest.raises(ConnectorError, match="nov-part.parquet is not a whole Parquet file .*cut short"):
        nov(store, part, mapping(tmp_path))
    assert current(store) == loaded


def test_the_wrong_mapping_is_not_offered_as_a_typo(store, tmp_path, loaded):
    with pytest.raises(ConnectorError, match=r"lacks required columns") as refused:
        path = tmp_path / "nov.csv"
        path.write_text("Child Ref,Forname,Last Name,PersonBirthDate\nNS1,Amy,Lee,01/03/2015\n")
        ingest_file(store, "social_care", path, extract_date=date(2026, 11, 1))
    assert "typo" not in str(refused.value)                 # the default mapping: three missing, one near
    assert current(store) == loaded


@pytest.mark.parametrize("magic,what", [(b"PK\x03\x04\x14\x00\x00\x00\x08\x00", "a zip archive"),
                                        (b"\x1f\x8b\x08\x00", "a gzip-compressed file"),
                                        (b"7z\xbc\xaf\x27\x1c\x00\x04", "a 7-Zip archive"),
                                        (b"PAR1\x15\x04", "a Parquet file")])
def test_an_archive_or_another_format_is_named_with_what_to_do(store, tmp_path, loaded, magic, what):
    path = tmp_path / "nov.csv"
    path.write_bytes(magic + b"\x00" * 64)     # (before: a zip was "an Excel workbook", the rest "UTF-16 without a BOM")
    with pytest.raises(ConnectorError, match=f"nov.csv is {what}, not a CSV file; (take the CSV out|give it the ending)"):
        nov(store, path, mapping(tmp_path))
    assert current(store) == loaded


def test_a_header_in_another_encoding_is_said_to_be_one_not_a_typo(store, tmp_path, loaded):
    header = "Child Ref;Prénom;Last Name;Date de naissance;Post Code;Address"
    path = cms_export(tmp_path / "nov.csv", header=header)            # Windows-1252, under a UTF-8 mapping
    text = MAPPING.replace("First Name", "Prénom").replace("D.O.B.", "Date de naissance")
    with pytest.raises(ConnectorError) as refused:
        nov(store, path, mapping(tmp_path, "utf-8", text))
    said = str(refused.value)       # (before: "lacks required columns ... a typo? 'Prénom' -> 'Pr\\udce9nom'")
    assert said.startswith("nov.csv is not UTF-8 (the first byte that is not is on line 1)")
    assert "`encoding: cp1252`" in said and "nothing was stored" in said
    assert "typo" not in said and "\\udc" not in said.encode("unicode_escape").decode()
    assert current(store) == loaded
    assert nov(store, path, mapping(tmp_path, "cp1252", text)).accepted == 10


def test_a_utf8_file_cut_inside_a_character_prints_no_traceback(store, tmp_path, loaded, monkeypatch):
    import sys

    printed = []
    monkeypatch.setattr(sys, "unraisablehook", printed.append)     # what Python prints as "Exception ignored in"
    rows = ["Child Ref;First Name;Last Name;D.O.B.;Post Code;Address"] + [
        f"NS{i:03d};{NAMES[i]};Smith;0{1 + i}/03/2015;NE1 4ST;{i} Low Rd" for i in range(5)]
    part = tmp_path / "nov.csv"
    part.write_bytes(("\r\n".join(rows) + "\r\nNS010;Zoë").encode()[:-1])   # the download stopped inside the ë
    with pytest.raises(ExtractRefused, match=r"nov.csv ends part-way through its last row.*cut short"):
        nov(store, part, mapping(tmp_path, "utf-8"))
    assert printed == []            # (before: Arrow's row handler raised UnicodeDecodeError, printed as a traceback)
    assert current(store) == loaded


def test_a_row_with_a_stray_delimiter_keeps_its_cells_and_its_correction_resolves_it(store, tmp_path, loaded):
    """An unquoted ';' inside a cell gives a row one cell too many. It is quarantined (the cells
    cannot be placed), but every cell as sent is kept: `quarantine show` and the export for the agency
    name its record, and the corrected row sent with --amend resolves it, as any other correction does.
    (Before, the row was kept as its shape alone: no record id, no cells, and never resolved.)"""
    from linkage.views.quarantine import QuarantineFilter, quarantine_rows, row_detail

    path = cms_export(tmp_path / "nov.csv")
    text = path.read_bytes().decode("cp1252").replace("4 Low Rd", "4 Low Rd; Leeds")
    path.write_bytes(text.encode("cp1252"))
    r = nov(store, path, mapping(tmp_path))
    assert (r.rows_read, r.accepted, r.quarantined) == (11, 9, 1)
    [row] = quarantine_rows(store.connection, QuarantineFilter(source="social_care"), with_value=True)[1]
    assert (row.record_id, row.reason) == ("NS004", "7 cells but 6 columns")
    cells = {c["column"]: c["value"] for c in row_detail(store.connection, row.ref)["cells"]}
    assert cells == {"Child Ref": "NS004", "First Name": "Cai", "Last Name": "Smith4", "D.O.B.": "05/03/2015",
                     "Post Code": "NE1 4ST", "Address": "4 Low Rd", "(extra cell 7)": " Leeds"}
    fixed = tmp_path / "fix.csv"
    fixed.write_bytes("Child Ref;First Name;Last Name;D.O.B.;Post Code;Address\r\n"
                      "NS004;Cai;Smith4;05/03/2015;NE1 4ST;4 Low Rd, Leeds\r\n".encode("cp1252"))
    a = ingest_file(store, "social_care", fixed, mapping(tmp_path), amend=True)
    assert (a.accepted, a.quarantined) == (1, 0)
    assert quarantine_rows(store.connection, QuarantineFilter(source="social_care"))[0] == 0
    assert ("NS004", "Cai", "Smith4", "4 Low Rd, Leeds") in current(store) and len(current(store)) == 10


def test_a_file_read_first_under_a_wrong_record_id_leaves_nothing_in_export_ids(store, tmp_path):
    """The record id mapped to the wrong column (surnames), then the file read again under the
    corrected mapping: the misread records were never linked and never will be, so export-ids does
    not list them as 'not yet linked: run `linkage link`' for ever (before: 20 rows for 10 records)."""
    from linkage.views.linked import exported_ids

    path = cms_export(tmp_path / "oct.csv")
    wrong = mapping(tmp_path, text=MAPPING.replace("record_id: Child Ref", "record_id: Last Name"))
    assert ingest_file(store, "social_care", path, wrong, extract_date=date(2026, 10, 1)).accepted == 10
    right = ingest_file(store, "social_care", path, mapping(tmp_path), extract_date=date(2026, 10, 1))
    assert right.accepted == 10
    assert exported_ids(store) == [("social_care", f"NS{i:03d}", None) for i in range(10)]


def test_a_cut_amendment_is_refused_without_offering_force_which_an_amendment_refuses(tmp_path):
    """A correction file cut short, sent with --amend: the line says what to do (copy it again), not
    to add --force, which `--amend` refuses in turn (before, the advice led to a second error)."""
    home, maps = tmp_path / "home", mapping(tmp_path)
    ingest = lambda *args: CliRunner().invoke(app, ["ingest", *args, "--source", "social_care",  # noqa: E731
                                                    "--mapping", str(maps), "--data-dir", str(home)])
    assert ingest(str(cms_export(tmp_path / "oct.csv")), "--extract-date", "2026-10-01").exit_code == 0
    part = tmp_path / "fix.csv"
    part.write_bytes(cms_export(tmp_path / "x.csv", n=4).read_bytes()[:-30])
    out = ingest(str(part), "--amend")
    assert out.exit_code == 2 and out.output.count("\n") == 1, out.output
    assert "ends part-way through its last row" in out.output and "copy the whole file again" in out.output
    assert "--force" not in out.output


def test_status_counts_records_beside_rows_after_a_correction_file(store, tmp_path, loaded):
    """A correction file of four rows over ten records: `accepted` counts the rows read (14), which a
    data manager counting before and after took for four records more; `records` says ten."""
    from linkage.views.status import status_summary

    fix = ingest_file(store, "social_care", cms_export(tmp_path / "fix.csv", n=4), mapping(tmp_path), amend=True)
    assert (fix.accepted, len(current(store))) == (4, 10)
    [src] = status_summary(store.connection)["sources"]
    assert (src["accepted"], src["records"]) == (14, 10)


def test_names_an_export_mis_decoded_before_us_are_kept_and_named_row_by_row(store, tmp_path):
    """A file that is valid UTF-8 but whose names a system upstream had read in the wrong encoding
    (``ZoÃ«``, ``Oâ€™Brien``) or could not write (``Si?n``, ``Chlo\ufffd``) was accepted without a word:
    the data manager never learnt which rows to have sent again, and ``ZoÃ«`` linked as ``zoa``. Each
    row is kept and linked, with a warning naming it; the mojibake, exactly reversible, as written."""
    damaged = {"Zoë": "ZoÃ«", "Siân": "Si?n", "Chloé": "Chlo\ufffd", "O’Brien": "Oâ€™Brien"}
    text = cms_export(tmp_path / "x.csv", encoding="utf-8").read_text("utf-8")
    for good, bad in damaged.items():
        text = text.replace(good, bad)
    path = tmp_path / "oct.csv"
    path.write_bytes(text.encode("utf-8"))
    r = ingest_file(store, "social_care", path, mapping(tmp_path, "utf-8"), extract_date=date(2026, 10, 1))
    assert (r.accepted, r.quarantined, r.warned) == (10, 0, 4)
    held = {rid: (fore, sur) for rid, fore, sur, _ in current(store)}
    assert held["NS000"] == ("Zoë", "O’Brien0") and held["NS009"] == ("Gus", "O’Brien9")
    assert held["NS003"] == ("Si?n", "Smith3") and held["NS006"] == ("Chlo\ufffd", "Smith6")
    warned = store.rows("SELECT line_no, field, severity, reason FROM store.quarantine ORDER BY line_no, field")
    assert [(line, col, sev) for line, col, sev, _ in warned] == [
        (2, "First Name", "warning"), (2, "Last Name", "warning"), (6, "First Name", "warning"),
        (10, "First Name", "warning"), (14, "Last Name", "warning")]     # (a quoted address spans two lines)
    assert "'ZoÃ«' is 'Zoë' read in the wrong encoding" in warned[0][3]
    assert "replaced by '?' or U+FFFD" in warned[2][3] and "kept as sent" in warned[2][3]
    from linkage.views.quarantine import reason_code
    assert {reason_code(w[3]) for w in warned} == {"name_encoding"}
    clean = ingest_file(store, "social_care", cms_export(tmp_path / "nov.csv", encoding="utf-8"),
                        mapping(tmp_path, "utf-8"), extract_date=date(2026, 11, 1))
    assert (clean.accepted, clean.warned) == (10, 0)        # Zoë, Siân, Chloé, O’Brien as they are


def test_no_real_name_in_any_script_is_taken_for_a_mis_decoded_one():
    """The mojibake test reads a name back as UTF-8 from its Windows-1252 bytes: real names' letters
    (accents of every Latin alphabet, Greek, Cyrillic, Arabic, CJK) never make such bytes. Faker's
    first names and surnames of every locale it has: none is flagged."""
    import importlib
    import pkgutil

    import faker.providers.person as people

    from linkage.validation import encoding_damage

    seen, flagged = 0, []
    for info in pkgutil.iter_modules(people.__path__):
        provider = getattr(importlib.import_module(f"faker.providers.person.{info.name}"), "Provider", None)
        for attr in ("first_names", "first_names_male", "first_names_female", "last_names"):
            names = vars(provider).get(attr) if provider else None
            if isinstance(names, (list, tuple, dict)):
                seen += len(names)
                flagged += [(info.name, n) for n in names if encoding_damage(n) is not None]
    assert seen > 50_000 and flagged == []
    assert encoding_damage("ZoÃ«") == ("Zoë", encoding_damage("ZoÃ«")[1])
    assert encoding_damage("MÃ¼ller")[0] == "Müller" and encoding_damage("Ã‰lodie")[0] == "Élodie"
    # Undoing it never lets in what a cell may not hold: U+202E (reversing what follows) sent as 'â€®'.
    crafted = "Zo\u202eë".encode("utf-8").decode("cp1252")
    assert encoding_damage(crafted)[0] is None and "direction controls" in encoding_damage(crafted)[1]
