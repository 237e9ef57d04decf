"""A new authority's file whose dates are written month first, and the mapping put right after.

A spreadsheet saved in a US locale writes 1 March 2015 as ``3/1/2015``, which reads day first
as 3 January: before, such rows were stored with day and month swapped, silently, while the
rows that could only be month first (``3/25/2015``) were quarantined. And once a file had
been ingested under a wrong mapping, the same file under the corrected mapping was "already
ingested; nothing changed": the wrong dates could not be put right without editing the file.
"""

from __future__ import annotations

from datetime import date

import pytest
from typer.testing import CliRunner

from linkage.cli import app
from linkage.connectors import ingest_file
from linkage.connectors.ingest import ExtractRefused
import test_ingest_mistakes
from test_ingest_mistakes import current, mapping

loaded = test_ingest_mistakes.loaded           # the fixture: a first whole extract of ten children

HEADER = "Child Ref;First Name;Last Name;D.O.B.;Post Code;Address"


def us_file(path, births: list[str]):
    rows = [HEADER] + [f"US{i:03d};Amy;Lee{i};{born};NE1 4ST;{i} High St" for i, born in enumerate(births)]
    path.write_text("\r\n".join(rows) + "\r\n", encoding="cp1252")
    return path


MONTH_FIRST = ["3/1/2015", "3/25/2015", "12/31/2014", "4/2/2016", "1/13/2015", "2/3/2015", "5/6/2014",
               "7/8/2015", "9/10/2015", "11/12/2013", "6/7/2012"]


def births(store) -> dict[str, date]:
    return dict(store.rows("SELECT source_record_id, date_of_birth FROM store.records r JOIN store.extracts e "
                           "USING (extract_id) WHERE e.superseded_by IS NULL AND r.replaced_by IS NULL"))


@pytest.mark.parametrize("columnar", [True, False])
def test_a_month_first_column_is_refused_naming_a_row_of_each_and_nothing_is_stored(store, tmp_path, loaded,
                                                                                     columnar):
    path = us_file(tmp_path / "nov.csv", MONTH_FIRST)
    with pytest.raises(ExtractRefused, match=r"nov.csv: the column 'D.O.B.' writes dates month first \(row 3: "
                                             r"'3/25/2015'\) and never day first; its other dates would be stored "
                                             r"with day and month swapped \(row 2: '3/1/2015'\); state it in the "
                                             r"mapping: \{column: D.O.B., format: \"%m/%d/%Y\"\}; nothing was stored"):
        ingest_file(store, "social_care", path, mapping(tmp_path), extract_date=date(2026, 11, 1),
                    columnar=columnar)
    assert current(store) == loaded
    # An amendment is refused the same way: it would store the same swapped dates.
    with pytest.raises(ExtractRefused, match="writes dates month first"):
        ingest_file(store, "social_care", path, mapping(tmp_path), amend=True, columnar=columnar)
    assert current(store) == loaded


def test_stated_month_first_the_same_file_reads_every_date_right(store, tmp_path, loaded):
    text = mapping(tmp_path).read_text().replace("date_of_birth: D.O.B.",
                                                 'date_of_birth: {column: D.O.B., format: "%m/%d/%Y"}')
    (tmp_path / "us.yaml").write_text(text)
    r = ingest_file(store, "social_care", us_file(tmp_path / "nov.csv", MONTH_FIRST), tmp_path / "us.yaml",
                    extract_date=date(2026, 11, 1))
    assert (r.accepted, r.quarantined) == (11, 0)
    assert births(store)["US000"] == date(2015, 3, 1)


def test_a_day_first_file_with_one_swapped_row_keeps_the_rest_and_quarantines_that_row(store, tmp_path, loaded):
    days = ["25/03/2015", "3/1/2015", "3/25/2015", *(f"{d:02d}/04/2015" for d in range(1, 9))]
    r = ingest_file(store, "social_care", us_file(tmp_path / "nov.csv", days), mapping(tmp_path),
                    extract_date=date(2026, 11, 1))
    assert (r.accepted, r.quarantined) == (10, 1)          # the file shows day first (25/03): only the slip is held
    assert births(store)["US001"] == date(2015, 1, 3)


def test_the_same_file_under_a_corrected_mapping_is_read_again_and_replaces_what_it_stored(store, tmp_path):
    wrong = mapping(tmp_path).read_text().replace("date_of_birth: D.O.B.",
                                                  'date_of_birth: {column: D.O.B., format: "%m/%d/%Y"}')
    (tmp_path / "wrong.yaml").write_text(wrong)
    path = us_file(tmp_path / "oct.csv", ["01/03/2015", "02/03/2015", "05/04/2016", "10/11/2013"])
    first = ingest_file(store, "social_care", path, tmp_path / "wrong.yaml", extract_date=date(2026, 10, 1))
    assert births(store)["US000"] == date(2015, 1, 3)      # the day-first file read month first: wrong, but readable
    again = ingest_file(store, "social_care", path, mapping(tmp_path), extract_date=date(2026, 10, 1))
    assert not again.already_ingested and again.extract_id != first.extract_id
    assert births(store) == {"US000": date(2015, 3, 1), "US001": date(2015, 3, 2), "US002": date(2016, 4, 5),
                             "US003": date(2013, 11, 10)}
    same = ingest_file(store, "social_care", path, mapping(tmp_path), extract_date=date(2026, 10, 1))
    assert same.already_ingested and same.extract_id == again.extract_id


def test_the_cli_says_a_month_first_file_in_one_line_and_exits_2(tmp_path):
    out = CliRunner().invoke(app, ["ingest", str(us_file(tmp_path / "oct.csv", MONTH_FIRST)), "--source",
                                   "social_care", "--mapping", str(mapping(tmp_path)), "--extract-date",
                                   "2026-10-01", "--data-dir", str(tmp_path / "home")])
    assert out.exit_code == 2, out.output
    assert "Traceback" not in out.output and out.output.count("\n") == 1
    assert "writes dates month first (row 3: '3/25/2015')" in out.output


def test_an_extract_ingested_before_the_mapping_counted_is_the_same_ingest_under_the_same_mapping_name(store,
                                                                                                        tmp_path):
    path = us_file(tmp_path / "oct.csv", ["01/03/2015", "02/03/2015"])
    first = ingest_file(store, "social_care", path, mapping(tmp_path), extract_date=date(2026, 10, 1))
    # as a data directory from before session 21 holds it: the file's hash only, no file_sha256
    store.execute("UPDATE store.extracts SET sha256 = file_sha256, file_sha256 = NULL")
    assert ingest_file(store, "social_care", path, mapping(tmp_path), extract_date=date(2026, 10, 1)).already_ingested
    (tmp_path / "fixed.yaml").write_text(mapping(tmp_path).read_text())
    again = ingest_file(store, "social_care", path, tmp_path / "fixed.yaml", extract_date=date(2026, 10, 1))
    assert not again.already_ingested and again.superseded is not None and again.extract_id != first.extract_id
