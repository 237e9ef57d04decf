"""Issue 11: a new surname and a move with a common forename, queued when one record's home is a
recent move that no other child shares (``link/movedin.py``).

Small constructed populations in a real DuckDB file, through the real features SQL and the second
pass's SQL, as in ``test_queue_changed``. Thirty other Harpers born in 2015 known only to social
care (two to a home, their addresses dated years back) make the pair a likely coincidence on its
own; each test asks what the new home adds.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from linkage.link.evidence import ClusterPass
from linkage.link.movedin import MOVEDIN_REASON, movedin_pairs
from test_cluster_evidence import rec
from test_queue_changed import through_changed
from test_queue_complement import _con

EXTRACT = "2026-11-01"


def _pass(tmp_path: Path, since: str | None = "2026-03-01", old_since: str | None = None, dob: str = "2015-04-07",
          neighbour: bool = False, namesakes_since: str = "2019-05-01", namesakes_share: bool = True,
          apart=()) -> ClusterPass:
    """The second pass over a school-only Harper Rocca at the old home (address dated ``old_since``),
    a social-care-only Harper Duhig at the new one (dated ``since``; ``neighbour``: another child
    lives there too), born on ``dob``, and thirty social-care-only namesakes dated
    ``namesakes_since``, two to a home when ``namesakes_share``; every rule before ``movedin`` runs first."""
    pair = [rec("education:1", "harper", "rocca", postcode="W5 1PW", upn="A1"),
            rec("social_care:1", "harper", "duhig", postcode="GL7 1AB", address="9 new lane", dob=dob)]
    dated = {"education:1": old_since, "social_care:1": since}
    others, children = [], {"education:1": "C1", "social_care:1": "C2"}
    for i in range(30):
        key = f"social_care:x{i}"
        others.append(rec(key, "harper", f"other{i}", dob=f"2015-{1 + i % 11 + (i % 11 >= 3):02d}-{20 + i % 8}",
                          postcode=f"N{i // 2 if namesakes_share else i} 1AA"))
        children[key], dated[key] = f"X{i}", namesakes_since
    if neighbour:
        others.append(rec("health:n1", "oscar", "blake", dob="2012-02-02", postcode="GL7 1AB", nhs="N9"))
        children["health:n1"] = "N1"
    con = _con(tmp_path, [*pair, *others], children)
    con.register("dated_df", pd.DataFrame(
        [(k, pd.Timestamp(v).date(), pd.Timestamp(EXTRACT).date()) for k, v in dated.items() if v],
        columns=["unique_id", "address_from", "extract_date"]))
    con.execute("CREATE TABLE dated (unique_id VARCHAR, address_from DATE, extract_date DATE)")
    con.execute("INSERT INTO dated SELECT * FROM dated_df")
    rows, found = through_changed(con, children, apart)
    movedin_pairs(con, rows, "link_input", "kids", found, children, list(apart), dated="dated")
    con.close()
    return found


def _queued(found: ClusterPass) -> list[tuple[str, str]]:
    return [(a, b) for a, b, _ in found.queue]


def test_a_recent_move_to_a_home_no_other_child_holds_queues_the_pair(tmp_path):
    found = _pass(tmp_path)
    assert _queued(found) == [("education:1", "social_care:1")]
    assert not found.links
    assert found.queue[0][2] == MOVEDIN_REASON.format(agree="same forename and birthday", evidence="nothing else agrees")


def test_no_dated_home_is_no_evidence(tmp_path):
    assert _queued(_pass(tmp_path, since=None)) == []


def test_a_move_older_than_two_years_is_not_read(tmp_path):
    assert _queued(_pass(tmp_path, since="2024-06-01")) == []


def test_another_child_at_the_new_home_is_not_read(tmp_path):
    assert _queued(_pass(tmp_path, neighbour=True)) == []


def test_two_homes_dated_the_same_day_are_not_read(tmp_path):
    # Neither home came after the other: no move between them is on record.
    assert _queued(_pass(tmp_path, old_since="2026-03-01")) == []


def test_a_population_where_every_home_is_recent_and_alone_lends_it_no_weight(tmp_path):
    # Every namesake moved in this year, each to a home of its own: the evidence is everyone's.
    assert _queued(_pass(tmp_path, namesakes_since="2026-02-01", namesakes_share=False)) == []


def test_a_birthday_one_slip_apart_is_not_read(tmp_path):
    assert _queued(_pass(tmp_path, dob="2015-04-17")) == []


def test_a_reviewers_not_a_match_keeps_the_pair_out(tmp_path):
    assert _queued(_pass(tmp_path, apart=[("education:1", "social_care:1")])) == []
