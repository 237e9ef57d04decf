"""A second file of a source, read with ``--amend`` under its own mapping (an early-help list
beside social care, an AP roll beside the school census), numbers its records its own way: it is
another *register* of the source. Its typed name is one child typed twice, not a twin the
source holds (``ingest.LINK_RECORDS_SQL``, ``guards._two_in_one_source``)."""

from __future__ import annotations

import csv
import json
from datetime import date, datetime
from pathlib import Path

from linkage.connectors import ingest_file
from linkage.link import run_link
from linkage.store import Store
from linkage.synth import synthesise

SOURCES = ("education", "health", "social_care")
EARLY_HELP = """source: social_care
description: Early-help case list (a second social-care file)
record_id: Case No
fields:
  forename: Forename
  surname: Surname
  date_of_birth: {column: DOB, format: "%d/%m/%Y"}
  postcode: Postcode
"""


def _typed(name: str) -> str:
    """The name with its second and third letters swapped (Zain -> Zian)."""
    return name[0] + name[2] + name[1] + name[3:]


def test_a_typed_name_in_a_second_file_joins_its_child_and_twins_stay_apart(tmp_path: Path):
    extracts = tmp_path / "m1"
    synthesise(400, 42, extracts)
    when = date.fromisoformat(json.loads((extracts / "manifest.json").read_text())["extract_date"])
    truth = {(r["source"], r["source_record_id"]): r["person"] for r in csv.DictReader(open(extracts / "truth.csv"))}
    twins = {p for r in csv.DictReader(open(extracts / "twins.csv")) for p in r.values()}
    at_school = {p for (s, _), p in truth.items() if s == "education"}
    chosen = []
    for row in csv.DictReader(open(extracts / "social_care.csv", encoding="utf-8-sig")):
        person = truth[("social_care", row["LAchildID"])]
        name = row["Forename"]
        if (person not in twins and person in at_school and name.isalpha() and len(name) >= 5
                and _typed(name) != name and person not in {p for p, _ in chosen}):
            chosen.append((person, row))
        if len(chosen) == 6:
            break
    assert len(chosen) == 6
    mapping = tmp_path / "early_help.yaml"
    mapping.write_text(EARLY_HELP)
    listed = tmp_path / "early_help.csv"
    with open(listed, "w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["Case No", "Forename", "Surname", "DOB", "Postcode"])
        for i, (_, row) in enumerate(chosen):
            out.writerow([f"EH{i:04d}", _typed(row["Forename"]), row["Surname"],
                          datetime.strptime(row["PersonBirthDate"], "%d/%m/%Y").strftime("%d/%m/%Y"),
                          row["HOME_POST"]])
    store = Store(tmp_path / "home", memory_limit="1GB")
    try:
        for source in SOURCES:
            ingest_file(store, source, extracts / f"{source}.csv", extract_date=when)
        ingest_file(store, "social_care", listed, mapping, extract_date=when, amend=True)
        run_link(store)
        child = dict(store.rows("SELECT r.source || '/' || r.source_record_id, i.child_id FROM store.records r "
                                "JOIN store.identity i USING (record_key) WHERE r.replaced_by IS NULL"))
    finally:
        store.close()
    # Each typed early-help record is in the child of its social care record (and school record).
    joined = [child[f"social_care/EH{i:04d}"] == child[f"social_care/{row['LAchildID']}"]
              for i, (_, row) in enumerate(chosen)]
    assert sum(joined) >= 5, joined
    # No twin pair merged.
    by_person: dict[str, set[str]] = {}
    for (source, rid), person in truth.items():
        if f"{source}/{rid}" in child:
            by_person.setdefault(person, set()).add(child[f"{source}/{rid}"])
    for pair in csv.DictReader(open(extracts / "twins.csv")):
        a, b = by_person.get(pair["person_a"], set()), by_person.get(pair["person_b"], set())
        assert not a & b, pair
