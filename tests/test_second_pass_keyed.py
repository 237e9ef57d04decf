"""The second pass's keyed join meets only row pairs whose UPN, NHS number and sex can agree.

``evidence.candidates_sql`` meets records under a forename key and a month of birth. Joined on
those alone, a common forename's month met every pair of its children, and at 1M most of the
join's 24 million row pairs were two children each holding their own UPN, dropped only after.
Real DuckDB files in ``tmp_path``, through the real features and co-twin SQL
(``test_cluster_evidence.input_tables``); the join's size is read from DuckDB's own profile.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from linkage.link.evidence import candidates_sql
from test_cluster_evidence import input_tables, rec

MONTH = "2015-04"


def _kids(con: duckdb.DuckDBPyConnection, records: list[dict], children: dict[str, str]) -> None:
    con.register("kids_df", pd.DataFrame({"unique_id": list(children), "cluster_id": list(children.values()),
                                          "upn_root": [next(r["upn"] for r in records if r["record_key"] == k)
                                                       for k in children]}).astype("string"))
    con.execute("CREATE TABLE kids AS SELECT * FROM kids_df")


def _largest_keyed_join(con: duckdb.DuckDBPyConnection, sql: str, out: Path) -> tuple[int, pd.DataFrame]:
    """``sql``'s rows, and the most rows a join of its plan on the forename key (``k``) produced
    (DuckDB's profile)."""
    con.execute("PRAGMA enable_profiling = 'json'")
    con.execute(f"PRAGMA profiling_output = '{out}'")
    rows = con.execute(sql).df()
    con.execute("PRAGMA disable_profiling")
    most = 0
    stack = [json.loads(out.read_text())]
    while stack:
        node = stack.pop()
        if ("JOIN" in str(node.get("operator_name") or node.get("operator_type") or "")
                and "k = k" in json.dumps(node.get("extra_info", {}))):
            most = max(most, int(node.get("operator_cardinality") or 0))
        stack.extend(node.get("children", []))
    return most, rows


def test_children_holding_their_own_identifiers_are_not_met_pair_by_pair(tmp_path):
    # 300 children named Harper, born in one month, each known to the school (its own UPN) and
    # the GP (its own NHS number): no two of them can be one child, and none is a candidate.
    # Met pair by pair they were 300 x 599 row pairs under each key of the name.
    rng = random.Random(5)
    records, children = [], {}
    for i in range(300):
        dob, sex = f"{MONTH}-{rng.randint(1, 28):02d}", rng.choice("MF")
        for key, ids in ((f"education:{i}", dict(upn=f"U{i}")), (f"health:{i}", dict(nhs=f"N{i}"))):
            records.append(rec(key, "harper", f"smith{i}", postcode=f"W{i % 9} 1PW", dob=dob, sex=sex, **ids))
            children[key] = f"C{i}"
    con = duckdb.connect(str(tmp_path / "pass.duckdb"))
    input_tables(con, records)
    _kids(con, records, children)
    most, rows = _largest_keyed_join(con, candidates_sql("link_input", "kids", "cotwins"), tmp_path / "profile.json")
    assert rows.empty
    assert most < 10 * len(records)


@pytest.mark.parametrize("seed", range(6))
def test_the_candidates_are_every_pair_the_identifiers_allow(tmp_path, seed):
    # Children with every mix of identifiers (none, a UPN, an NHS number, both, shared or not)
    # and of sex (M, F, none): every pair of them the identifiers and sex allow is a candidate,
    # and no other pair is.
    rng = random.Random(seed)
    records, children = [], {}
    for i in range(40):
        upn, nhs = rng.choice([None, "U1", "U2", f"U{i + 10}"]), rng.choice([None, "N1", f"N{i + 10}"])
        sex = rng.choice(["M", "F", None])
        source = rng.choice(["education", "health", "social_care"])
        key = f"{source}:{i}"
        records.append(rec(key, "harper", f"smith{i}", postcode=f"W{i} 1PW", dob=f"{MONTH}-0{rng.randint(1, 2)}",
                           sex=sex, upn=upn, nhs=nhs))
        children[key] = f"C{i}"
    con = duckdb.connect(str(tmp_path / "pass.duckdb"))
    input_tables(con, records)
    _kids(con, records, children)
    got = {tuple(p) for p in con.execute(f"SELECT l, r FROM ({candidates_sql('link_input', 'kids', 'cotwins')})")
           .fetchall()}
    want = set()
    for i, a in enumerate(records):
        for b in records[i + 1:]:
            if (a["source"] != b["source"]         # born a day apart: one slip, a candidate
                    and all(a[c] is None or b[c] is None or a[c] == b[c] for c in ("upn", "nhs_number", "sex"))):
                want.add(tuple(sorted((a["record_key"], b["record_key"]))))
    assert got == want
