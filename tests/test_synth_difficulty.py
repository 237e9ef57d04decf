"""`linkage synth --difficulty`: every error class of issue 11 is injected and labelled, and the
real pipeline links each class on realistic data without merging twins."""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from datetime import date
from itertools import combinations

import pytest

from apiserver import linked_home
from linkage.connectors.ingest import LINK_RECORDS_SQL
from linkage.link import load_truth, load_twins, score_clusters
from linkage.store import Store
from linkage.synth import CLASSES, synthesise
from linkage.synth.noise import Noise
from linkage.synth.population import Child
from linkage.validation.identifiers import is_valid_upn
from test_pipeline_e2e import exported


def _classes(out) -> dict[str, set[str]]:
    got: dict[str, set[str]] = defaultdict(set)
    with open(out / "truth_classes.csv", newline="", encoding="utf-8") as fh:
        for r in csv.DictReader(fh):
            got[r["class"]].add(f"{r['source']}:{r['source_record_id']}")
    return got


def test_hard_injects_every_class_and_easy_none(tmp_path):
    synthesise(300, 3, tmp_path / "easy")
    assert _classes(tmp_path / "easy") == {}
    synthesise(4000, 3, tmp_path / "hard", level="hard")
    got = _classes(tmp_path / "hard")
    assert set(CLASSES) <= set(got), set(CLASSES) - set(got)
    edu = {f"education:{r['AdNo']}": r for r in csv.DictReader(open(tmp_path / "hard" / "education.csv"))}
    temps = [edu[k]["UPN"] for k in got["temporary_upn"] if k in edu and edu[k]["UPN"]]
    assert any(u[-1].isalpha() for u in temps) and all(is_valid_upn(u) for u in temps)
    assert any(edu[k]["FormerUPN"] for k in got["second_upn_former"] if k in edu)


@pytest.fixture(scope="module")
def realistic(tmp_path_factory, synth_realistic):
    """The session's realistic month 1 (read-only), linked by the real CLI; a copy of its data."""
    out = synth_realistic
    home = tmp_path_factory.mktemp("realistic") / "data"
    when = date.fromisoformat(json.loads((out / "manifest.json").read_text())["extract_date"])
    linked_home(home, out, when, children=0, via_cli=True)
    return out, home, exported(home, home.parent / "ids.csv")


def test_realistic_links_each_class_and_merges_no_twins(realistic):
    out, _, ids = realistic
    truth = load_truth(out / "truth.csv")
    s = score_clusters(ids, truth, load_twins(out / "twins.csv"))
    assert s.precision >= 0.999 and s.recall >= 0.98 and s.twins_merged == 0, s
    classes = _classes(out)
    by_person: dict[str, list[str]] = defaultdict(list)
    for k, p in truth.items():
        if k in ids:
            by_person[p].append(k)
    for cls in ("forename_typo", "temporary_upn", "second_upn_former"):
        pairs = [(a, b) for keys in by_person.values() for a, b in combinations(keys, 2)
                 if a in classes[cls] or b in classes[cls]]
        linked = sum(ids[a] == ids[b] for a, b in pairs)
        assert pairs and linked / len(pairs) >= 0.9, (cls, linked, len(pairs))


def test_a_second_upn_elsewhere_links_and_is_listed_as_a_finding(realistic, tmp_path):
    """A social-care record identical to a pupil's school record but for a new UPN joins the
    pupil, and `linkage findings` lists the two UPNs."""
    import random

    from linkage.synth.difficulty import second_upn
    from test_pipeline_e2e import cli as run_cli

    out, home, ids = realistic
    twins = {p for pair in load_twins(out / "twins.csv") for p in pair}
    truth = load_truth(out / "truth.csv")
    in_care = {p for k, p in truth.items() if k.startswith("social_care:")}
    row = next(r for r in csv.DictReader(open(out / "education.csv", newline="", encoding="utf-8"))
               if r["UPN"] and r["Postcode"] and not r["LeavingDate"]
               and truth[f"education:{r['AdNo']}"] not in twins | in_care)
    header = next(csv.reader(open(out / "social_care.csv", newline="", encoding="utf-8")))
    new = dict.fromkeys(header, "")
    new.update(LAchildID="LA99999999", UPN=second_upn(random.Random(1), row["UPN"]), Forename=row["Forename"],
               Surname=row["Surname"], PersonBirthDate=row["DOB"], GenderCurrent={"M": "1", "F": "2"}[row["Sex"]],
               HOME_POST=row["Postcode"], AddressLine1=row["AddressLine1"], CINreferralDate="01/09/2026",
               ReferralSource="1A", AllocatedTeam="Front Door")
    path = tmp_path / "social_care.csv"
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=header)
        w.writeheader()
        w.writerow(new)
    when = json.loads((out / "manifest.json").read_text())["extract_date"]
    run_cli("ingest", str(path), "--source", "social_care", "--amend", "--extract-date", when, "--data-dir", str(home))
    run_cli("link", "--data-dir", str(home))
    after = exported(home, tmp_path / "ids.csv")
    assert after["social_care:LA99999999"] == after[f"education:{row['AdNo']}"]
    found = json.loads(run_cli("findings", "--format", "json", "--data-dir", str(home)))
    mine = [f for f in found if "social_care:LA99999999" in f["records"]]
    assert mine and mine[0]["finding"] == "two UPNs for one pupil" and row["UPN"] in mine[0]["upns"]
    assert all(len({after[k] for k in f["records"]}) == 1 and len(f["upns"]) >= 2 for f in found)


def test_no_noise_turns_a_twin_into_its_co_twin():
    """A nickname or typo that lands on the co-twin's forename (Louis written Lewis, his twin
    being Lewis) would make the record the other child's in every field: the generator keeps
    the twin's own name instead, and still draws every other nickname."""
    louis = Child(person=1, household=1, forename="Louis", middle="Logan", surname="Evans",
                  former_surname=None, sex="M", dob=date(2022, 5, 6), postcode="BL1 5NQ", address="1 Mill Lane",
                  old_postcode=None, old_address=None, upn=None, former_upn=None, nhs=None, twin_of=2)
    rates = dict(nickname=1.0, typo=0.0, swap=0.0, dob_swap=0.0, dob_typo=0.0)
    seen = {Noise(42, "health", f"P{i:09d}", rates, louis, "realistic", frozenset({"lewis"})).names(louis)[0]
            for i in range(300)}
    alone = {Noise(42, "health", f"P{i:09d}", rates, louis, "realistic").names(louis)[0] for i in range(300)}
    assert "Lewis" in alone                       # the nickname table does offer it ...
    assert "Lewis" not in seen and {"Louie", "Lou", "Louis"} <= seen    # ... but never for Lewis's twin


def test_second_files_of_a_source_are_their_own_registers_and_join_their_children(realistic):
    """A realistic synth writes an early-help list and an AP roll, each with its own mapping, read
    with --amend (the fixture does, through the CLI). Each is a register of its own, holds whole
    families (twins under two case numbers), and its records join their children."""
    out, home, ids = realistic
    manifest = json.loads((out / "manifest.json").read_text())
    assert set(manifest["second_files"]) == {"early_help.csv", "ap_roll.csv"}
    assert manifest["records"]["early_help"] > 0 and manifest["records"]["ap_roll"] > 0
    store = Store(home, memory_limit="1GB")
    try:
        registers = dict(store.rows(f"SELECT register, count(*) FROM ({LINK_RECORDS_SQL}) GROUP BY 1"))
    finally:
        store.close()
    assert registers["social_care:early_help.yaml"] == manifest["records"]["early_help"]
    assert registers["education:ap_roll.yaml"] == manifest["records"]["ap_roll"]
    truth, classes = load_truth(out / "truth.csv"), _classes(out)
    second = classes["second_file"]
    twins = {p for pair in load_twins(out / "twins.csv") for p in pair}
    assert any(truth[k] in twins for k in second)        # families are listed whole
    by_person: dict[str, list[str]] = defaultdict(list)
    for k, p in truth.items():
        if k in ids:
            by_person[p].append(k)
    pairs = [(a, b) for k in second for a, b in [(k, o) for o in by_person[truth[k]] if o not in second]]
    linked = sum(ids[a] == ids[b] for a, b in pairs)
    assert pairs and linked / len(pairs) >= 0.97, (linked, len(pairs))
