"""A cell holding a bidirectional override or isolate is never stored: it would reverse what follows.

``Smith\\u202e`` was accepted as a surname (control characters were refused, these format
characters were not): on a staff page, in the quarantine export a school opens, in a terminal, the
text after it reads backwards, so a record can show another name or date than it holds. No name or
address needs one (right-to-left scripts display right to left without them). Such a cell is now
refused as control characters are: the row, for a name; the field set aside, for an address.
A zero-width non-joiner (Persian names) and right-to-left marks are not overrides, and stay.
"""

from __future__ import annotations

import csv
import json

import pytest

import incli

pytestmark = pytest.mark.e2e

HEADER = ["AdNo", "Forename", "Surname", "DOB", "Sex", "Postcode", "AddressLine1"]
GOOD = {"AdNo": "A1", "Forename": "Amy", "Surname": "Stone", "DOB": "01/02/2015", "Sex": "F",
        "Postcode": "SW1A 1AA", "AddressLine1": "1 High Street"}


def cli(home, *args):
    """The real command in this process (tests/incli.py): the test reads what it stored, not its process."""
    p = incli.run(*args, "--data-dir", str(home), env={"COLUMNS": None})
    assert p.returncode == 0 and "Traceback" not in p.stderr, p.stderr
    return p.stdout


def test_a_direction_override_in_a_cell_is_never_stored(tmp_path):
    rows = [GOOD,
            {**GOOD, "AdNo": "A2", "Surname": "Stone\u202e5102/20/10"},          # a name that reads otherwise
            {**GOOD, "AdNo": "A3", "Forename": "\u2067Amy"},                    # an isolate
            {**GOOD, "AdNo": "A4", "AddressLine1": "1 High St\u202d"},          # an address: set aside
            {**GOOD, "AdNo": "A5", "Forename": "\u0645\u0647\u200c\u0633\u0627", "Surname": "\u200fRahimi"}]
    path = tmp_path / "school.csv"
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, HEADER)
        w.writeheader()
        w.writerows(rows)
    home = tmp_path / "data"
    cli(home, "ingest", "--source", "education", str(path), "--extract-date", "2026-10-01", "--force")
    listed = json.loads(cli(home, "quarantine", "list", "--format", "json"))
    got = {(q["record_id"], q["column"], q["severity"], q["code"]) for q in listed}
    assert got == {("A2", "Surname", "error", "direction_controls"), ("A3", "Forename", "error", "direction_controls"),
                   ("A4", "AddressLine1", "warning", "direction_controls")}, listed
    from linkage.store import Store

    store = Store(home)
    try:
        kept = store.rows("SELECT source_record_id, forename, surname, address FROM store.records ORDER BY 1")
    finally:
        store.close()
    assert [k[0] for k in kept] == ["A1", "A4", "A5"] and kept[1][3] is None, kept
    assert kept[2][1:3] == (rows[4]["Forename"], rows[4]["Surname"]), kept
