"""A month's second pass sees the few children it reached, and its queue rules read no more of the
million-record input than they need: ``reach``, ``reissued``, ``romanised``, ``slipped``,
``transposed``, ``scripthome``, ``middleday``, ``heldtwice`` and ``family_sql`` the reached records' rows read once
(``engine_pass.reached_rows_sql``; ``family_sql`` its population counts still over the input),
``movedin`` its population shares from each home's record count. Each must queue exactly what it queues over the whole input.

Real DuckDB files in ``tmp_path``, through the real features SQL; the clusters table holds only the
reached children, and 600 records of children the month did not reach stand beside them.
"""

from __future__ import annotations

from collections import Counter

import pandas as pd

from linkage.link.complement import family_pairs
from linkage.link.engine_pass import reached_rows_sql
from linkage.link.evidence import ClusterPass
from linkage.link.heldtwice import heldtwice_pairs
from linkage.link.middleday import middleday_pairs
from linkage.link.movedin import RECENT_DAYS, movedin_sql
from linkage.link.reach import reach_pairs
from linkage.link.reissued import COPIED_REASON, reissued_pairs
from linkage.link.romanised import romanised_pairs
from linkage.link.scripthome import scripthome_pairs
from linkage.link.slipped import slipped_pairs
from linkage.link.transposed import transposed_pairs
from test_cluster_evidence import rec
from test_month_reads import _population
from test_queue_complement import _con
from test_queue_copied_upn import CHILDREN as QABIL_CHILDREN, QABIL, reissued_tables

# The reached children: each pair a rule queues, and one it must not (``transposed``'s Harry
# Jones, whose school child also holds a social care record with another NHS number).
REACHED = [
    # ``reach``: one middle name and birthday, two homes.
    rec("education:r1", "lexi", "williams", middle="faith", postcode="KY8 0HL", upn="A1"),
    rec("health:r1", "lexi", "williams", middle="faith", postcode="HG3 1UU", nhs="N1"),
    # ``romanised``: Tzu-hao Chang at school, the GP's Zihao Zhang.
    rec("education:m1", "tzu hao", "chang", dob="2018-11-17", postcode="L8 2TG", upn="A2"),
    rec("health:m1", "zihao", "zhang", dob="2018-11-17", postcode="LU9 4ER", nhs="N2"),
    # ``slipped``: Emily Devan beside her twin Grace, the GP's Emily Decan born a day later.
    rec("education:s1", "emily", "devan", dob="2011-02-27", postcode="MK5 7QE", upn="A3"),
    rec("education:s2", "grace", "devan", dob="2011-02-27", postcode="MK5 7QE", upn="K905261834411"),
    rec("health:s1", "emily", "decan", dob="2011-02-28", postcode="SO9 3WZ", nhs="N3"),
    # ``transposed``: Ollie Smith born 7 October, the GP's Oliver born 10 July.
    rec("education:t1", "ollie", "smith", middle="jack", dob="2020-10-07", postcode="GL29 8WH", upn="A4"),
    rec("health:t1", "oliver", "smith", dob="2020-07-10", postcode="PA86 4DS", nhs="N4"),
    # ``transposed`` again, but the school child's social care record holds another NHS number.
    rec("education:t2", "harry", "jones", middle="lee", dob="2019-11-03", postcode="B1 1AA", upn="A5"),
    rec("social_care:t2", "harry", "jones", middle="lee", dob="2019-11-03", postcode="B1 1AA", nhs="N9"),
    rec("health:t2", "harold", "jones", dob="2019-03-11", postcode="B9 9ZZ", nhs="N5"),
    # ``scripthome``: Tzu-hao Wang at school, the GP's Zi Ao Wong at his home.
    rec("education:h1", "tzu-hao", "wang", middle="thomas", dob="2015-10-07", postcode="E5D 4RQ", upn="A6"),
    rec("health:h1", "zi", "wong", middle="ao thomas", dob="2015-10-07", postcode="E5D 4RQ", nhs="N6"),
    # ``middleday``: Leo Conway at school, the GP's Leo Lippomano (middle name Adeshina) a day later.
    rec("education:d1", "leo", "conway", middle="adeshina", dob="2022-04-07", postcode="SL4 1JH", upn="A7"),
    rec("health:d1", "leo", "lippomano", middle="adeshina", dob="2022-04-08", postcode="W80 3JP", nhs="N7"),
    # ``heldtwice``: Amelia Dcker at one school, Amelia Decker born ten days later at another, one UPN.
    rec("education:u1", "amelia", "dcker", dob="2020-08-12", postcode="M1 1WY", upn="E211449224005"),
    rec("education:u2", "amelia", "decker", dob="2020-08-22", postcode="BB0 3PG", upn="E211449224005"),
]
CHILDREN = {"education:r1": "R1", "health:r1": "R2", "education:m1": "M1", "health:m1": "M2",
            "education:s1": "S1", "education:s2": "S3", "health:s1": "S2", "education:t1": "T1",
            "health:t1": "T2", "education:t2": "T3", "social_care:t2": "T3", "health:t2": "T4",
            "education:h1": "H1", "health:h1": "H2", "education:d1": "D1", "health:d1": "D2",
            "education:u1": "U1", "education:u2": "U2"}
RULES = (reach_pairs, romanised_pairs, slipped_pairs, transposed_pairs, scripthome_pairs, middleday_pairs,
         heldtwice_pairs)


def _queued(con, rule, input_table: str) -> list[tuple[str, str, str]]:
    found = ClusterPass()
    rule(con, input_table, "kids", "cotwins", found, CHILDREN, [])
    assert found.links == []
    return found.queue


def test_the_rules_queue_over_the_reached_rows_what_they_queue_over_the_whole_input(tmp_path):
    con = _con(tmp_path, [*REACHED, *_population(150)], CHILDREN)
    try:
        con.execute(f"CREATE TABLE reached AS {reached_rows_sql('link_input', 'kids')}")
        assert con.execute("SELECT count(*) FROM reached").fetchone()[0] == len(CHILDREN)
        whole = {rule.__name__: _queued(con, rule, "link_input") for rule in RULES}
        narrow = {rule.__name__: _queued(con, rule, "reached") for rule in RULES}
    finally:
        con.close()
    assert narrow == whole
    pairs = {rule: {(l, r) for l, r, _ in queue} for rule, queue in whole.items()}
    assert ("education:r1", "health:r1") in pairs["reach_pairs"]
    assert ("education:m1", "health:m1") in pairs["romanised_pairs"]
    assert ("education:s1", "health:s1") in pairs["slipped_pairs"]
    assert ("education:t1", "health:t1") in pairs["transposed_pairs"]
    assert ("education:h1", "health:h1") in pairs["scripthome_pairs"]
    assert ("education:d1", "health:d1") in pairs["middleday_pairs"]
    assert ("education:u1", "education:u2") in pairs["heldtwice_pairs"]
    # Two NHS numbers in the children of Harry / Harold Jones: the social care record says so.
    assert not any("health:t2" in pair for queued in pairs.values() for pair in queued)


def test_reissued_queues_over_the_reached_rows_what_it_queues_over_the_whole_input(store):
    # Qabil Lordan at school under one UPN, social care (with his GP record) under another: asked
    # about (``copied_sql``), his social care record read only as a record of the GP child.
    con = store.connection
    identifiers = reissued_tables(con, [*QABIL, *_population(150)], QABIL_CHILDREN)
    con.execute(f"CREATE TABLE reached AS {reached_rows_sql('link_input', 'kids')}")
    queues = []
    for input_table in ("link_input", "reached"):
        found = ClusterPass()
        reissued_pairs(con, input_table, "kids", "cotwin_pairs", found, QABIL_CHILDREN, identifiers)
        queues.append(found.queue)
    assert queues[1] == queues[0] == [("education:1", "health:1", COPIED_REASON.format(evidence="same forename"))]


def test_family_pairs_read_the_reached_rows_and_the_population_counts_over_the_whole_input(tmp_path):
    # A GP Eliza Mackeown and social care's Ekza born a day apart at no common home; another Eliza
    # Mackeown the month reached: one namesake, expected by chance only over the population's span of
    # birthdays (2010-2019, the children not reached), not over the reached records' own (2016).
    reached = [rec("health:1", "eliza", "mackeown", dob="2016-08-14", postcode="W4H 1TE", nhs="N1"),
               rec("social_care:1", "ekza", "mackeown", dob="2016-08-13", postcode=None),
               rec("health:2", "eliza", "mackeown", dob="2016-02-01", postcode="E1 6AN", nhs="N2")]
    children = {"health:1": "C1", "social_care:1": "C2", "health:2": "C3"}
    con = _con(tmp_path, [*reached, *_population(150)], children)
    try:
        con.execute(f"CREATE TABLE reached AS {reached_rows_sql('link_input', 'kids')}")
        queues = []
        for rows_table in (None, "reached"):
            found = ClusterPass()
            family_pairs(con, "link_input", "kids", found, children, [], rows_table)
            queues.append(found.queue)
    finally:
        con.close()
    assert queues[1] == queues[0]
    assert ("health:1", "social_care:1") in {(l, r) for l, r, _ in queues[0]}


EXTRACT = pd.Timestamp("2026-11-01").date()


def _movedin(tmp_path, neighbour: bool) -> tuple[list[tuple], float, float]:
    """``movedin_sql`` over a month's clusters (a school-only and a social-care-only Harper, and their
    thirty namesakes) beside 600 records of children not reached, some sharing homes, and the
    ``alone`` share found by the module's definition over every record (a record in no cluster a
    child of its own). ``neighbour``: a record not reached lives at the new home."""
    pair = [rec("education:1", "harper", "rocca", postcode="W5 1PW", upn="A1"),
            rec("social_care:1", "harper", "duhig", postcode="GL7 1AB", address="9 new lane")]
    children = {"education:1": "C1", "social_care:1": "C2"}
    dated = {"social_care:1": "2026-03-01"}
    others = []
    for i in range(30):
        key = f"social_care:x{i}"
        others.append(rec(key, "harper", f"other{i}", dob=f"2015-{1 + i % 11 + (i % 11 >= 3):02d}-{20 + i % 8}",
                          postcode=f"N{i // 2} 1AA"))
        children[key], dated[key] = f"X{i // 3}", "2019-05-01"
    outside = _population(150)
    if neighbour:
        outside.append(rec("health:n1", "oscar", "blake", dob="2012-02-02", postcode="GL7 1AB", nhs="N9"))
    records = [*pair, *others, *outside]
    tmp_path.mkdir()
    con = _con(tmp_path, records, children)
    try:
        con.register("dated_df", pd.DataFrame([(k, pd.Timestamp(v).date(), EXTRACT) for k, v in dated.items()],
                                              columns=["unique_id", "address_from", "extract_date"]))
        con.execute("CREATE TABLE dated AS SELECT * FROM dated_df")
        con.register("cands_df", pd.DataFrame([("education:1", "social_care:1", "C1", "C2")],
                                              columns=["l", "r", "ca", "cb"]).astype("string"))
        con.execute("CREATE TABLE cands AS SELECT * FROM cands_df")
        rows = con.execute(movedin_sql("link_input", "kids", "dated", "cands")).fetchall()
        homes = con.execute("SELECT unique_id, postcode FROM link_input WHERE postcode IS NOT NULL").fetchall()
    finally:
        con.close()
    kids_at = {(children.get(k, f"record:{k}"), postcode) for k, postcode in homes}
    crowd = Counter(postcode for _, postcode in kids_at)
    alone = sum(crowd[postcode] == 1 for _, postcode in kids_at) / len(kids_at)
    assert len({p for _, p in homes}) < len(homes) - 100        # homes shared by children outside the month
    return rows, alone, sum(d >= "2024-11-01" for d in dated.values()) / len(dated)


def test_movedin_counts_every_home_of_the_population_not_only_the_reached_ones(tmp_path):
    rows, alone, recent = _movedin(tmp_path / "a", neighbour=False)
    assert [r[:2] for r in rows] == [("education:1", "social_care:1")]
    assert rows[0][2] == recent and rows[0][3] == alone
    assert RECENT_DAYS == 730
    # A child the month did not reach lives at the new home: no move into a home of nobody else's.
    rows, alone_b, _ = _movedin(tmp_path / "b", neighbour=True)
    assert rows == []
    assert alone_b != alone
