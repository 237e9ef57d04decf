"""Issue 11: a new surname and a move with a common forename, queued on the family's move
(``link/household.py``).

Small constructed populations in a real DuckDB file, through the real features SQL and the
second pass's SQL, as in ``test_queue_complement``. Thirty other Harpers born in 2015 known only
to GPs make the pair a likely coincidence on its own (``test_namesakes_missing_the_same_source_
still_make_a_coincidence``); each test asks what the family adds.
"""

from __future__ import annotations

from pathlib import Path

from linkage.link.complement import partner_cohorts
from linkage.link.evidence import ClusterPass, candidates_sql, decide
from linkage.link.household import HOUSEHOLD_MOST, household_pairs
from test_cluster_evidence import rec
from test_queue_complement import _con, _namesake_children

OLD, NEW = "W5 1PW", "GL7 1AB"


def _pass(tmp_path: Path, family: list[dict], family_children: dict[str, str], apart=()) -> ClusterPass:
    """The second pass over a school-only Harper (old surname, old home) and a GP-only Harper
    (new surname, new home), thirty GP-only namesakes, and ``family``."""
    pair = [rec("education:1", "harper", "rocca", postcode=OLD, upn="A1"),
            rec("health:1", "harper", "duhig", postcode=NEW, address="9 old lane", nhs="N1")]
    others, children = _namesake_children(30, ("health",))
    children = {"education:1": "C1", "health:1": "C2", **children, **family_children}
    con = _con(tmp_path, [*pair, *others, *family], children)
    rows = con.execute(candidates_sql("link_input", "kids", "cotwins")).df()
    rows = partner_cohorts(con, rows, "link_input", "kids")
    found = decide(rows.to_dict("records"), list(apart), children)
    household_pairs(con, rows, "link_input", "kids", found, children, list(apart))
    con.close()
    return found


def _queued(found: ClusterPass) -> list[tuple[str, str]]:
    return [(a, b) for a, b, _ in found.queue]


def _brother(old: str = OLD, new: str = NEW) -> tuple[list[dict], dict[str, str]]:
    """Harper's brother, one child across the move: the school has him under the old surname at
    the old home, the GP under the new surname at the new home (one NHS number links them)."""
    return ([rec("education:9", "jack", "rocca", postcode=old, upn="B9", nhs="N9", dob="2012-02-03", sex="M"),
             rec("health:9", "jack", "duhig", postcode=new, nhs="N9", dob="2012-02-03", sex="M")],
            {"education:9": "C9", "health:9": "C9"})


def test_a_common_forename_with_nothing_else_is_still_not_queued(tmp_path):
    assert _queued(_pass(tmp_path, [], {})) == []


def test_a_brother_holding_both_homes_queues_the_pair(tmp_path):
    found = _pass(tmp_path, *_brother())
    assert _queued(found) == [("education:1", "health:1")]
    assert not found.links
    assert "another child of the family holds both homes" in found.queue[0][2]


def test_a_brother_holding_only_the_old_home_is_no_evidence(tmp_path):
    assert _queued(_pass(tmp_path, *_brother(new="N1 9ZZ"))) == []


def test_a_brother_split_by_the_same_move_queues_both(tmp_path):
    # Neither child is whole: Harper and Jack are each two children, both split by the one move.
    family = [rec("education:9", "jack", "rocca", postcode=OLD, upn="B9", dob="2012-02-03", sex="M"),
              rec("health:9", "jack", "duhig", postcode=NEW, address="9 old lane", nhs="N9", dob="2012-02-03",
                  sex="M"),
              *[rec(f"health:j{i}", "jack", f"other{i}", dob=f"2012-{1 + i % 12:02d}-{10 + i % 8}", sex="M",
                    postcode=f"J{i} 1AA", nhs=f"J{i}") for i in range(30)]]
    children = {"education:9": "C9", "health:9": "C10", **{f"health:j{i}": f"J{i}" for i in range(30)}}
    found = _pass(tmp_path, family, children)
    assert sorted(_queued(found)) == [("education:1", "health:1"), ("education:9", "health:9")]
    assert all("moved between the same two homes" in why for *_, why in found.queue)


def test_a_home_many_children_share_is_not_a_household(tmp_path):
    # A children's home: the brother's two addresses, one of them shared by many children.
    crowd = [rec(f"health:c{i}", f"child{i}", f"crowd{i}", postcode=NEW, nhs=f"C{i}", dob="2009-01-01")
             for i in range(HOUSEHOLD_MOST)]
    family, children = _brother()
    found = _pass(tmp_path, [*family, *crowd], {**children, **{f"health:c{i}": f"K{i}" for i in range(len(crowd))}})
    assert _queued(found) == []


def test_a_reviewers_not_a_match_keeps_the_household_pair_out(tmp_path):
    assert _queued(_pass(tmp_path, *_brother(), apart=[("education:1", "health:1")])) == []
