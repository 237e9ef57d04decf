"""Formulas never get through, and no CSV we write can run one.

The check runs on the value as it will be stored (trimmed, NFKC) against the OWASP
CSV-injection list; exports neutralise whatever is left and end lines with LF.
"""

from __future__ import annotations

import csv
import re
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from linkage.cli import app
from linkage.safetext import write_private_csv as write_csv
from linkage.synth.extracts import EDU_HEADER
from linkage.validation import check_text, looks_like_formula, neutralise_cell

ATTACKS = [
    "=HYPERLINK(\"http://x\",\"y\")", " =HYPERLINK(\"http://x\")", "  \t=1+1", "-2+3+cmd|' /C calc'!A0",
    "+1+cmd|' /C calc'!A0", "@SUM(1+1)*cmd|' /C calc'!A0", "\uff1dHYPERLINK(\"http://x\")", "\uff0b1+1",
    "\t=1", "\r=1", "'=1+1", "\"=1+1\"", " \"@SUM(A1)", "\u3000=1+1", "\ufe66cmd", "- 2",
]


@pytest.mark.parametrize("value", ATTACKS)
def test_every_owasp_trigger_is_caught_also_after_spaces_quotes_and_full_width(value):
    assert looks_like_formula(value)
    assert check_text(value) is not None


@pytest.mark.parametrize("value", ["Alexander", "O'Brien", "-2", "+441632960000", "3.5", "1 Example Street",
                                   "Smith-Jones", "محمد"])
def test_ordinary_values_are_not_formulas(value):
    assert not looks_like_formula(value)


@given(st.text(alphabet=" \t\"'\u3000", max_size=3), st.sampled_from(["=", "+", "@", "-", "\uff1d", "\uff20"]),
       st.text(max_size=20))
def test_a_trigger_after_any_padding_is_caught_unless_it_is_a_plain_number(pad, trigger, rest):
    value = pad + trigger + rest
    bare = unicodedata.normalize("NFKC", value).lstrip(" \t\"'\u3000")
    plain_number = re.fullmatch(r"[+-][0-9]+(\.[0-9]+)?", bare) and not pad.startswith("\t")
    assert looks_like_formula(value) or plain_number


@given(st.text(max_size=30))
def test_neutralised_cells_never_start_a_formula(value):
    out = neutralise_cell(value)
    first = unicodedata.normalize("NFKC", out)[:1]
    assert first not in ("=", "+", "-", "@", "\t", "\r") or out.startswith("'")
    assert out == value or out == "'" + value


def rows(path, records):
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=EDU_HEADER, extrasaction="ignore")
        w.writeheader()
        w.writerows(records)
    return path


GOOD = {"UPN": "B801200005001", "Surname": "Example", "Forename": "Alexander", "DOB": "14/03/2015",
        "Postcode": "SW1A 1AA"}


def test_formulas_never_reach_export_ids(tmp_path):
    """A leading space before =HYPERLINK, -2+3+cmd and full-width ＝ in ids and names are refused or set aside."""
    home = tmp_path / "data"
    records = [{**GOOD, "AdNo": str(i)} for i in range(1, 11)] + [
        {**GOOD, "AdNo": " =HYPERLINK(\"http://x\")"}, {**GOOD, "AdNo": "-2+3+cmd|' /C calc'!A0"},
        {**GOOD, "AdNo": "\uff1d1+1"}, {**GOOD, "AdNo": "20", "AddressLine1": " =HYPERLINK(\"http://x\")"}]
    r = CliRunner().invoke(app, ["ingest", str(rows(tmp_path / "e.csv", records)), "--source", "education",
                                 "--extract-date", "2026-10-01", "--data-dir", str(home)])
    assert r.exit_code == 0, r.output
    assert "accepted 11 (1 with a field set aside), quarantined 3" in r.output
    out = tmp_path / "ids.csv"
    assert CliRunner().invoke(app, ["export-ids", str(out), "--data-dir", str(home)]).exit_code == 0
    body = out.read_bytes()
    assert b"\r\n" not in body
    for row in csv.reader(body.decode().splitlines()):
        for cell in row:
            assert not looks_like_formula(cell) or cell.startswith("'")
    assert len(body.decode().splitlines()) == 1 + 11


def test_write_csv_neutralises_dangerous_cells_and_writes_lf(tmp_path):
    path = tmp_path / "x.csv"
    write_csv(path, ["a", "b"], [["=1+1", "ok"], [" @SUM(A1)", "-2"], ["\uff1d1", None]])
    assert path.read_bytes() == b"a,b\n'=1+1,ok\n' @SUM(A1),'-2\n'\xef\xbc\x9d1,\n"


@given(st.one_of(st.none(), st.integers(), st.dates(),
                 st.text(max_size=20), st.from_regex(r"[A-Za-z0-9][A-Za-z0-9 ,./()&_:=+@\t\r'-]{0,12}", fullmatch=True)))
def test_neutralise_passes_plain_text_as_the_full_check_would(value):
    """Cells of plain ASCII skip the full check: the answer is the same as the full check's."""
    from linkage.safetext import _neutralised, neutralise

    assert neutralise(value) == _neutralised(value)


@pytest.mark.parametrize("lead", ["\u200b", "\u200c", "\u200d", "\u2060", "\u00ad", "\u180e", "\u034f", "\u3164",
                                  "\uffa0", "\u115f", "\u2800", "\u17b4", "\u2003", "\u200b\u00a0\u2060"])
@pytest.mark.parametrize("trigger", ["=HYPERLINK(\"http://x\")", "@SUM(A1)", "+1+cmd"])
def test_a_trigger_behind_characters_drawn_as_nothing_is_neutralised(lead, trigger):
    """Zero-width and filler characters before `=`: a reader sees a formula (LibreOffice 7.4 runs none
    of these, probed; another program may drop what it cannot draw), so the cell gets the `'`."""
    from linkage.safetext import csv_text

    cell = list(csv.reader(csv_text(["c"], [[lead + trigger]]).splitlines()))[1][0]
    assert cell.startswith("'"), repr(cell)
