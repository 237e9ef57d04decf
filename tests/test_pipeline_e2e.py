"""synth -> ingest -> link -> export through the real CLI, on a few thousand children."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from linkage.cli import app
from linkage.link import load_truth, load_twins, score_clusters

pytestmark = pytest.mark.e2e
runner = CliRunner()


def cli(*args: str) -> str:
    result = runner.invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def ingest_all(home: Path, extracts: Path) -> None:
    when = json.loads((extracts / "manifest.json").read_text())["extract_date"]
    for source in ("education", "social_care", "health"):
        out = cli("ingest", str(extracts / f"{source}.csv"), "--source", source, "--extract-date", when,
                  "--data-dir", str(home))
        assert "accepted" in out


def exported(home: Path, out: Path) -> dict[str, str]:
    cli("export-ids", str(out), "--data-dir", str(home))
    with open(out, newline="") as fh:
        return {f"{r['source']}:{r['source_record_id']}": r["child_id"] for r in csv.DictReader(fh)}


@pytest.fixture(scope="module")
def linked(tmp_path_factory, synth_month1, trained_model):
    """Ingested and linked by the real commands, with the model the session trained on this very
    month 1 (``run_link``, as ``linkage link`` trains): training by the CLI is proven in
    tests/test_review.py and tests/test_synth_difficulty.py, so it is not paid for again here."""
    home = tmp_path_factory.mktemp("e2e") / "data"
    ingest_all(home, synth_month1)
    out = cli("link", "--model", str(trained_model), "--data-dir", str(home))
    assert "run 1 (full)" in out and "model trained" not in out
    ids = exported(home, home.parent / "ids1.csv")
    return home, ids


def test_f1_above_floor_and_no_twins_merged(linked, synth_month1):
    home, ids = linked
    truth = load_truth(synth_month1 / "truth.csv")
    from linkage.store import Store

    store = Store(home, memory_limit="1GB")
    quarantined = {f"{s}:{rid}" for s, rid in store.rows(
        "SELECT e.source, json_extract_string(q.raw, '$.' || CASE e.source WHEN 'education' THEN 'AdNo' "
        "WHEN 'social_care' THEN 'LAchildID' ELSE 'id' END) FROM store.quarantine q JOIN store.extracts e USING (extract_id)")}
    store.close()
    assert set(ids) | quarantined == set(truth)                   # nothing lost
    assert not set(ids) & quarantined
    assert all(cid for cid in ids.values())                        # every accepted record has a child
    s = score_clusters(ids, truth, load_twins(synth_month1 / "twins.csv"))
    assert s.f1 >= 0.985, s
    assert s.twin_pairs > 50 and s.twins_merged == 0, s


def test_rerun_keeps_every_id(linked):
    home, ids = linked
    out = cli("link", "--data-dir", str(home))
    assert "(incremental)" in out and "scored 0" in out
    assert exported(home, home.parent / "ids_rerun.csv") == ids
    out = cli("link", "--full", "--data-dir", str(home))
    assert "(full)" in out
    assert exported(home, home.parent / "ids_full.csv") == ids


def test_second_month_keeps_ids_where_records_stay_together(linked, synth_month1, synth_month2):
    home, ids1 = linked
    ingest_all(home, synth_month2)
    out = cli("link", "--data-dir", str(home))
    assert "(incremental)" in out
    ids2 = exported(home, home.parent / "ids2.csv")
    truth2 = load_truth(synth_month2 / "truth.csv")
    s = score_clusters(ids2, truth2, load_twins(synth_month2 / "twins.csv"))
    assert s.f1 >= 0.985 and s.twins_merged == 0, s

    # Group month-1 records by month-1 child; where the group is still together, its id is unchanged.
    groups: dict[str, set[str]] = {}
    for rec, cid in ids1.items():
        groups.setdefault(cid, set()).add(rec)
    kept = changed = 0
    for cid, recs in groups.items():
        now = {ids2[r] for r in recs if r in ids2}
        if len(now) == 1:
            if now == {cid}:
                kept += 1
            else:
                # allowed only when it merged into another child and the old id is an alias
                changed += 1
    assert kept / len(groups) > 0.99
    # Each `linkage link` recorded who was on the CME list then (for "new since the last run").
    from linkage.store import Store

    store = Store(home, memory_limit="1GB")
    listed = dict(store.rows("SELECT run_id, count(*) FROM store.cme_membership GROUP BY run_id"))
    runs = [r[0] for r in store.rows("SELECT run_id FROM store.runs WHERE finished_at IS NOT NULL")]
    store.close()
    assert set(listed) == set(runs) and all(n > 100 for n in listed.values())
    status = cli("status", "--data-dir", str(home))
    assert "quarantine:" in status and "clerical review queue" in status and "last run" in status


def test_ingest_reports_counts_and_rejects_bad_file(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("AdNo,Surname\n1,X\n")
    result = runner.invoke(app, ["ingest", str(bad), "--source", "education", "--data-dir", str(tmp_path / "d")])
    assert result.exit_code == 2 and "lacks required columns" in result.output


def test_resolve_command_and_export_of_records_from_older_extracts(linked, synth_month1, synth_month2):
    home, ids1 = linked
    exported_all = exported(home, home.parent / "ids_all.csv")
    assert set(ids1) <= set(exported_all)                          # month-1 records keep their child
    assert all(exported_all[k] for k in ids1)
    some = next(iter(ids1.values()))
    out = cli("resolve", some, "--data-dir", str(home))
    assert some in out and "->" in out
    bad = runner.invoke(app, ["resolve", "C-NOTREALATALL0", "--data-dir", str(home)])
    assert bad.exit_code == 2 and "never issued" in bad.output
