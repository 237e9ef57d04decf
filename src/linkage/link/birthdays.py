"""A whole input's co-twin pairs (``guards.cotwin_pairs_sql`` of one relation against itself) with
its costliest step done in numpy: every pair of records of one source and date of birth is tested
for surnames that could be alike (``guards._could_be_alike``) or a shared postcode.

At a million records that is 39.6 million pairs, 3.2 million kept, and DuckDB's hash join on the
birthday, which forms every pair and then filters it, took 8 CPU s of the first link's 11 for the
co-twin pairs; the same test over sorted arrays, one offset within a birthday at a time, takes
about 2 (and one core). The rest (Jaro-Winkler, shared surname words, the family and identifier
tests) is ``cotwin_pairs_sql`` itself, given the numbered rows and the pairs kept, so the pairs
are those it finds alone (``tests/test_birthdays.py``) and the code hashes that read its text
(``inputcache._CODE``, ``engine_input._GUARD_CODE``) stay as they were.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import duckdb
import numpy as np
import pyarrow as pa

from linkage.link.guards import cotwin_pairs_sql, family_rows_sql, surname_buckets_sql
from linkage.store import registered

__all__ = ["alike_pairs", "cotwin_pairs_table", "found_pairs"]

_ROWS = "memory.cotwin_numbered"


def alike_pairs(g: np.ndarray, len_: np.ndarray, bits: np.ndarray, open_: np.ndarray,
                pid: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(i, j, same postcode): the positions i < j of rows sorted by group ``g`` with one group whose
    surnames ``_could_be_alike`` (``len_``, ``bits``; ``open_`` where a side is never ruled out) or
    whose postcodes (``pid``, -1 for none) agree. Each offset d pairs every row with the row d
    further on while both are of one group; a row leaves once its group is passed."""
    i_parts, j_parts, pc_parts = [], [], []
    n = len(g)
    idx = np.flatnonzero(g[:-1] == g[1:]) if n > 1 else np.empty(0, np.int64)
    d = 1
    while idx.size:
        j = idx + d
        la, lb, ba, bb = len_[idx], len_[j], bits[idx], bits[j]
        cap = np.minimum(la - np.bitwise_count(ba & ~bb), lb - np.bitwise_count(bb & ~ba)).astype(np.int64)
        pc = (pid[idx] == pid[j]) & (pid[idx] >= 0)
        keep = pc | open_[idx] | open_[j] | (5 * cap * (la + lb) >= 6 * la * lb)
        i_parts.append(idx[keep])
        j_parts.append(j[keep])
        pc_parts.append(pc[keep])
        d += 1
        idx = idx[idx + d < n]
        idx = idx[g[idx + d] == g[idx]]
    if not i_parts:
        empty = np.empty(0, np.int64)
        return empty, empty, np.empty(0, bool)
    return np.concatenate(i_parts), np.concatenate(j_parts), np.concatenate(pc_parts)


def _both_halves(g: np.ndarray, *columns: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``alike_pairs`` over the rows cut in two at a group's start, a thread each (numpy lets go
    of the GIL over whole arrays: the machine's second core, which the SQL join had used)."""
    cut = int(np.searchsorted(g, g[len(g) // 2], side="left")) if len(g) else 0
    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(alike_pairs, g[:cut], *(c[:cut] for c in columns))
        second = pool.submit(alike_pairs, g[cut:], *(c[cut:] for c in columns))
        (i1, j1, pc1), (i2, j2, pc2) = first.result(), second.result()
    return np.concatenate([i1, i2 + cut]), np.concatenate([j1, j2 + cut]), np.concatenate([pc1, pc2])


def found_pairs(con: duckdb.DuckDBPyConnection, numbered: str) -> pa.Table:
    """(u, v, pc): the pairs of ``numbered`` (a table of ``family_rows_sql(..., buckets=False)``
    rows) that ``_family_pairs``' join keeps, u < v, pc whether the postcodes agree."""
    # A surname's buckets made once for all its records (a list per character, a lambda each).
    t = con.execute(f"""SELECT r.rid, r.g, coalesce(s.len, 0) AS len, coalesce(s.bits, 0)::UBIGINT AS bits,
  s.bits IS NULL AS open, coalesce(r.pid, -1)::BIGINT AS pid
FROM {numbered} r LEFT JOIN ({surname_buckets_sql(numbered)}) s ON s.surname = r.surname
ORDER BY r.g, r.rid""").fetch_arrow_table()
    rid = t["rid"].to_numpy()
    i, j, pc = _both_halves(t["g"].to_numpy(), t["len"].to_numpy(), t["bits"].to_numpy(),
                            t["open"].to_numpy(zero_copy_only=False), t["pid"].to_numpy())
    return pa.table({"u": pa.array(rid[i]), "v": pa.array(rid[j]), "pc": pa.array(pc)})


def cotwin_pairs_table(con: duckdb.DuckDBPyConnection, rows: str, out: str) -> None:
    """``out``: a table of ``cotwin_pairs_sql(rows, rows)``'s rows (``rows``: a table name or a
    parenthesised query of Splink input rows)."""
    con.execute(f"CREATE OR REPLACE TABLE {_ROWS} AS {family_rows_sql(rows, buckets=False)}")
    try:
        with registered(con, _cotwin_found=found_pairs(con, _ROWS)):
            con.execute(f"CREATE OR REPLACE TABLE {out} AS "
                        f"{cotwin_pairs_sql(rows, rows, (_ROWS, '_cotwin_found'))}")
    finally:
        con.execute(f"DROP TABLE IF EXISTS {_ROWS}")
