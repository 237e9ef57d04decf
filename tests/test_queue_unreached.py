"""Issue 11 item 6: a child split by a new surname and a move whose forename is also typed with a
slip, or written in another form, is a candidate of the second pass (``link/unreached.py``).

Small constructed populations in a real DuckDB file, through the real features SQL and the
second pass's SQL, as in ``test_queue_household``. Before ``unreached``, no key of the pass met
these records (the slip changes the sound code and consonants; a nickname has its own canonical
form), so nothing was queued.
"""

from __future__ import annotations

from pathlib import Path

from linkage.link.complement import family_pairs, partner_cohorts
from linkage.link.evidence import ClusterPass, candidates_sql, decide
from test_cluster_evidence import rec
from test_queue_complement import _con

OLD, NEW = "W5 1PW", "GL7 1AB"


def _rows(tmp_path: Path, records: list[dict], children: dict[str, str]):
    con = _con(tmp_path, records, children)
    try:
        rows = con.execute(candidates_sql("link_input", "kids", "cotwins")).df()
        return partner_cohorts(con, rows, "link_input", "kids")
    finally:
        con.close()


def _split(first: str, second: str, **kw) -> tuple[list[dict], dict[str, str]]:
    """One child on a school roll under ``first`` (old surname, old home) and on a GP list under
    ``second`` (new surname, new home)."""
    return ([rec("education:1", first, "rocca", postcode=OLD, upn="A1", **kw),
             rec("health:1", second, "duhig", postcode=NEW, address="9 old lane", nhs="N1", **kw)],
            {"education:1": "C1", "health:1": "C2"})


def _queued(tmp_path: Path, records: list[dict], children: dict[str, str]) -> list[tuple[str, str]]:
    rows = _rows(tmp_path, records, children)
    return [(a, b) for a, b, _ in decide(rows.to_dict("records"), [], children).queue]


def test_a_forename_typed_with_a_slip_and_a_move_is_queued(tmp_path):
    # Jaxob shares no sound code (JKP / JKSP), consonants or canonical form with Jacob.
    assert _queued(tmp_path, *_split("jacob", "jaxob")) == [("education:1", "health:1")]


def test_a_slip_with_the_middle_name_agreeing_is_queued_with_that_evidence(tmp_path):
    records, children = _split("brandusa", "beandusa", middle="emily")
    rows = _rows(tmp_path, records, children)
    found = decide(rows.to_dict("records"), [], children)
    assert [(a, b) for a, b, _ in found.queue] == [("education:1", "health:1")]
    assert "middle name agrees" in found.queue[0][2]


def test_a_slip_on_another_birthday_is_not_a_candidate(tmp_path):
    # A slip in the forename and another date of birth: two errors, no key of the pass.
    records, children = _split("jacob", "jaxob")
    records[1]["date_of_birth"] = records[1]["date_of_birth"].replace(day=9)
    assert _rows(tmp_path, records, children).empty


def test_two_common_names_one_letter_apart_are_two_children(tmp_path):
    # Harley and Hadley are each held by several children: two names, not a slip.
    records, children = _split("harley", "hadley")
    for i in range(3):
        for name in ("harley", "hadley"):
            key = f"social_care:{name}{i}"
            records.append(rec(key, name, f"other{i}", dob=f"2011-0{i + 1}-1{i}", postcode=f"N{i} 1AA"))
            children[key] = f"K{name}{i}"
    rows = _rows(tmp_path, records, children)
    assert not any({a, b} == {"education:1", "health:1"} for a, b in zip(rows["l"], rows["r"]))


def test_another_form_of_the_forename_and_a_move_is_queued(tmp_path):
    # Sally and Sarah share a nickname key, but neither canonical form nor sound code.
    assert _queued(tmp_path, *_split("sally", "sarah")) == [("education:1", "health:1")]


def test_a_slip_between_twins_is_still_kept_apart(tmp_path):
    # Two records of one source are never candidates: a school holds a child once.
    records = [rec("education:1", "jacob", "rocca", postcode=OLD, upn="A1"),
               rec("education:2", "jaxob", "duhig", postcode=NEW, upn="A2")]
    assert _rows(tmp_path, records, {"education:1": "C1", "education:2": "C2"}).empty


def test_two_slips_in_a_longer_forename_are_queued(tmp_path):
    # Reuben / Reyen: two typed characters apart (one record typed twice, or each once).
    assert _queued(tmp_path, *_split("reuben", "reyen")) == [("education:1", "health:1")]


def test_two_slips_in_a_short_forename_are_another_name(tmp_path):
    assert _queued(tmp_path, *_split("reva", "rwa")) == []


def test_a_slip_that_recurs_in_a_large_population_is_still_a_slip(tmp_path):
    # Three Jaxobs (a common keyboard slip of Jacob) among sixty Jacobs: held by more than RARE
    # records, but twenty times fewer than Jacob.
    records, children = _split("jacob", "jaxob", sex="M")
    for i in range(63):
        name = "jaxob" if i < 2 else "jacob"
        key = f"social_care:{i}"
        records.append(rec(key, name, f"other{i}", dob=f"20{10 + i % 9}-0{1 + i % 9}-1{i % 9}", sex="M",
                           postcode=f"N{i} 1AA"))
        children[key] = f"K{i}"
    rows = _rows(tmp_path, records, children)
    assert any({a, b} == {"education:1", "health:1"} for a, b in zip(rows["l"], rows["r"]))


def _home(tmp_path: Path, surname: str, postcode: str = "GY4 9TB") -> list[tuple[str, str, str]]:
    """A school record of Isabella Palmer, and a GP record of an Isabella at one home, born five
    months apart (a date of birth recorded wrong), no source holding both."""
    records = [rec("education:1", "isabella", "palmer", dob="2012-10-15", postcode="GY4 9TB", upn="A1"),
               rec("health:1", "isabella", surname, dob="2012-05-10", postcode=postcode, nhs="N1")]
    children = {"education:1": "C1", "health:1": "C2"}
    con = _con(tmp_path, records, children)
    found = ClusterPass()
    family_pairs(con, "link_input", "kids", found, children, [])
    con.close()
    return found.queue


def test_a_birthday_recorded_wrong_at_one_home_in_one_family_is_queued(tmp_path):
    queued = _home(tmp_path, "plmer")
    assert [(a, b) for a, b, _ in queued] == [("education:1", "health:1")]
    assert "birthdays 158 days apart" in queued[0][2]


def test_a_namesake_at_one_home_in_another_family_is_not_queued(tmp_path):
    assert _home(tmp_path, "okafor") == []


def test_a_namesake_in_one_family_at_another_home_is_not_queued(tmp_path):
    assert _home(tmp_path, "palmer", postcode="N1 9ZZ") == []


def _with_past(tmp_path: Path, records, children, past: list[tuple[str, str]]):
    con = _con(tmp_path, records, children)
    try:
        con.execute("CREATE TABLE past (unique_id VARCHAR, postcode VARCHAR)")
        if past:
            con.executemany("INSERT INTO past VALUES (?, ?)", past)
        rows = con.execute(candidates_sql("link_input", "kids", "cotwins", "past")).df()
        return partner_cohorts(con, rows, "link_input", "kids")
    finally:
        con.close()


def test_an_earlier_address_a_source_holds_meets_the_other_records_home(tmp_path):
    """A slip, a new surname and a move: no forename key meets, but the GP's address history holds
    the school's postcode (written its own way): the home is met, and it is the child's historic
    address, so the pair is at least queued with that evidence. Without the history, nothing."""
    records, children = _split("harriet", "hsrriet")          # Harriet's sound code and consonants changed
    records[1]["date_of_birth"] = records[1]["date_of_birth"].replace(day=1)   # and the birthday slipped
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    assert _with_past(tmp_path / "a", records, children, []).empty
    rows = _with_past(tmp_path / "b", records, children, [("health:1", "w51pw"), ("health:1", "ZZ99 3VZ")])
    assert list(zip(rows["l"], rows["r"])) == [("education:1", "health:1")]
    assert rows["historic_address"].all()
    found = decide(rows.to_dict("records"), [], children)
    assert [(a, b) for a, b, _ in found.queue] == [("education:1", "health:1")]
    assert "historic address agrees" in found.queue[0][2]
