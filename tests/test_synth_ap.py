"""Synthetic AP trajectories: added to a population without changing it, and realistic enough to measure."""

from __future__ import annotations

import csv
from datetime import date

import pandas as pd
import pytest

from linkage.connectors import ingest_file
from linkage.outcomes.build import read_frames
from linkage.outcomes.measures import Options
from linkage.outcomes.nccis import load_nccis
from linkage.reference import KINDS, load_reference, sample_path
from linkage.store import Store
from linkage.synth import synthesise


@pytest.fixture(scope="module")
def extracts(tmp_path_factory):
    base = tmp_path_factory.mktemp("synth-ap")
    plain = synthesise(3000, 5, base / "plain")
    with_ap = synthesise(3000, 5, base / "ap", ap_trajectories=True)
    return base, plain, with_ap


def test_trajectories_only_add_rows(extracts):
    base, plain, with_ap = extracts
    before = (base / "plain" / "education.csv").read_text().splitlines()
    after = (base / "ap" / "education.csv").read_text().splitlines()
    assert after[:len(before)] == before and len(after) > len(before)
    for name in ("social_care.csv", "health.csv"):
        assert (base / "plain" / name).read_text() == (base / "ap" / name).read_text()
    assert not (base / "plain" / "nccis.csv").exists()
    assert with_ap["records"]["nccis"] > 0 and plain["records"]["health"] == with_ap["records"]["health"]


def test_trajectories_give_every_kind_of_outcome(extracts, tmp_path):
    base, _, manifest = extracts
    when = date.fromisoformat(manifest["extract_date"])
    store = Store(tmp_path / "data")
    for kind in KINDS:
        load_reference(store, kind, sample_path(kind))
    for source in ("education", "social_care", "health"):
        ingest_file(store, source, base / "ap" / f"{source}.csv", extract_date=when)
    load_nccis(store, base / "ap" / "nccis.csv")
    with open(base / "ap" / "truth.csv", newline="", encoding="utf-8") as fh:    # the true identities
        rows = [{"record_key": f"{r['source']}:{r['source_record_id']}", "child_id": r["person"], "run_id": 1}
                for r in csv.DictReader(fh)]
    store.insert_df("store.identity", pd.DataFrame(rows))
    placements, units = read_frames(store.connection, Options(when))
    store.close()
    assert {"short", "long"} <= set(placements.placement_type)
    assert placements.dual_registered.any()
    assert {0, 1} <= set(placements.reintegrated.dropna())
    assert placements.post16_sustained.notna().any()
    assert {"mainstream school", "no school place known"} <= set(placements.next_place)
    assert placements.suspended_1year.dropna().sum() > 0
    back = placements[placements.reintegrated == 1]
    assert back.attendance_after.mean() > back.attendance_before.mean()      # better after a return
    assert set(units.placed) == {0, 1}                                       # a comparison group exists
