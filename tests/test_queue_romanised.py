"""Issue 11 items 4 and 6: one child's full name from another script, romanised two ways by two
agencies (another system, without vowels, family name first), at two homes, is met by the
consonants of both names (``link/romanised.py``) and queued, never linked.

Small constructed populations in a real DuckDB file through the real features SQL and the second
pass's SQL (as ``test_queue_reach``). Before ``romanised``, no key of ``reach`` queued these
records (its ``script`` key needs one home), and at 250,000 realistic records nothing else did.
"""

from __future__ import annotations

from pathlib import Path

from linkage.link.evidence import ClusterPass, candidates_sql
from linkage.link.reach import reach_pairs
from linkage.link.romanised import ROMANISED_REASON, roman_sql, romanised_pairs
from test_cluster_evidence import rec
from test_queue_complement import _con

CHILDREN = {"education:1": "C1", "health:1": "C2"}


def _pass(tmp_path: Path, name: str, records: list[dict], children: dict[str, str] = CHILDREN,
          apart: list[tuple[str, str]] = ()) -> tuple[list, list, list[tuple[str, str, str]]]:
    """The pass's own candidates, what ``reach`` queues, and what ``romanised_pairs`` queues."""
    (tmp_path / name).mkdir()
    con = _con(tmp_path / name, records, children)
    try:
        rows = con.execute(candidates_sql("link_input", "kids", "cotwins")).df()
        reached, found = ClusterPass(), ClusterPass()
        reach_pairs(con, "link_input", "kids", "cotwins", reached, children, list(apart))
        romanised_pairs(con, "link_input", "kids", "cotwins", found, children, list(apart))
    finally:
        con.close()
    assert found.links == []
    return list(zip(rows["l"], rows["r"])), reached.queue, found.queue


def _pair(school: tuple[str, str | None, str], gp: tuple[str, str | None, str], dob2: str = "2018-11-17",
          **gp_more) -> list[dict]:
    """A school record and a GP record (forename, middle names, surname) at two homes."""
    first, middle, last = school
    forename, middles, surname = gp
    return [rec("education:1", first, last, middle=middle, dob="2018-11-17", postcode="L8 2TG", upn="A1"),
            rec("health:1", forename, surname, middle=middles, dob=dob2, postcode="LU9 4ER",
                **{"nhs": "N1", **gp_more})]


def test_roman_key_reads_two_romanisations_as_one_name(tmp_path):
    import duckdb
    con = duckdb.connect()
    key = lambda name: con.execute(f"SELECT {roman_sql('?')}", [name]).fetchone()[0]  # noqa: E731
    for a, b in (("hsiaoling", "xiaoling"), ("tzuhao", "zihao"), ("chang", "zhang"), ("abdullah", "abdallah"),
                 ("julia", "yulia"), ("julia", "iuliia"), ("wong", "wang"), ("fatima", "ftmh"),
                 ("alhassan", "elhassan"), ("mariam", "maryam"), ("anastasiya", "anastasia")):
        assert key(a) == key(b), (a, b)
    for a, b in (("tzuhao", "zixuan"), ("julia", "lily"), ("hsiaoling", "xiaomei"), ("zihao", "zoe")):
        assert key(a) != key(b), (a, b)


def test_a_full_name_romanised_two_ways_at_two_homes_is_queued(tmp_path):
    # Hsiao-ling Abdullah at school (Wade-Giles; middle name Chloe), the GP's Xiao, middle name Ling,
    # Abdallah; Tzu-hao Chang / Zihao Zhang: each at two homes.
    for name, school, gp in (("ling", ("hsiao ling", "chloe", "abdullah"), ("xiao", "ling", "abdallah")),
                             ("zhang", ("tzu hao", None, "chang"), ("zihao", None, "zhang"))):
        reached, queued = _pass(tmp_path, name, _pair(school, gp))[1:]
        assert reached == []                            # no key of ``reach`` queues them
        how = "a given name split in two" if name == "ling" else "in one order"
        assert queued == [("education:1", "health:1", ROMANISED_REASON.format(evidence=how))], name


def test_a_romanised_name_written_family_name_first_is_queued(tmp_path):
    # The GP wrote the family name first, and an Arabic-script record without vowels (Ftmh);
    # Papadopoulou Anastasiya / Anastasia Papadopoulos; Mariam Alhassan / El-Hassan Maryam.
    for name, school, gp in (("ftmh", ("fatima", "summer", "cheung"), ("cheung", "summer", "ftmh")),
                             ("greek", ("papadopoulou", None, "anastasiya"), ("anastasia", None, "papadopoulos")),
                             ("arabic", ("mariam", None, "alhassan"), ("el hassan", None, "maryam"))):
        queued = _pass(tmp_path, name, _pair(school, gp))[2]
        assert queued == [("education:1", "health:1", ROMANISED_REASON.format(evidence="forename and surname swapped"))], \
            name


def test_other_names_or_evidence_of_two_children_are_not_queued(tmp_path):
    # Twins each held by one source: Tzu-hao and Zixuan Wang (two given names), Julia and Lily.
    for name, school, gp in (("zixuan", ("tzu hao", None, "wang"), ("zixuan", None, "wang")),
                             ("lily", ("julia", None, "wong"), ("lily", None, "wang")),
                             ("middle", ("hsiao ling", "chloe", "abdullah"), ("xiaoling", "grace", "abdallah"))):
        assert _pass(tmp_path, name, _pair(school, gp))[2] == [], name
    one = (("julia", None, "wong"), ("yulia", None, "wang"))
    # Born a typed digit apart (a common name at two homes: too little); born months apart; another
    # sex; two NHS numbers; kept apart by a reviewer; one name written the same (not this rule's).
    assert _pass(tmp_path, "slip", _pair(*one, dob2="2018-11-18"))[2] == []
    assert _pass(tmp_path, "months", _pair(*one, dob2="2018-03-17"))[2] == []
    assert _pass(tmp_path, "same", _pair(("joshua", None, "thomas"), ("joshua", None, "thomas")))[2] == []
    assert _pass(tmp_path, "sex", _pair(*one, sex="M"))[2] == []
    records = [*_pair(*one), rec("health:2", "julia", "wong", dob="2018-11-17", postcode="L8 2TG", nhs="N2")]
    assert _pass(tmp_path, "nhs", records, {**CHILDREN, "health:2": "C1"})[2] == []
    assert _pass(tmp_path, "apart", _pair(*one), apart=[("education:1", "health:1")])[2] == []
    # One source holds both children (a second school record in the GP record's child).
    records = [*_pair(*one), rec("education:2", "yulia", "wang", dob="2018-11-17", postcode="LU9 4ER", upn="A1")]
    assert _pass(tmp_path, "held", records, {**CHILDREN, "education:2": "C2"})[2] == []


def test_a_co_twin_counts_only_when_it_could_be_the_other_record(tmp_path):
    # Julia Wong's school also holds her twin Ekaterina (another name): the pair is still asked, where
    # ``reach``'s family key reads no record with a co-twin. A school co-twin Yulia could be the GP's
    # Yulia Wang: left alone.
    base = _pair(("julia", "isabella", "wong"), ("yulia", None, "wang"))
    for name, twin, queued in (("ekaterina", "ekaterina", True), ("yulia", "yulia", False)):
        records = [*base, rec("education:2", twin, "wong", dob="2018-11-17", postcode="L8 2TG", upn="K905261834411")]
        reached, got = _pass(tmp_path, name, records, {**CHILDREN, "education:2": "C3"})[1:]
        assert reached == []
        assert [(a, b) for a, b, _ in got] == ([("education:1", "health:1")] if queued else []), name
