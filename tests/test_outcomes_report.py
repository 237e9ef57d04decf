"""The outcomes report from the command line: HTML, PDF and CSV, published figures only."""

from __future__ import annotations

import stat

from typer.testing import CliRunner

import outcomes_world
from linkage.cli import app
from linkage.outcomes.aggregate import DIMENSIONS, HEADLINE, outcome_tables
from linkage.outcomes.measures import Options, placement_measures_sql
from linkage.outcomes.sources import store_sources


def test_every_breakdown_publishes_only_protected_counts(tmp_path):
    store = outcomes_world.build(tmp_path / "data")
    df = store.df(placement_measures_sql(store_sources(store.connection), Options(outcomes_world.AS_AT)))
    store.close()
    for by in DIMENSIONS:
        for t in outcome_tables(df, by):
            flat = [v for row in t.cells for v in row] + t.row_totals + t.col_totals + [t.total]
            assert all(v == "c" or v == 0 or v > 5 for v in flat), (by, t.key)
            assert "child-" not in repr(t)


def test_report_command_writes_html_pdf_and_csv(tmp_path):
    home = tmp_path / "data"
    outcomes_world.build(home).close()
    out = tmp_path / "report"
    r = CliRunner().invoke(app, ["outcomes", "report", "--by", "setting", "--cohort", "2024/25", "--as-at",
                                 outcomes_world.AS_AT.isoformat(), "--out", str(out), "--data-dir", str(home)])
    assert r.exit_code == 0, r.output
    html = (out / "outcomes.html").read_text()
    assert "What this cannot prove" in html and "Where children went next" in html and "<table>" in html
    assert (out / "outcomes.pdf").read_bytes()[:5] == b"%PDF-"
    # Attainment is said not to be measured, and why, in the HTML and the PDF.
    assert "Not measured: attainment." in html and "no extract this service receives" in html
    from pypdf import PdfReader

    first = PdfReader(out / "outcomes.pdf").pages[0].extract_text()
    assert "Not measured: attainment" in first and "AP placements:" in first
    csv_text = (out / "outcomes_tables.csv").read_text()
    assert "child-" not in csv_text and "child-" not in html
    assert csv_text.splitlines()[0].startswith("table,breakdown,group,column,value")
    for f in out.iterdir():
        assert stat.S_IMODE(f.stat().st_mode) & 0o077 == 0, f


def test_the_html_and_pdf_say_settings_and_placement_types_in_words_and_the_csv_keeps_codes(tmp_path):
    """As the pages say them (``outcomes.words``): "Pupil referral unit", "Short (ended within 12
    weeks)", "No SEN"; an analyst's CSV keeps the codes to join on."""
    import re

    from pypdf import PdfReader

    home = tmp_path / "data"
    outcomes_world.build(home).close()
    said = {"setting": ("Pupil referral unit", "pupil_referral_unit"),
            "placement_type": ("Short (ended within 12 weeks)", "short"), "sen_status": ("No SEN", "no SEN")}
    for by, (words, code) in said.items():
        out = tmp_path / by
        r = CliRunner().invoke(app, ["outcomes", "report", "--by", by, "--as-at", outcomes_world.AS_AT.isoformat(),
                                     "--out", str(out), "--data-dir", str(home)])
        assert r.exit_code == 0, r.output
        html = (out / "outcomes.html").read_text()
        cells = re.findall(r"<t[dh]>([^<]*)</t[dh]>", html)
        assert words in cells and code not in cells, (by, sorted(set(cells)))
        # The placements table's columns are placement types, whatever the breakdown.
        assert {"Short (ended within 12 weeks)", "Long (12 weeks or more)"} <= set(cells) and "long" not in cells
        pdf = " ".join(" ".join(page.extract_text().split()) for page in PdfReader(out / "outcomes.pdf").pages)
        assert words in pdf and f" {code} " not in pdf, by
        groups = {row.split(",")[2] for row in (out / "outcomes_tables.csv").read_text().splitlines()[1:]}
        assert code in groups and words not in groups, (by, groups)

def test_report_command_refuses_bad_options_in_one_line(tmp_path):
    home = tmp_path / "data"
    outcomes_world.build(home).close()
    for args in (["--cohort", "2025"], ["--by", "child_id"], ["--rule", "none"], ["--as-at", "yesterday"]):
        r = CliRunner().invoke(app, ["outcomes", "report", "--out", str(tmp_path / "r"), "--data-dir", str(home),
                                     *args])
        assert r.exit_code == 2, (args, r.output)
        assert "Traceback" not in r.output


def test_tables_of_the_same_placements_agree_on_every_total():
    """A group total hidden in one table is hidden in all: no table undoes another's suppression."""
    import random

    import pandas as pd

    from linkage.outcomes.aggregate import NEXT_PLACES

    rng = random.Random(3)
    rows = []
    for i in range(140):
        setting = rng.choices(["pru", "academy", "free", "hospital"], [60, 40, 8, 3])[0]
        rows.append({"setting": setting, "placement_type": rng.choice(["short", "long", "new"]),
                     "next_place": rng.choice(NEXT_PLACES),
                     **{m: rng.choice([0, 1, None]) for m in ("suspended_1term", "suspended_1year", "excluded_1term",
                                                             "excluded_1year", "reintegrated",
                                                             "reintegration_sustained", "ehc_started",
                                                             "missing_after", "referral_1year", "post16_sustained")},
                     "attendance_before": rng.random(), "attendance_during": rng.random(),
                     "attendance_after": rng.random()})
    published = outcome_tables(pd.DataFrame(rows), "setting")
    tables = [t for t in published if t.key not in ("attendance", HEADLINE)]
    for k, group in enumerate(tables[0].groups):
        assert len({str(t.row_totals[k]) for t in tables}) == 1, group
    # The headline (its own one-cell table) and every table agree on the total: 140 placements, published.
    assert {str(t.total) for t in tables} == {"140"} and published[-1].key == HEADLINE
    assert published[-1].total == 140
