"""A month whose only news moves the twin guard's evidence scores only its new records (issue 11
item 7) and still decides as a full relink does.

Two forenames spelt alike are names twins are given once co-twins in one source bear them in
``guards.TWIN_NAMES_LEAST`` families (``guards.twin_names_sql``); a pair of records of the two is
then guarded wherever it is. A month that brings the second such family moves the guard of pairs
of those two names only, yet used to score again every record bearing either name. Here a real
month 1 holds one family of twins Quillon and Quillan, a child recorded as Quillan at school and
Quillon at the GP (linked: one name spelt two ways), and more children of each name; the month
adds the second family of twins, and nothing else.
"""

from __future__ import annotations

import csv
import shutil
from collections import defaultdict
from datetime import timedelta
from pathlib import Path

import pytest

from apiserver import linked_home
from conftest import EXTRACT_DATE
from linkage.connectors import ingest_file
from linkage.link import run_link
from linkage.link.guards import GUARD_REASON
from linkage.store import Store

SCHOOL = {"Sex": "M", "SchoolURN": "990009", "AddressLine1": "1 Elm Row"}
# (AdNo and UPN suffix, forename, surname, date of birth, postcode)
TWINS_1 = [("01", "Quillon", "Faraday", "14/03/2015", "W5 1PW"), ("02", "Quillan", "Faraday", "14/03/2015", "W5 1PW")]
TWINS_2 = [("03", "Quillon", "Marchetti", "02/07/2016", "LS6 2AB"), ("04", "Quillan", "Marchetti", "02/07/2016",
                                                                           "LS6 2AB")]
# One child, its forename typed one way at school and the other at the GP.
ONE_CHILD = ("05", "Quillan", "Brookfield", "21/09/2014", "BS3 4QT")
GP = {"id": "P999999905", "name.given": "Quillon", "name.family": "Brookfield", "birthDate": "2014-09-21",
      "gender": "male", "address.postalCode": "BS3 4QT", "address.line": "1 Elm Row"}
# More children of each name, born years apart: neither forename is ever rare (``guards.RARE``).
OTHERS = [("06", "Quillon", "Vance", "02/11/2009", "N2 2AB"), ("07", "Quillon", "Okafor", "05/05/2011", "N3 2AB"),
          ("08", "Quillan", "Hale", "09/01/2010", "N4 2AB"), ("09", "Quillan", "Ibsen", "30/06/2012", "N5 2AB")]
BROOK = ("education:990009/99990005", "health:P999999905")


def _extracts(base: Path, out: Path, school: list[tuple], gps: tuple[dict, ...] = (GP,)) -> Path:
    """``base``'s extracts with the school rows ``school`` and the GP's Quillon (``gps``) added."""
    out.mkdir(parents=True)
    for f in base.iterdir():
        if f.is_file():
            shutil.copy(f, out / f.name)
    for source, rows in (("education", [{**SCHOOL, "AdNo": f"990009/999900{n}", "UPN": f"Q9999999999{n}",
                                         "Forename": fore, "Surname": sur, "DOB": dob, "Postcode": pc}
                                        for n, fore, sur, dob, pc in school]),
                         ("health", list(gps))):
        with open(out / f"{source}.csv", newline="", encoding="utf-8") as fh:
            header = csv.DictReader(fh).fieldnames
        with open(out / f"{source}.csv", "a", newline="", encoding="utf-8") as fh:
            csv.DictWriter(fh, header).writerows({c: row.get(c, "") for c in header} for row in rows)
    return out


def _link(home: Path, extracts: Path, days: int, full: bool = False):
    store = Store(home, memory_limit="2GB")
    try:
        for source in ("education", "social_care", "health"):
            ingest_file(store, source, extracts / f"{source}.csv", extract_date=EXTRACT_DATE + timedelta(days=days))
        return run_link(store, full=full)
    finally:
        store.close()


def _state(home: Path) -> dict:
    store = Store(home, memory_limit="2GB")
    try:
        ids = dict(store.rows("SELECT i.record_key, i.child_id FROM store.identity i "
                              "JOIN store.linked_records r USING (record_key)"))
        queue = sorted(store.rows("SELECT record_key_l, record_key_r, reason FROM store.review_queue "
                                  "WHERE status = 'open'"))
        guarded = store.rows("SELECT guarded FROM store.link_edges WHERE record_key_l = ? AND record_key_r = ?",
                             sorted(BROOK))
    finally:
        store.close()
    groups = defaultdict(set)
    for k, c in ids.items():
        groups[c].add(k)
    return {"ids": ids, "children": {frozenset(g) for g in groups.values()}, "queue": queue,
            "brook_guarded": [g for (g,) in guarded]}


@pytest.fixture(scope="module")
def month1(tmp_path_factory, synth_month1) -> tuple[Path, Path]:
    """Month 1 linked from the synthetic extracts, then with the first family and the others added
    (an incremental run, as a month is)."""
    tmp = tmp_path_factory.mktemp("guard")
    home = tmp / "data"
    linked_home(home, synth_month1, EXTRACT_DATE, children=0)
    _link(home, _extracts(synth_month1, tmp / "x1", [*TWINS_1, ONE_CHILD, *OTHERS]), 10)
    return home, synth_month1


def test_a_month_that_makes_two_names_twins_names_scores_only_its_new_records(month1, tmp_path):
    home1, synth = month1
    before = _state(home1)
    # Month 1: one family of twins bears the two names, so they are one name spelt two ways.
    assert before["ids"][BROOK[0]] == before["ids"][BROOK[1]] and before["brook_guarded"] == [False]
    month = _extracts(synth, tmp_path / "x2", [*TWINS_1, ONE_CHILD, *OTHERS, *TWINS_2])
    results, states = {}, {}
    for name, full in (("incr", False), ("full", True)):
        home = tmp_path / name
        shutil.copytree(home1, home)
        results[name] = _link(home, month, 20, full=full)
        states[name] = _state(home)
    # Only the second family's two records are scored: not the eight others bearing either name.
    assert results["incr"].mode == "incremental" and results["incr"].scored_records == 2
    incr, full = states["incr"], states["full"]
    # The two names are now twins' names: the GP's Quillon is no longer linked to the school's
    # Quillan automatically, in the month as in the relink, and the pair is left to a reviewer.
    assert full["ids"][BROOK[0]] != full["ids"][BROOK[1]]
    assert incr["children"] == full["children"]
    assert (*BROOK, GUARD_REASON) in full["queue"]
    assert incr["queue"] == full["queue"]
    # The stored pair says so, for the next month.
    assert incr["brook_guarded"] == full["brook_guarded"] == [True]


def test_the_guards_reason_says_how_the_two_dates_of_birth_differ(tmp_path, synth_month1):
    """The twin guard reads day and month transposed, and one slip, as one date of birth
    (``guards.birthday_sql``), and its reason said "same date of birth" for each: 5 of 250k's queued
    pairs (2 of the independent 20k's) contradicted their own records so. Three children as the
    Brookfield child above, Quillan at school and Quillon at the GP once both names are twins' names:
    one date of birth; day and month transposed; the day mistyped. The same pairs are queued, each
    said as its records are (``wording.guard_reasons``)."""
    kids = {"same": ("10", "Brookfield", "21/09/2014", "2014-09-21", "BS3 4QT"),
            "transposed": ("11", "Ashworth", "03/07/2013", "2013-03-07", "BS4 4QT"),
            "slip": ("12", "Pennant", "12/10/2012", "2012-10-13", "BS5 4QT")}
    home = tmp_path / "data"
    linked_home(home, synth_month1, EXTRACT_DATE, children=0)
    school = [*TWINS_1, *TWINS_2, *OTHERS, *((n, "Quillan", sur, dob, pc) for n, sur, dob, _, pc in kids.values())]
    gps = tuple({**GP, "id": f"P9999999{n}", "name.family": sur, "birthDate": born, "address.postalCode": pc}
                for n, sur, _, born, pc in kids.values())
    _link(home, _extracts(synth_month1, tmp_path / "x", school, gps), 10)
    queue = {(a, b): reason for a, b, reason in _state(home)["queue"]}
    said = {how: queue.get((f"education:990009/999900{n}", f"health:P9999999{n}")) for how, (n, *_) in kids.items()}
    assert said == {"same": GUARD_REASON,
                    "transposed": "possible twin or sibling: date of birth with day and month transposed, same "
                                  "family, different forename",
                    "slip": "possible twin or sibling: date of birth one slip apart, same family, different "
                            "forename"}, (said, queue)
