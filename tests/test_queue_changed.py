"""Issue 11: a new surname and a move with a common forename, queued when a record holds a former
surname (``link/changed.py``).

Small constructed populations in a real DuckDB file, through the real features SQL and the second
pass's SQL, as in ``test_queue_household``. Thirty other Harpers born in 2015 known only to social
care make the pair a likely coincidence on its own; each test asks what a former surname on record
adds.
"""

from __future__ import annotations

from pathlib import Path

from linkage.link.changed import CHANGED_REASON, changed_pairs
from linkage.link.complement import partner_cohorts
from linkage.link.evidence import ClusterPass, candidates_sql, decide
from linkage.link.household import household_pairs
from linkage.link.reach import reach_pairs
from test_cluster_evidence import rec
from test_queue_complement import _con


def _pass(tmp_path: Path, former: str | None, namesakes_former: str | None = None, apart=(),
          dob: str = "2015-04-07", crowd: int = 0, forename: str = "harper", name: str = "harper") -> ClusterPass:
    """The second pass over a school-only Harper (``name``) Rocca at the old home, a social-care-only
    Harper (``forename``) Duhig at the new one, born on ``dob`` and holding ``former`` as her former
    surname, thirty social-care-only namesakes of ``name`` (each holding ``namesakes_former``), and
    ``crowd`` other social-care children with no former surname; every rule before ``changed`` runs first."""
    pair = [rec("education:1", name, "rocca", postcode="W5 1PW", upn="A1"),
            rec("social_care:1", forename, "duhig", former=former, postcode="GL7 1AB", address="9 new lane",
                dob=dob)]
    others, children = [], {"education:1": "C1", "social_care:1": "C2"}
    for i in range(30):
        others.append(rec(f"social_care:x{i}", name, f"other{i}", former=namesakes_former,
                          dob=f"2015-{1 + i % 11 + (i % 11 >= 3):02d}-{20 + i % 8}", postcode=f"N{i} 1AA"))
        children[f"social_care:x{i}"] = f"X{i}"
    for i in range(crowd):
        others.append(rec(f"social_care:y{i}", f"name{i}", f"crowd{i}", dob="2011-06-01", postcode=f"Y{i} 1AA"))
        children[f"social_care:y{i}"] = f"Y{i}"
    con = _con(tmp_path, [*pair, *others], children)
    _, found = through_changed(con, children, apart)
    con.close()
    return found


def through_changed(con, children: dict[str, str], apart=()) -> tuple:
    """The second pass's candidate rows over ``con``'s ``link_input`` and ``kids``, and what every
    rule up to ``changed`` made of them (``ClusterPass``)."""
    rows = con.execute(candidates_sql("link_input", "kids", "cotwins")).df()
    rows = partner_cohorts(con, rows, "link_input", "kids")
    found = decide(rows.to_dict("records"), list(apart), children)
    household_pairs(con, rows, "link_input", "kids", found, children, list(apart))
    reach_pairs(con, "link_input", "kids", "cotwins", found, children, list(apart))
    changed_pairs(con, rows, "link_input", "kids", found, children, list(apart))
    return rows, found


def _queued(found: ClusterPass) -> list[tuple[str, str]]:
    return [(a, b) for a, b, _ in found.queue]


def test_a_common_forename_with_no_former_surname_is_not_queued(tmp_path):
    assert _queued(_pass(tmp_path, None)) == []


def test_a_former_surname_on_record_queues_the_pair_even_when_it_repeats_the_current_one(tmp_path):
    # The case system wrote the current surname as the previous one: a change is on record all the same.
    found = _pass(tmp_path, "duhig")
    assert _queued(found) == [("education:1", "social_care:1")]
    assert not found.links
    assert found.queue[0][2] == CHANGED_REASON.format(agree="same forename and birthday", evidence="nothing else agrees")


def test_a_former_surname_that_matches_neither_side_still_queues(tmp_path):
    assert _queued(_pass(tmp_path, "okafor")) == [("education:1", "social_care:1")]


def test_a_source_recording_a_former_surname_for_every_child_lends_it_no_weight(tmp_path):
    assert _queued(_pass(tmp_path, "duhig", namesakes_former="smith")) == []


def test_a_reviewers_not_a_match_keeps_the_pair_out(tmp_path):
    assert _queued(_pass(tmp_path, "duhig", apart=[("education:1", "social_care:1")])) == []


def test_a_birthday_one_slip_apart_is_not_read(tmp_path):
    # The record explains the new surname, not a typed birthday as well: even where few records of
    # the source hold a former surname (one in 131), a slip apart is left out; on one day it is not.
    (tmp_path / "slip").mkdir()
    (tmp_path / "day").mkdir()
    assert _queued(_pass(tmp_path / "slip", "duhig", dob="2015-04-17", crowd=100)) == []
    assert _queued(_pass(tmp_path / "day", "duhig", crowd=100)) == [("education:1", "social_care:1")]


def test_two_names_sharing_a_sound_code_are_not_read(tmp_path):
    # Mia and Maya share a sound code: a second difference the former surname does not explain.
    # A typed Harper (Harpre) is one name.
    (tmp_path / "other").mkdir()
    (tmp_path / "typo").mkdir()
    assert _queued(_pass(tmp_path / "other", "duhig", forename="maya", name="mia")) == []
    assert _queued(_pass(tmp_path / "typo", "duhig", forename="harpre")) == [("education:1", "social_care:1")]
