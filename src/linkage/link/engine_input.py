"""The engine's input (``LinkEngine``'s first component): Splink's input table, the co-twins, each
record's hashes, and the frames the input is given to Splink as.

Kept in the store's in-memory catalog (``memory.link_input`` and the tables beside it); every other
component reads them from there.
"""

from __future__ import annotations

import hashlib

import duckdb
import pandas as pd

from linkage.link import hashkeep, inputcache, registercounts
from linkage.link.backends import DuckDBBackend
from linkage.link.birthdays import cotwin_pairs_table
from linkage.link.features import NAME_KEYS_COLUMNS, NAME_KEYS_LISTS, content_sha_sql, input_sql, name_keys_frame
from linkage.link.guards import (RARE, cotwin_pairs_sql, cotwin_sql, cotwins_from_pairs_sql, forename_counts_sql,
                                 twin_guard_sql, twin_names_sql)
from linkage.link.heldonce import held_once_registers_sql, unnumbered_sql
from linkage.link.middles import middle_registers_sql, silent_sql
from linkage.store import registered
from linkage.store.schema import t

__all__ = ["HELD_ONCE", "INPUT", "MIDDLE_REGISTERS", "ON_ROLL", "TF_COLUMNS", "EngineInput"]

INPUT = "link_input"
MIDDLE_REGISTERS = "memory.middle_registers"   # the registers that state every middle name (``middles``)
HELD_ONCE = "memory.held_once"                 # the registers that hold each child once (``heldonce``)
ON_ROLL = "on_roll"          # each UPN's days on roll (``secondid``)
TF_COLUMNS = ("forename", "surname")

# A record's marks in its ``guard_sha``: its silence on a middle name read as "none" (``|m``), no
# identifier in a register that holds each child once (``|o``); '' for most. Read in the pass over
# the rows that hashes them (``i``), not in a join of its own.
_MARK = (f"concat(CASE WHEN {silent_sql('i', MIDDLE_REGISTERS)} THEN '|m' ELSE '' END, "
         f"CASE WHEN {unnumbered_sql('i', HELD_ONCE)} THEN '|o' ELSE '' END) AS mark")

# The guard's own code: a change to it re-guards every record (see ``guard_sha``).
_GUARD_CODE = hashlib.sha256(f"{RARE}|{cotwin_sql('i')}|{cotwin_pairs_sql('i', 'j')}|"
                             f"{twin_guard_sql('e', 'i', 'c')}".encode()).hexdigest()[:16]


class EngineInput:
    """Building the input and handing it to Splink (a ``LinkEngine`` component)."""

    def _name_keys(self, records_sql: str) -> None:
        con = self.con
        names = [r[0] for r in con.execute(
            f"SELECT DISTINCT x FROM (SELECT split_part(n, ' ', 1) AS x FROM (SELECT forename_std AS n FROM "
            f"({records_sql}) UNION SELECT preferred_forename_std FROM ({records_sql})) "
            f"UNION SELECT replace(forename_std, ' ', '') FROM ({records_sql})) WHERE x IS NOT NULL").fetchall()]
        keys = name_keys_frame(names)
        # Typed, so that a run deriving no new names still gets text columns.
        typed = ", ".join(f"CAST({c} AS {'VARCHAR[]' if c in NAME_KEYS_LISTS else 'VARCHAR'}) AS {c}" for c in NAME_KEYS_COLUMNS)
        with registered(con, _name_keys_df=keys):
            con.execute(f"CREATE OR REPLACE TABLE memory.name_keys AS SELECT {typed} FROM _name_keys_df")

    def _build_input(self, records_sql: str, cache: bool) -> None:
        con = self.con
        if cache:
            self._cache = inputcache.build(self.store, records_sql, self._name_keys, f"memory.{INPUT}")
            self.derived, self.hashed = self._cache.derived, self._cache.hashed
            rows = f"SELECT unique_id, forename, content_sha, {_MARK} FROM {self._cache.rows} i"
        else:
            self._name_keys(records_sql)
            con.execute(f"CREATE OR REPLACE TABLE {inputcache.ROLL} AS SELECT record_key AS unique_id, on_roll_since "
                        f"FROM ({records_sql}) WHERE on_roll_since IS NOT NULL")
            for name in (INPUT, "cotwin_pairs"):     # views over the cache, if a cached run was here
                inputcache.drop(self.store, f"memory.{name}")
            con.execute(f"CREATE OR REPLACE TABLE memory.{INPUT} AS {input_sql(records_sql, 'memory.name_keys')}")
            cotwin_pairs_table(con, f"memory.{INPUT}", "memory.cotwin_pairs")
            self.derived, self.hashed = self.count(), 0
            rows = f"SELECT unique_id, forename, {content_sha_sql('i')} AS content_sha, {_MARK} FROM memory.{INPUT} i"
        con.execute(f"CREATE OR REPLACE TABLE memory.cotwins AS {cotwins_from_pairs_sql('memory.cotwin_pairs')}")
        # Each UPN's days on roll: the entry dates of its holders' current single enrolments
        # (``LINK_RECORDS_SQL``'s ``on_roll_since``), read by ``secondid.second_upn_sql`` beside the
        # input, not in it (the model compares none of it; the cached rows and hashes stay as they were).
        # The two-UPN groups (``hashkeep``): kept beside the cache, else found here. Only their UPNs'
        # days on roll are read (by the guard's hash and by ``second_upn_sql``, whose two records share
        # a forename, surname and birthday under two UPNs).
        if cache:
            two_upns = self._cache.two_upns
        else:
            two_upns = "memory.two_upns"
            con.execute(f"CREATE OR REPLACE TABLE {two_upns} AS {hashkeep.groups_sql(f'memory.{INPUT}')}")
        con.execute(f"""CREATE OR REPLACE TABLE memory.{ON_ROLL} AS
SELECT i.upn, list_sort(list_distinct(flatten(list(o.on_roll_since)))) AS on_roll_since
FROM {inputcache.ROLL} o JOIN (SELECT unique_id, upn FROM memory.{INPUT} WHERE upn IN (SELECT upn FROM {two_upns})) i
USING (unique_id) GROUP BY i.upn""")
        con.execute(f"DROP TABLE {inputcache.ROLL}")
        con.execute(f"CREATE OR REPLACE TABLE memory.twin_names AS "
                    f"{twin_names_sql(f'memory.{INPUT}', 'memory.cotwin_pairs', self._cache.families if cache else None)}")
        # The two register readings: from the counts kept beside the cache (a month moves them by its
        # own records' keys, ``registercounts``), else counted over every record here.
        readings = (registercounts.readings(self._cache.counts) if cache
                    else (middle_registers_sql(f"memory.{INPUT}"), held_once_registers_sql(f"memory.{INPUT}")))
        for table, reading in zip((MIDDLE_REGISTERS, HELD_ONCE), readings):
            con.execute(f"CREATE OR REPLACE TABLE {table} AS {reading}")
        # guard_sha: what the twin guard reads beyond the record itself that clustering reads too (its
        # co-twins, whether its forename is rare here, the guard's code). When it changes the record is
        # re-clustered and its stored pairs guarded again (``delta.reguard``); content_sha alone
        # binds reviewers' decisions and says what to score again. The names twins are given are not
        # in it: they move with a month's few families yet are borne by thousands of records, and
        # they bear only on the guard of pairs of two such names (``delta.twin_name_pairs``). The
        # fourth field is its UPN's days on roll when that UPN is one of two a forename, surname
        # and birthday are held under (what ``second_upn_sql`` reads), else empty, which keeps
        # the hashes of stores made before; a record whose silence on a middle name is read as
        # "none" (``middles.silent_sql``) adds ``|m`` to it, and one without an identifier in a register
        # that holds each child once (``heldonce.unnumbered_sql``) ``|o``, so that its pairs are
        # guarded again when its register stops or starts being read so. Most records have no co-twin, a
        # common forename, no such UPN and no such silence: theirs is one value, hashed once.
        guard = "md5(concat_ws('|', '{code}', {twins}, {rare}, {roll}))"
        common = con.execute("SELECT " + guard.format(code=_GUARD_CODE, twins="''", rare="'false'",
                                                      roll="''")).fetchone()[0]
        # How many records hold each forename: read here and by ``record_facts`` (the slips).
        con.execute(f"CREATE OR REPLACE TABLE memory.forename_counts AS {forename_counts_sql(f'memory.{INPUT}')}")
        hashed = f"""
WITH two_upns AS (
  SELECT i.unique_id, CAST(o.on_roll_since AS VARCHAR) AS roll FROM memory.{INPUT} i
  JOIN memory.{ON_ROLL} o USING (upn) WHERE upn IN (SELECT upn FROM {{two_upns}}))
SELECT s.unique_id AS record_key, s.content_sha,
       CASE WHEN c.cotwins IS NULL AND n.rare = false AND t.roll IS NULL AND s.mark = '' THEN '{common}'
       ELSE {guard.format(
           code=_GUARD_CODE, twins="coalesce(CAST(list_sort(c.cotwins) AS VARCHAR), '')",
           rare="coalesce(CAST(n.rare AS VARCHAR), '')",
           roll="coalesce(t.roll, '') || s.mark")} END AS guard_sha
FROM ({{rows}}) s LEFT JOIN memory.cotwins c USING (unique_id) LEFT JOIN memory.forename_counts n USING (forename)
LEFT JOIN two_upns t USING (unique_id)"""
        readings = [con.execute(f"SELECT * FROM {table} ORDER BY ALL").fetchall() for table in (MIDDLE_REGISTERS, HELD_ONCE)]
        self._hash_code = hashlib.sha256(f"{hashed}|{_MARK}|{hashkeep.CODE}|{readings}".encode()).hexdigest()[:16]
        inputcache.drop(self.store, "memory.link_hash")
        self.moved = None
        if cache and self._cache.previous is not None and \
                hashkeep.state(self.store) == (self._cache.previous, self._hash_code):
            # The last saved run's hashes, and those of the records that may hash otherwise now.
            moved = hashkeep.moved(self.store, f"memory.{INPUT}", "memory.cotwin_pairs", "memory.link_fresh",
                                   "memory.forename_counts", RARE, two_upns)
            con.execute(f"CREATE OR REPLACE TABLE memory.link_hash_moved AS "
                        f"{hashed.format(rows=f'{rows} WHERE i.unique_id IN ({moved})', two_upns=two_upns)}")
            con.execute(f"CREATE OR REPLACE TABLE memory.link_hash_out AS {moved} "
                        "UNION ALL SELECT k FROM memory.link_dropped")
            con.execute(f"CREATE VIEW memory.link_hash AS SELECT p.record_key, p.content_sha, p.guard_sha "
                        f"FROM {t('linked_records')} p ANTI JOIN memory.link_hash_out o ON o.k = p.record_key "
                        "UNION ALL SELECT record_key, content_sha, guard_sha FROM memory.link_hash_moved")
            self.moved = int(con.execute("SELECT count(*) FROM memory.link_hash_moved").fetchone()[0])
        else:
            con.execute(f"CREATE OR REPLACE TABLE memory.link_hash AS {hashed.format(rows=rows, two_upns=two_upns)}")
        hashkeep.forget(self.store)

    def hash_state(self) -> tuple[str, str] | None:
        """What ``linked_records`` is saved under (``hashkeep.save_state``): the cache's generation and
        the hashes' code (with the readings they read); None for a run without the cache."""
        return (self._cache.token, self._hash_code) if self._cache is not None else None

    def settle(self, quiet: bool = False) -> None:
        """Wait for the input cache written beside the run (``inputcache.Cache.wait``), raising
        what it failed with unless ``quiet`` (a failing run reports its own error): before scoring,
        before the run's own transaction, and before the store closes."""
        if self._cache is not None:
            try:
                self._cache.wait()
            except Exception:
                if not quiet:
                    raise

    def count(self) -> int:
        return int(self.con.execute(f"SELECT count(*) FROM memory.{INPUT}").fetchone()[0])

    def _register(self, sql: str, name: str, view: bool = True, local=None):
        """Give Splink ``sql`` as ``name``: a view (no copy of a million records) unless ``view`` is
        false, for a query over something that will not outlive the call. ``local``: a DuckDB
        ``DatabaseAPI`` on the store's connection to give it to instead of the backend."""
        kind = "VIEW" if view else "TABLE"
        for kind_ in ("VIEW", "TABLE"):      # either may be left from a call before (DROP must name it)
            try:
                self.con.execute(f"DROP {kind_} IF EXISTS memory.{name}")
            except duckdb.CatalogException:
                pass
        self.con.execute(f"CREATE {kind} memory.{name} AS {sql}")
        if local is not None:
            return DuckDBBackend().upload(local, self.con, name, f"{name}_{self._tag}")
        return self.backend.upload(self.db_api, self.con, name, f"{name}_{self._tag}")

    def _frames_of(self, table: str, prefix: str, local=None) -> list:
        """``table`` given to Splink as one input per source (``prefix_<source>``)."""
        sources = [r[0] for r in self.con.execute(f"SELECT DISTINCT source_dataset FROM {table} ORDER BY 1").fetchall()]
        frames = [self._register(f"SELECT * FROM {table} WHERE source_dataset = '{s}'", f"{prefix}_{s}", local=local)
                  for s in sources]
        if len(frames) == 1:  # one source so far: link_and_dedupe needs two inputs
            frames.append(self._register(f"SELECT * FROM {table} WHERE false", f"{prefix}_empty", local=local))
        return frames

    def _input_frames(self) -> list:
        if self._frames is None:
            self._frames = self._frames_of(f"memory.{INPUT}", "in")
        return self._frames

    def nodes(self) -> list[str]:
        return [r[0] for r in self.con.execute(f"SELECT unique_id FROM memory.{INPUT}").fetchall()]

    def hashes(self, keys: list[str] | None = None) -> pd.DataFrame:
        """Each current record's content_sha and guard_sha (only ``keys``' if given)."""
        if keys is None:
            return self.con.execute("SELECT record_key, content_sha, guard_sha FROM memory.link_hash").df()
        with registered(self.con, _hash_keys_df=pd.DataFrame({"k": pd.Series(keys, dtype=object)})):
            return self.con.execute("SELECT record_key, content_sha, guard_sha FROM memory.link_hash "
                                    "WHERE record_key IN (SELECT k FROM _hash_keys_df)").df()
