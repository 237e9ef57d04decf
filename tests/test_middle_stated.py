"""A second given name that a register stating every middle name leaves out: twins Leon and Leo.

Leon at school (no middle name) and "Leo Jack" only at the GP, one birthday and home: no co-twin is
in view and Leo is Leon's nickname, so only the middle name says two boys (``link.middles``).
"""

from __future__ import annotations

from test_twin_evidence import guarded, rec

from linkage.link.middles import MIDDLE_STATED_FEWEST


def _others(stated: int, silent: int = 0) -> list[dict]:
    """Children at school and at the GP under one forename, surname and birthday, the GP giving a
    second given name: ``stated`` of them with the school giving it as a middle name, ``silent``
    without. Each in a family of its own, far from the Ahmeds."""
    out = []
    for i in range(stated + silent):
        dob, surname, pc = f"2012-01-{1 + i % 28:02d}", f"family{i}", f"LS{i} 1AA"
        out.append(rec(f"education:o{i}", "amelia", upn=f"U{i}", surname=surname, dob=dob, postcode=pc,
                       middle="rose" if i < stated else None))
        out.append(rec(f"health:o{i}", "amelia rose", nhs=f"N{i}", surname=surname, dob=dob, postcode=pc))
    return out


AHMEDS = [rec("education:leon", "leon", upn="M316", surname="ahmed", dob="2010-05-02"),
          rec("health:leo", "leo jack", nhs="8471", surname="ahmed", dob="2010-05-02")]
PAIR = frozenset(("education:leon", "health:leo"))


def test_a_second_given_name_a_stating_school_leaves_out_guards_a_nickname_pair():
    assert guarded(_others(MIDDLE_STATED_FEWEST) + AHMEDS)[PAIR]


def test_a_school_that_leaves_middle_names_out_now_and_then_is_not_read_so():
    # One in ten of its pupils' middle names missing: its silence says nothing (Leon may be Leo Jack).
    assert not guarded(_others(MIDDLE_STATED_FEWEST, silent=3) + AHMEDS)[PAIR]


def test_too_few_records_to_say_whether_the_school_states_middle_names():
    assert not guarded(_others(MIDDLE_STATED_FEWEST - 1) + AHMEDS)[PAIR]


def test_a_compound_given_name_split_in_two_is_one_name():
    # The school's Xiaoling is the GP's "Hsiao Ling" and its Abdelrahman the GP's "Abdul Rahman":
    # the second word is part of the forename, not a middle name the school left out.
    people = [rec("education:x", "xiaoling", upn="X1", surname="chen", dob="2014-03-03"),
              rec("health:x", "hsiao ling", nhs="X2", surname="chen", dob="2014-03-03"),
              rec("education:a", "abdelrahman", upn="A1", surname="hassan", dob="2013-07-07"),
              rec("health:a", "abdul rahman", nhs="A2", surname="hassan", dob="2013-07-07")]
    g = guarded(_others(MIDDLE_STATED_FEWEST) + people)
    assert not g[frozenset(("education:x", "health:x"))] and not g[frozenset(("education:a", "health:a"))]


def test_a_gp_that_leaves_middle_names_out_is_not_read_so():
    # Leon Jack at school, "Leo" at the GP (which gives a second given name in seven records of
    # ten): one boy, his nickname, and a middle name the GP did not carry.
    others = _others(MIDDLE_STATED_FEWEST)
    for i, r in enumerate(others):
        if r["source"] == "health" and i % 6 == 1:
            r["forename_std"] = "amelia"
    people = [rec("education:leon", "leon", upn="M316", surname="ahmed", dob="2010-05-02", middle="jack"),
              rec("health:leo", "leo", nhs="8471", surname="ahmed", dob="2010-05-02")]
    assert not guarded(others + people)[PAIR]


def test_leon_and_leo_jack_are_two_children_in_a_month_and_in_a_relink(synth_month1, tmp_path):
    """Through real runs: month 1 linked, then a month bringing the school's Leon and the GP's "Leo
    Jack" (one birthday, one home, no other record of either). The school of ``linkage synth``
    writes every middle name, so Leon has none: two boys, the pair left to a reviewer, in the
    month as in a full relink."""
    import shutil

    from apiserver import linked_home
    from conftest import EXTRACT_DATE
    from test_incremental_guard import _link

    from linkage.link.guards import GUARD_REASON
    from linkage.store import Store

    home1 = tmp_path / "m1"
    linked_home(home1, synth_month1, EXTRACT_DATE, children=0)
    month = tmp_path / "x"
    month.mkdir()
    for f in synth_month1.iterdir():
        if f.is_file():
            shutil.copy(f, month / f.name)
    _append(month / "education.csv", {"AdNo": "990009/99990001", "UPN": "Q99999999901", "Forename": "Leon",
                                      "Surname": "Ahmed", "DOB": "02/05/2010", "Sex": "M", "Postcode": "ME0P 1UL",
                                      "AddressLine1": "6 Fletcher Harbors", "SchoolURN": "990009"})
    _append(month / "health.csv", {"id": "P999999901", "name.given": "Leo Jack", "name.family": "Ahmed",
                                   "birthDate": "2010-05-02", "gender": "male", "address.postalCode": "ME0P 1UL",
                                   "address.line": "6 Fletcher Harbors"})
    pair = ("education:990009/99990001", "health:P999999901")
    seen = {}
    for name, full in (("incr", False), ("full", True)):
        home = tmp_path / name
        shutil.copytree(home1, home)
        _link(home, month, 10, full=full)
        store = Store(home, memory_limit="2GB")
        try:
            ids = dict(store.rows("SELECT record_key, child_id FROM store.identity WHERE record_key IN (?, ?)",
                                  list(pair)))
            queue = store.rows("SELECT reason FROM store.review_queue WHERE status = 'open' "
                               "AND record_key_l = ? AND record_key_r = ?", list(pair))
        finally:
            store.close()
        assert ids[pair[0]] != ids[pair[1]], name
        seen[name] = [r for (r,) in queue]
    assert seen["incr"] == seen["full"] == [GUARD_REASON]


def _append(path, row: dict) -> None:
    import csv

    with open(path, newline="", encoding="utf-8") as fh:
        header = csv.DictReader(fh).fieldnames
    with open(path, "a", newline="", encoding="utf-8") as fh:
        csv.DictWriter(fh, header).writerow({c: row.get(c, "") for c in header})


def test_initials_are_no_second_given_name():
    # The GP's "L.R." Mathis is the school's Leroy (1M realistic): initials, not Leo and a middle name.
    people = [rec("education:leroy", "leroy", upn="R211", surname="mathis", dob="2016-11-24"),
              rec("health:lr", "l r", nhs="4408", surname="mathis", dob="2016-11-24")]
    assert not guarded(_others(MIDDLE_STATED_FEWEST) + people)[frozenset(("education:leroy", "health:lr"))]
