"""A month's sibling check reads the links' own records from the month's working set (``narrow``'s
table of the rows its pairs name), not from the million stored rows, and from those rows only the
records the set lacks (a second-pass join may name one): the siblings are still found in the whole
input. Over a real DuckDB file, the check gives with any working set what it gives without one."""

from __future__ import annotations

import duckdb
import pandas as pd

from linkage.link.vet import second_children
from test_twin_evidence import population, rec

LINKS = ["unique_id_l", "unique_id_r"]


def _stored(tmp_path, records: list[dict]) -> duckdb.DuckDBPyConnection:
    """The records as a month's engine has them: a view ``link_input`` over the input cache's table
    in the store's DuckDB file, attached to an in-memory connection (``store.db``)."""
    con = duckdb.connect()
    con.execute(f"ATTACH '{tmp_path / 'month.duckdb'}' AS kept")
    population(records, con, "kept.link_input_cache")
    con.execute("CREATE VIEW link_input AS SELECT * FROM kept.link_input_cache")
    return con


def _set_of(con: duckdb.DuckDBPyConnection, keys: list[str]) -> str:
    """A working set as ``narrow`` makes it: every column of the records ``keys``."""
    con.execute("CREATE OR REPLACE TABLE memory.working AS SELECT * FROM link_input WHERE unique_id IN "
                f"({', '.join(repr(k) for k in keys) or 'NULL'})")
    return "memory.working"


# Twins Macy and Maisie at one school, each her own child; the GP's Maisie (a new surname) is
# linked to Macy's school record, which Maisie's own school record fits as well. Beside them, 40
# families of twins the links do not name, two of them born the day Macy was.
RECORDS = [rec("education:1", "macy", upn="A1"), rec("education:2", "maisie", upn="B2"),
           rec("health:2", "maisie", nhs="N2", surname="shaw"),
           *(rec(f"education:t{i}{k}", name, upn=f"T{i}{k}", surname=f"family{i}",
                 dob="2015-04-07" if i < 2 else f"201{i % 10}-0{1 + i % 9}-1{i % 10}", postcode=f"LS{i} 1AA")
             for i in range(40) for k, name in (("a", "amy"), ("b", "zoe")))]
CLUSTERS = {"education:1": "A", "education:2": "B", "health:2": "A"}
JOIN = pd.DataFrame([("education:1", "health:2")], columns=LINKS)


def test_the_sibling_check_reads_a_record_the_working_set_lacks(tmp_path):
    con = _stored(tmp_path, RECORDS)
    try:
        whole = second_children(con, "link_input", CLUSTERS, JOIN)
        assert whole == {"health:2": ("education:1", "education:2")}
        # The first pass's working set holds both ends; a second-pass join may name a record it
        # lacks (either end, or both); the sibling is never in it.
        for held in (["education:1", "health:2"], ["education:1"], ["health:2"], [], ["education:t0a"]):
            assert second_children(con, "link_input", CLUSTERS, JOIN, rows=_set_of(con, held)) == whole, held
    finally:
        con.close()


def test_the_working_set_is_read_for_the_records_it_holds(tmp_path):
    # With both ends held, the links' records come from the working set: the stored row of the GP's
    # Maisie is not read (a stored row taken away leaves the answer as the set gives it) ...
    con = _stored(tmp_path, RECORDS)
    try:
        rows = _set_of(con, ["education:1", "health:2"])
        con.execute("DELETE FROM kept.link_input_cache WHERE unique_id = 'health:2'")
        assert second_children(con, "link_input", CLUSTERS, JOIN, rows=rows) == {
            "health:2": ("education:1", "education:2")}
        # ... and without a working set the check has no GP's Maisie to ask about.
        assert second_children(con, "link_input", CLUSTERS, JOIN) == {}
    finally:
        con.close()
