"""The co-twin pairs found with numpy's help (``birthdays.cotwin_pairs_table``) are those
``guards.cotwin_pairs_sql`` finds alone, on real DuckDB tables: the pairs of a birthday its join
keeps (surnames that could be alike, a shared postcode, surnames never ruled out: missing, empty
or not ASCII), and the co-twin pairs of a linked store's records."""

from __future__ import annotations

import random
from datetime import date

import duckdb
import pandas as pd

from linkage.link.birthdays import cotwin_pairs_table, found_pairs
from linkage.link.guards import _could_be_alike, cotwin_pairs_sql, family_rows_sql
from linkage.store.schema import t

_NAMES = ["smith", "smyth", "smithe", "jones", "johns", "brown", "braun", "o'neil", "oneill", "lee", "li", "nguyen",
          "müller", "muller", "ng", "", None, "abdul-rahman", "rahman", "x", "wilson", "willson", "taylor", "tailor"]


def _rows(seed: int, n: int) -> pd.DataFrame:
    rng = random.Random(seed)
    return pd.DataFrame({
        "unique_id": [f"r{i}" for i in range(n)],
        "source_dataset": [rng.choice(["education", "health", None]) for _ in range(n)],
        "dob": [rng.choice([date(2012, 1, d) for d in range(1, 5)] + [None]) for _ in range(n)],
        "surname": [rng.choice(_NAMES) for _ in range(n)],
        "postcode": [rng.choice(["AB1 2CD", "EF3 4GH", "IJ5 6KL", None]) for _ in range(n)],
    }).assign(surname_all=lambda f: [[s] if s else [] for s in f["surname"]])


def test_the_pairs_of_a_birthday_are_those_the_join_keeps():
    con = duckdb.connect()
    for seed, n in ((1, 400), (2, 60), (3, 1), (4, 0)):
        con.execute("CREATE OR REPLACE TABLE x (unique_id VARCHAR, source_dataset VARCHAR, dob DATE, surname VARCHAR, "
                    "postcode VARCHAR, surname_all VARCHAR[])")
        if n:
            con.register("frame", _rows(seed, n))
            con.execute("INSERT INTO x SELECT * FROM frame")
        con.execute(f"CREATE OR REPLACE TABLE numbered AS {family_rows_sql('x', buckets=False)}")
        con.execute(f"CREATE OR REPLACE TABLE tested AS {family_rows_sql('x')}")
        # rid is numbered by the same scan in both; the join reads its own table's buckets
        assert con.execute("SELECT count(*) FROM numbered n JOIN tested t USING (rid) "
                           "WHERE n.unique_id <> t.unique_id").fetchone()[0] == 0
        want = con.execute(f"""SELECT a.rid, b.rid, coalesce(a.pid = b.pid, false)
FROM tested a JOIN tested b ON a.g = b.g AND a.rid < b.rid
WHERE a.pid = b.pid OR {_could_be_alike('a', 'b')} ORDER BY ALL""").fetchall()
        got = sorted(found_pairs(con, "numbered").to_pylist(), key=lambda r: (r["u"], r["v"]))
        assert [(r["u"], r["v"], r["pc"]) for r in got] == want
        if n >= 60:
            # the sample holds every kind of pair the test sorts
            assert any(pc for *_, pc in want) and any(not pc for *_, pc in want)
            unlike = con.execute(f"SELECT count(*) FROM tested a JOIN tested b ON a.g = b.g AND a.rid < b.rid "
                                 f"WHERE NOT {_could_be_alike('a', 'b')}").fetchone()[0]
            assert unlike > 0


def test_a_stores_co_twin_pairs_are_those_the_sql_finds_also_with_surnames_never_ruled_out(linked_store, tmp_path):
    con = duckdb.connect()          # the engine's: its scratch tables in ``memory``, the rows in a file
    con.execute(f"ATTACH '{tmp_path / 'rows.duckdb'}' AS f")
    rows = linked_store.df(f"SELECT * EXCLUDE (content_sha, raw_sha) FROM {t('link_input_cache')}")
    con.register("cached", rows)
    con.execute("CREATE TABLE f.inp AS SELECT * FROM cached")
    # Records of each birthday again under a missing, an empty and a non-ASCII surname, and one
    # with its postcode gone: pairs the bucket test cannot rule out, or only a postcode keeps.
    for i, (surname, postcode) in enumerate(((None, "postcode"), ("''", "postcode"), ("'Mãller'", "postcode"),
                                             ("surname", "NULL"))):
        con.execute(f"INSERT INTO f.inp SELECT * REPLACE (unique_id || ':{i}' AS unique_id, {surname} AS surname, "
                    f"{postcode} AS postcode, upn || '{i}' AS upn) FROM f.inp USING SAMPLE 15 PERCENT (bernoulli, {i})"
                    if surname else
                    f"INSERT INTO f.inp SELECT * REPLACE (unique_id || ':{i}' AS unique_id, NULL AS surname, "
                    f"[]::VARCHAR[] AS surname_all) FROM f.inp USING SAMPLE 15 PERCENT (bernoulli, {i})")
    cotwin_pairs_table(con, "f.inp", "got")
    want = con.execute(f"SELECT * FROM ({cotwin_pairs_sql('f.inp', 'f.inp')}) ORDER BY ALL").fetchall()
    got = con.execute("SELECT * FROM got ORDER BY ALL").fetchall()
    assert len(want) > 10 and got == want
    assert con.execute("SELECT count(*) FROM got WHERE unique_id LIKE '%:%' OR twin_id LIKE '%:%'").fetchone()[0] > 0
    assert con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'cotwin_numbered'").fetchone()[0] == 0
