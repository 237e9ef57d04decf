"""Identifiers and dates a spreadsheet changed before the file was saved.

Excel shows a long number in a cell formatted "General" in scientific notation and saves it so:
an NHS number ``9434765919`` became ``9.43E+09`` (its last digits gone), quarantined as "fails
modulus 11", as if the number were mistyped; ``9.434765919E+09`` (every digit still there) too.
A record id ``123456`` saved as ``1.23E+05`` was accepted as it stood, so ``123457`` became the
same id, and the second child "a duplicate record id with other personal details". And a date
Excel writes ``1-Mar-15`` was only "unrecognised", where ``01/03/15`` says how to read it.
"""

from __future__ import annotations

from datetime import date

import pytest

from linkage.connectors import ingest_file
from linkage.views.quarantine import reason_code

MAPPING = """source: health
record_id: Child Ref
fields:
  forename: First Name
  surname: Last Name
  date_of_birth: DOB
  nhs_number: NHS
"""


@pytest.mark.parametrize("columnar", [True, False])
def test_numbers_a_spreadsheet_shortened_are_said_and_whole_ones_read(store, tmp_path, columnar):
    (tmp_path / "m.yaml").write_text(MAPPING)
    (tmp_path / "gp.csv").write_text(
        "Child Ref,First Name,Last Name,DOB,NHS\n"
        "E1,Amy,Smith,01/03/2015,9.43E+09\n"              # digits lost: set aside, the record kept
        "E2,Ben,Lee,01/03/2015,9.434765919E+09\n"         # every digit there: the number
        "1.23E+05,Cy,Lee,02/03/2015,\n"                   # an id two records could share
        "1.23E+05,Di,Lee,03/03/2015,\n"
        "E5,Ed,Lee,1-Mar-15,\n")
    r = ingest_file(store, "health", tmp_path / "gp.csv", tmp_path / "m.yaml", extract_date=date(2026, 10, 1),
                    columnar=columnar, force=True)          # force: 3 of 5 rows held back refuses a first file
    assert (r.accepted, r.quarantined) == (2, 3)
    assert dict(store.rows("SELECT source_record_id, nhs_number FROM store.records")) == {
        "E1": None, "E2": "9434765919"}
    reasons = store.rows("SELECT line_no, field, reason FROM store.quarantine ORDER BY line_no")
    assert [(line, field) for line, field, _ in reasons] == [(2, "NHS"), (4, "Child Ref"), (5, "Child Ref"), (6, "DOB")]
    for _, _, reason in reasons[:3]:
        assert "shortened by a spreadsheet (scientific notation" in reason
        assert reason_code(reason) == "spreadsheet_shortened"
    assert "duplicate" not in reasons[2][2]
    assert 'format: "%d-%b-%y"' in reasons[3][2]
