"""Two records of one register that holds each child once are two children, one without an
identifier: twins Vidhi and Vidhi Walker on one GP list, neither with an NHS number (``link.heldonce``)."""

from __future__ import annotations

from test_twin_evidence import guarded, rec

from linkage.link.heldonce import HELD_TWICE_FEWEST


def _pairs(n: int, source: str, shared: int = 0) -> list[dict]:
    """``n`` pairs of records of ``source`` under one forename, surname and birthday, each pair with
    an identifier each: ``shared`` of them one child twice (one identifier), the rest two children."""
    out = []
    for i in range(n):
        dob, surname, pc = f"2011-02-{1 + i % 28:02d}", f"family{i}", f"LS{i} 1AA"
        for side in "ab":
            ident = f"{i}" if i < shared else f"{i}{side}"
            ids = {"upn": f"U{ident}"} if source == "education" else {"nhs": f"N{ident}"}
            out.append(rec(f"{source}:{i}{side}", "amy", surname=surname, dob=dob, postcode=pc, **ids))
    return out


WALKERS = [rec("health:v1", "vidhi", surname="walker", dob="2009-03-13"),
           rec("health:v2", "vidhi", surname="walker", dob="2009-03-13")]
PAIR = frozenset(("health:v1", "health:v2"))


def test_two_unnumbered_records_of_a_list_that_holds_each_child_once_are_guarded():
    assert guarded(_pairs(HELD_TWICE_FEWEST, "health") + WALKERS)[PAIR]


def test_a_list_that_holds_a_child_twice_now_and_then_is_not_read_so():
    # One pair in ten is one child twice (one NHS number): two records there may be one child.
    assert not guarded(_pairs(HELD_TWICE_FEWEST, "health", shared=2) + WALKERS)[PAIR]


def test_too_few_pairs_to_say_whether_a_list_holds_a_child_once():
    assert not guarded(_pairs(HELD_TWICE_FEWEST - 1, "health") + WALKERS)[PAIR]


def test_a_school_census_holding_movers_twice_keeps_a_pupil_without_a_upn_linkable():
    # Pupils on two schools' rolls under one UPN: the census holds a child twice.
    school = [rec("education:p1", "vidhi", surname="walker", dob="2009-03-13", upn="U99"),
              rec("education:p2", "vidhi", surname="walker", dob="2009-03-13")]
    g = guarded(_pairs(HELD_TWICE_FEWEST, "education", shared=HELD_TWICE_FEWEST) + school)
    assert not g[frozenset(("education:p1", "education:p2"))]


def test_records_of_two_lists_are_not_read_as_one_list():
    # The GP's Vidhi and social care's, neither numbered: not one register, nothing said.
    people = [rec("health:v1", "vidhi", surname="walker", dob="2009-03-13"),
              rec("social_care:v2", "vidhi", surname="walker", dob="2009-03-13")]
    assert not guarded(_pairs(HELD_TWICE_FEWEST, "health") + people)[frozenset(("health:v1", "social_care:v2"))]
