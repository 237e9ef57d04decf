"""A month's second pass counts what a full relink's counts (issue 11 item 7): a candidate of a
child the month reached, in a child it did not, is a second candidate all the same.

``link/unique.py`` links one child in two only when neither has any other candidate. A month
re-clusters what its changed records reach through strong pairs and previous children, and the
second pass used to see only that: a new namesake, or one gone, left a pair linked (or apart)
that a full relink of the same data split (or joined). Here a real month 1 is linked, then
records are added to or removed from real extracts, and each month is linked incrementally and
as a full relink from the same saved state, with ``link_month_search`` on: off (the default, for
a month's speed) a month counts and searches only among what its delta reached.
"""

from __future__ import annotations

import csv
import shutil
from collections import defaultdict
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apiserver import linked_home
from exampledb import example_connection
from conftest import EXTRACT_DATE
from test_cluster_evidence import input_tables, rec
from linkage.config import get_settings
from linkage.connectors import ingest_file
from linkage.link.evidence import candidates_sql
from linkage.link import run_link
from linkage.store import Store

# A forename no synthetic child has: no namesake but the ones written here.
NAME = "Zephyrine"
SCHOOL = {"AdNo": "990009/99990001", "UPN": "Q999999999901", "Surname": "Rocca", "Forename": NAME,
          "DOB": "14/03/2015", "Sex": "F", "Postcode": "W5 1PW", "AddressLine1": "1 Elm Row", "SchoolURN": "990009"}
GP = {"id": "P999999901", "name.given": NAME, "name.family": "Duhig", "birthDate": "2015-03-14",
      "gender": "female", "address.postalCode": "GL7 1AB", "address.line": "9 Old Lane"}
# Born a day later as written (one slip): a namesake the second pass counts, whom scoring leaves far apart.
CARE = {"LAchildID": "LA99999901", "Forename": NAME, "Surname": "Moss", "PersonBirthDate": "15/03/2015",
        "GenderCurrent": "2", "HOME_POST": "M1 1AA", "AddressLine1": "3 Far Road"}
KEYS = {"education": "education:990009/99990001", "health": "health:P999999901", "social_care": "social_care:LA99999901"}
FILES = {"education": SCHOOL, "health": GP, "social_care": CARE}


def _extracts(base: Path, out: Path, sources: set[str], **changed: dict) -> Path:
    """``base``'s three extracts with this module's record of each source in ``sources`` added
    (with the fields ``changed`` gives for its source)."""
    out.mkdir(parents=True)
    for f in base.iterdir():
        if f.is_file():
            shutil.copy(f, out / f.name)
    # Two more of the forename, born years apart, in every month: it is never rare (``guards.RARE``),
    # so no record is scored again because a namesake came or went.
    with open(out / "education.csv", newline="", encoding="utf-8") as fh:
        header = csv.DictReader(fh).fieldnames
    with open(out / "education.csv", "a", newline="", encoding="utf-8") as fh:
        for n, born in ((2, "02/11/2009"), (3, "05/05/2011")):
            row = {**SCHOOL, "AdNo": f"990009/9999000{n}", "UPN": f"Q99999999990{n}", "Surname": f"Vance{n}",
                   "DOB": born, "Postcode": f"N{n} 2AB"}
            csv.DictWriter(fh, header).writerow({c: row.get(c, "") for c in header})
    for source in sources:
        path = out / f"{source}.csv"
        with open(path, newline="", encoding="utf-8") as fh:
            header = csv.DictReader(fh).fieldnames
        with open(path, "a", newline="", encoding="utf-8") as fh:
            row = {**FILES[source], **changed.get(source, {})}
            csv.DictWriter(fh, header).writerow({c: row.get(c, "") for c in header})
    return out


def _link(home: Path, extracts: Path, when: date, full: bool = False):
    store = Store(home, memory_limit="2GB")
    try:
        for source in FILES:
            ingest_file(store, source, extracts / f"{source}.csv", extract_date=when)
        return run_link(store, full=full)
    finally:
        store.close()


def _children(home: Path) -> tuple[set[frozenset], dict[str, str]]:
    store = Store(home, memory_limit="2GB")
    try:
        ids = dict(store.rows("SELECT i.record_key, i.child_id FROM store.identity i "
                              "JOIN store.linked_records r USING (record_key)"))
    finally:
        store.close()
    groups = defaultdict(set)
    for k, c in ids.items():
        groups[c].add(k)
    return {frozenset(g) for g in groups.values()}, ids


def _month(start: Path, extracts: Path, tmp_path: Path) -> tuple[dict, dict]:
    """The month linked incrementally and as a full relink from copies of ``start``."""
    out = {}
    for name, full in (("incr", False), ("full", True)):
        home = tmp_path / name
        shutil.copytree(start, home)
        result = _link(home, extracts, EXTRACT_DATE + timedelta(days=20), full=full)
        assert result.mode == ("full" if full else "incremental")
        out[name] = _children(home)
    return out["incr"], out["full"]


@pytest.fixture(scope="module")
def month1(tmp_path_factory, synth_month1) -> Path:
    home = tmp_path_factory.mktemp("pass") / "data"
    linked_home(home, synth_month1, EXTRACT_DATE, children=0)
    return home


def _state(month1: Path, synth: Path, tmp_path: Path, sources: set[str]) -> Path:
    """Month 1 with this module's records of ``sources`` linked in (an incremental run)."""
    home = tmp_path / "before"
    shutil.copytree(month1, home)
    _link(home, _extracts(synth, tmp_path / "x-before", sources), EXTRACT_DATE + timedelta(days=10))
    return home


@pytest.fixture
def exact_month(monkeypatch):
    """A month that decides as a relink would (``link_month_search``); off, a month counts and
    searches only among what its delta reached, and these cases may differ until a full run."""
    monkeypatch.setenv("LINKAGE_LINK_MONTH_SEARCH", "true")
    get_settings.cache_clear()
    yield
    monkeypatch.delenv("LINKAGE_LINK_MONTH_SEARCH")
    get_settings.cache_clear()


@pytest.fixture(scope="module")
def school_and_gp(month1, synth_month1, tmp_path_factory) -> Path:
    """Month 1 with this module's school and GP records linked in (``exact_month``), read-only:
    the state two tests start from (each month is linked on copies of it)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LINKAGE_LINK_MONTH_SEARCH", "true")
        get_settings.cache_clear()
        try:
            return _state(month1, synth_month1, tmp_path_factory.mktemp("school-gp"), {"education", "health"})
        finally:
            get_settings.cache_clear()


def test_a_new_namesake_in_a_child_not_reached_splits_the_pair_as_a_relink_does(school_and_gp, synth_month1,
                                                                                  tmp_path, exact_month):
    # Only the month's search for candidates in children it did not reach finds this namesake.
    before = school_and_gp
    _, ids = _children(before)
    # One child in two, no one else in view: linked by ``unique`` (not by the pairwise model).
    assert ids[KEYS["education"]] == ids[KEYS["health"]]
    # A month later social care holds a third child of that forename and birthday.
    (incr, incr_ids), (full, full_ids) = _month(
        before, _extracts(synth_month1, tmp_path / "x-after", set(FILES)), tmp_path)
    assert full_ids[KEYS["education"]] != full_ids[KEYS["health"]]     # two candidates: a reviewer's choice
    assert incr == full


def test_a_namesake_no_longer_one_joins_the_pair_as_a_relink_does(month1, synth_month1, tmp_path, exact_month):
    before = _state(month1, synth_month1, tmp_path, set(FILES))
    _, ids = _children(before)
    assert len({ids[k] for k in KEYS.values()}) == 3
    # A month later social care corrects its child's date of birth: no longer a namesake.
    (incr, _), (full, full_ids) = _month(before, _extracts(synth_month1, tmp_path / "x-after", set(FILES),
                                                           social_care={"PersonBirthDate": "30/07/2011"}), tmp_path)
    assert full_ids[KEYS["education"]] == full_ids[KEYS["health"]]
    assert incr == full



def test_namesakes_born_that_year_decide_the_pair_again_as_a_relink_does(school_and_gp, synth_month1, tmp_path,
                                                                          exact_month):
    before = school_and_gp
    _, ids = _children(before)
    assert ids[KEYS["education"]] == ids[KEYS["health"]]
    # Two more children of the forename born that year (on days no slip reaches) join the GP: no
    # candidate of either record, but now a stranger on that birthday is too likely to link unseen.
    extracts = _extracts(synth_month1, tmp_path / "x-after", {"education", "health"})
    with open(extracts / "health.csv", newline="", encoding="utf-8") as fh:
        header = csv.DictReader(fh).fieldnames
    with open(extracts / "health.csv", "a", newline="", encoding="utf-8") as fh:
        for n, born in ((2, "2015-09-20"), (3, "2015-11-26")):
            row = {**GP, "id": f"P99999990{n}", "name.family": f"Quill{n}", "birthDate": born,
                   "address.postalCode": f"B{n} 3CD"}
            csv.DictWriter(fh, header).writerow({c: row.get(c, "") for c in header})
    (incr, _), (full, full_ids) = _month(before, extracts, tmp_path)
    assert full_ids[KEYS["education"]] != full_ids[KEYS["health"]]
    assert incr == full

_FORENAMES = ("harper", "harpur", "ellie", "eleanor", "rocca", "oliver", "olly", "zara")
_SURNAMES = ("rocca", "harper", "duhig", "moss")
_DATES = ("2015-04-07", "2015-04-08", "2015-07-04", "2015-04-17", "2016-04-07")
_record = st.tuples(st.sampled_from(("education", "health", "social_care")), st.sampled_from(_FORENAMES),
                    st.sampled_from(_SURNAMES), st.sampled_from(_DATES), st.sampled_from(("F", "M", "U")),
                    st.sampled_from(("W5 1PW", "GL7 1AB")), st.one_of(st.none(), st.sampled_from(("N1", "N2"))),
                    st.integers(0, 5))


@settings(max_examples=40, deadline=None)
@given(st.lists(_record, min_size=2, max_size=14), st.sets(st.integers(0, 13), min_size=1, max_size=5))
def test_a_focus_meets_exactly_the_candidates_a_full_pass_finds_with_it(records, focus):
    # ``candidates_sql(focus=...)`` (a month's look beyond its reach) against the whole pass: the
    # same candidate rows, those with a record of the focus, on populations dense in namesakes,
    # slipped birthdays, nicknames and swapped names.
    recs = [rec(f"{s}:{i}", f, sur, dob=d, sex=sex, postcode=pc, nhs=nhs)
            for i, (s, f, sur, d, sex, pc, nhs, _) in enumerate(records)]
    children = {r["record_key"]: f"C{kid}" for r, (*_, kid) in zip(recs, records)}
    focused = {recs[i]["record_key"] for i in focus if i < len(recs)}
    con = example_connection()     # a few rows: no file, no second thread
    input_tables(con, recs)
    con.register("kids_df", pd.DataFrame({"unique_id": list(children), "cluster_id": list(children.values()),
                                          "upn_root": [None] * len(children)}).astype("string"))
    con.execute("CREATE TABLE kids AS SELECT * FROM kids_df")
    con.register("focus_df", pd.DataFrame({"unique_id": sorted(focused)}, dtype="string"))
    con.execute("CREATE TABLE focus AS SELECT * FROM focus_df")
    whole = con.execute(candidates_sql("link_input", "kids", "cotwins")).df()
    near = con.execute(candidates_sql("link_input", "kids", "cotwins", focus="focus")).df()
    expect = {tuple(r) for r in whole.astype(str).itertuples(index=False) if r[0] in focused or r[1] in focused}
    assert {tuple(r) for r in near.astype(str).itertuples(index=False)} == expect
