"""Two school records under two UPNs, one pupil (``secondid.second_upn_sql``, the clustering's soft
UPN pairs): a co-twin of another name altogether is no reason to read them as two children, while
a co-twin spelt like them is (a slip may have written the twin under this name). At 250k realistic
(seed 42, session 24) 51 more pairs were read as one pupil, every one one pupil.

Through the real features SQL (``test_cluster_evidence.input_tables``).
"""

from __future__ import annotations

import duckdb
import pytest

from linkage.link.secondid import second_upn_sql
from test_cluster_evidence import input_tables, rec


def _soft(records: list[dict]) -> set[tuple[str, str]]:
    con = duckdb.connect()
    input_tables(con, records)
    return {tuple(r) for r in con.execute(second_upn_sql("link_input", "cotwins")).fetchall()}


def _ashleigh(twin: str, twin_sex: str = "M", twin_middle: str | None = None) -> list[dict]:
    return [rec("education:1", "ashleigh", "dowd", upn="X316447015889"),
            rec("education:2", "ashleigh", "dowd", upn="W316529415892"),
            rec("education:3", twin, "dowd", upn="K316401015371", sex=twin_sex, middle=twin_middle)]


def test_a_second_upn_beside_a_twin_of_another_name_is_one_pupil():
    # Ashleigh Dowd on the roll twice (a second UPN), her twin brother Harry beside her.
    assert _soft(_ashleigh("harry")) == {("education:1", "education:2")}


@pytest.mark.parametrize("twin", ["ashlee", "ashley", "ashleighh"])
def test_a_second_upn_beside_a_twin_spelt_alike_is_not(twin):
    # Ashleigh and Ashlee (or Ashley): either school record may be the twin's, written with a slip.
    assert _soft(_ashleigh(twin, twin_sex="F")) == set()


def test_a_second_upn_beside_a_namesake_twin_of_another_middle_name_is_not():
    # Twins given one forename, told apart by the middle name: the two Ashleighs may be the two twins.
    assert _soft(_ashleigh("ashleigh", twin_sex="F", twin_middle="rose")) == set()
