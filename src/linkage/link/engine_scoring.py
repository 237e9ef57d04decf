"""Scoring (``LinkEngine``'s component, as Splink's ``linker.inference``): term frequencies, the
pairs the prediction rules block, a full or incremental predict, and the twin guard on its pairs."""

from __future__ import annotations

import re
import uuid

import pandas as pd
from splink import Linker
from splink.internals.blocking import BlockingRule, _columns_needed_for_blocking

from linkage.link.backends import MODEL_DIALECT
from linkage.link.engine_input import HELD_ONCE, INPUT, MIDDLE_REGISTERS, TF_COLUMNS
from linkage.link.guards import twin_guard_sql
from linkage.store import registered

__all__ = ["Scoring"]

_PRED_COLS = "unique_id_l, unique_id_r, match_probability, match_weight"


_EQUALITY = re.compile(r'\(?\s*l\."?(\w+)"?\s*=\s*r\."?(\w+)"?\s*\)?')


def _conjuncts(rule: str) -> list[str]:
    """The parts of ``rule`` joined by AND outside any parentheses (a wrapping pair dropped)."""
    rule = rule.strip()
    while rule.startswith("(") and rule.endswith(")"):
        depth = 0
        for i, ch in enumerate(rule):
            depth += {"(": 1, ")": -1}.get(ch, 0)
            if depth == 0 and i < len(rule) - 1:
                break                   # "(a) AND (b)": the first "(" closes early
        else:
            rule = rule[1:-1].strip()
            continue
        break
    parts, depth, start = [], 0, 0
    for m in re.finditer(r"[()]|\bAND\b", rule, flags=re.IGNORECASE):
        token = m.group(0)
        if token in "()":
            depth += 1 if token == "(" else -1
        elif depth == 0:
            parts.append(rule[start:m.start()])
            start = m.end()
    return [p.strip() for p in parts + [rule[start:]]]


def _column_pairs(rule: str, *, superset: bool = False) -> frozenset[tuple[str, str]] | None:
    """A blocking rule that is only equalities ``l.a = r.b`` joined by AND, as its (a, b) pairs.
    ``superset``: the equalities among the rule's top-level conjuncts, the others (which only
    narrow) left out; None if there is none."""
    pairs = []
    for part in _conjuncts(rule):
        m = _EQUALITY.fullmatch(part)
        if m is None:
            if superset:
                continue
            return None
        pairs.append((m.group(1), m.group(2)))
    return frozenset(pairs) or None



class Scoring:
    """Predicting and guarding pairs (a ``LinkEngine`` component)."""

    _tf_ready = False     # this engine's term-frequency tables are in Splink's cache (it is the db_api's)

    def _tf(self) -> None:
        """Splink's term-frequency tables, by Splink's own formula, counted in the store's DuckDB
        from the one input table (``memory.tf_<column>``, which the run saves) and registered once
        per engine: Splink's cache belongs to the engine's ``db_api`` and outlives each ``Linker``
        (training replaces it), and Splink fills a term-frequency entry only through
        ``compute_tf_table`` or ``register_term_frequency_lookup``, so once registered here every
        later linker (training's, prediction's) finds them and computes none of its own. Splink's
        ``compute_tf_table`` first materialises every column of every input frame (its
        concatenation CTE is read twice), which costs more than the count itself; on another
        engine the tables are sent there like the input, and never brought back."""
        if self._tf_ready:
            return
        tm = self.linker().table_management
        for col in TF_COLUMNS:
            table = f"memory.{INPUT}"
            frame = self._register(f"SELECT {col}, CAST(count(*) AS DOUBLE) / (SELECT count({col}) FROM {table}) "
                                   f"AS tf_{col} FROM {table} WHERE {col} IS NOT NULL GROUP BY {col}",
                                   f"tf_{col}", view=False)
            tm.register_term_frequency_lookup(frame, col)
        self._tf_ready = True

    def predict_full(self, lower: float) -> pd.DataFrame:
        self.settle()      # the rows' copy in memory freed first: the scoring's pairs need the room
        self._tf()
        linker = self.linker()
        blocked = self._blocked_pairs(linker)
        try:
            pred = linker.inference.predict(threshold_match_probability=lower, warning_mode="never")
        finally:
            if blocked is not None:      # the cache outlives this linker: a later predict blocks anew
                self.db_api.remove_splinkdataframe_from_cache(blocked)
                self.con.execute(f"DROP TABLE IF EXISTS memory.{blocked.physical_name}")
        return self._edges(pred)

    def _blocked_pairs(self, linker: Linker):
        """The pairs the prediction rules block, each once, registered for Splink's predict; None
        where Splink must block itself (another engine, exploding or salted rules).

        Splink says each rule's join and keeps a pair only if no earlier rule holds for it, so every
        candidate of every rule is tested against all the rules before it, on keys it builds by
        joining strings; here each rule joins on a row number, the pairs are made unique once, and
        keys are built for the pairs kept only. The rows are numbered in the order of Splink's keys,
        so each rule reads a pair as Splink does (the smaller key as ``l``: ``l.former_upn = r.upn``
        is not its mirror), and ``match_key`` is the first rule that finds it (as Splink's own: its
        comparison SQL selects ``b.match_key`` from the pairs registered, so the column is needed)."""
        rules = linker._settings_obj._blocking_rules_to_generate_predictions
        if (self.backend.sql_dialect != MODEL_DIALECT or linker._settings_obj._link_type != "link_and_dedupe"
                or not rules or any(type(br) is not BlockingRule for br in rules)):
            return None
        info = linker._settings_obj.column_info_settings      # only the columns the rules read: less to sort
        cols = _columns_needed_for_blocking(rules, info.source_dataset_input_column, info.unique_id_input_column)
        self.con.execute(f"CREATE OR REPLACE TABLE memory.block_rows AS SELECT row_number() OVER "
                         f"(ORDER BY source_dataset || '-__-' || unique_id) AS block_rid, "
                         f"{', '.join(c.name for c in cols)} FROM memory.{INPUT}")
        try:
            found = " UNION ALL ".join(
                f"SELECT l.block_rid AS a, r.block_rid AS b, {k} AS rule FROM memory.block_rows l "
                f"JOIN memory.block_rows r "
                f"ON ({br.blocking_rule_sql}) AND l.block_rid < r.block_rid" for k, br in enumerate(rules))
            sql = f"""WITH p AS (SELECT a, b, min(rule) AS rule FROM ({found}) GROUP BY a, b)
SELECT CAST(p.rule AS VARCHAR) AS match_key, x.source_dataset || '-__-' || x.unique_id AS join_key_l,
       y.source_dataset || '-__-' || y.unique_id AS join_key_r
FROM p JOIN memory.block_rows x ON x.block_rid = p.a JOIN memory.block_rows y ON y.block_rid = p.b"""
            # A name of its own each time: Splink refuses to register one name twice.
            frame = self._register(sql, f"blocked_pairs_{uuid.uuid4().hex[:8]}", view=False)
        finally:
            self.con.execute("DROP TABLE IF EXISTS memory.block_rows")
        registered = linker.table_management.register_blocked_pairs_for_predict(frame)
        # Splink would then copy the records the pairs name into two more tables ("source
        # pruning", which pays where few records are paired); nearly every record is paired here.
        registered.metadata["registered_for_predict"] = False
        return registered

    def predict_incremental(self, changed_keys: list[str], lower: float) -> pd.DataFrame:
        """Score only changed or new records: within themselves and against the rest.

        The input is a view over a million stored rows: every column of it is read once, for
        the changed records and their candidates together (``memory.link_near``); finding the
        candidates reads only the columns the blocking rules name."""
        self.settle()
        if not changed_keys:
            return pd.DataFrame(columns=["unique_id_l", "unique_id_r", "match_probability", "match_weight",
                                         "guarded"])
        self._tf()
        with registered(self.con, _changed_df=pd.DataFrame({"k": changed_keys})):
            self.con.execute("CREATE OR REPLACE TABLE memory.changed_keys AS SELECT k FROM _changed_df")
        keyed = ", ".join(["unique_id", *(f'"{c}"' for c in self._blocking_columns())])
        self.con.execute(f"CREATE OR REPLACE TABLE memory.link_new AS SELECT {keyed} FROM memory.{INPUT} "
                         "WHERE unique_id IN (SELECT k FROM memory.changed_keys)")
        self.con.execute(f"CREATE OR REPLACE TABLE memory.link_candidates AS {self._candidates_sql('memory.link_new')}")
        self.con.execute(f"CREATE OR REPLACE TABLE memory.link_near AS SELECT * FROM memory.{INPUT} WHERE unique_id IN "
                         "(SELECT k FROM memory.link_candidates UNION SELECT k FROM memory.changed_keys)")
        new = self._register("SELECT * FROM memory.link_near WHERE unique_id IN (SELECT k FROM memory.changed_keys)",
                             "in_new", view=False)
        near = self._register("SELECT * FROM memory.link_near", "in_near")
        # One prediction, the changed records (left) against themselves and their candidates: a
        # pair of two changed records comes back both ways round (and each record against
        # itself), kept once the way ``predict_within`` would give it (the smaller key as ``l``).
        pred = self.linker().inference.predict_between([new], [near], threshold_match_probability=lower,
                                                       warning_mode="never")
        return self._edges(pred, "memory.link_near", keep=(
            "unique_id_r NOT IN (SELECT k FROM memory.changed_keys) OR "
            "source_dataset_l || '-__-' || unique_id_l < source_dataset_r || '-__-' || unique_id_r"))

    def _blocking_columns(self) -> list[str]:
        """The input columns the prediction rules read (every column when a rule is not plain SQL)."""
        rules = self.linker()._settings_obj._blocking_rules_to_generate_predictions
        if self.backend.sql_dialect != MODEL_DIALECT or any(type(br) is not BlockingRule for br in rules):
            return [r[0] for r in self.con.execute(f"DESCRIBE SELECT * FROM memory.{INPUT}").fetchall()
                    if r[0] != "unique_id"]
        info = self.linker()._settings_obj.column_info_settings
        cols = _columns_needed_for_blocking(rules, info.source_dataset_input_column, info.unique_id_input_column)
        return sorted({c.name.strip('"') for c in cols} - {"unique_id"})

    def _candidates_sql(self, new: str) -> str:
        """Records any blocking rule could pair with a record of ``new`` (either way round): a
        superset of the far side of every pair Splink blocks, so handing Splink only these gives it
        the same pairs without blocking over the whole population. Term frequencies come from the
        registered tables of every record, so the weights are unchanged too."""
        rules = self.linker()._settings_obj._blocking_rules_to_generate_predictions
        # Exploding or salted rules, or rules said in another engine's SQL (Spark's backticks;
        # this join runs in the store's DuckDB): no shortcut, every record is a candidate.
        if self.backend.sql_dialect != MODEL_DIALECT or any(type(br) is not BlockingRule for br in rules):
            return f"SELECT unique_id AS k FROM memory.{INPUT}"
        joins, seen = [], set()
        for rule in (br.blocking_rule_sql for br in rules):
            # The rule's equalities (a superset of its pairs): a narrowing clause with OR or a
            # function would make the join below a nested loop over every record.
            pairs = _column_pairs(rule, superset=True)
            if pairs is None:        # no equality to join on: both ways round, as written
                joins += [f"SELECT r.unique_id AS k FROM memory.{INPUT} r SEMI JOIN {new} l ON {rule}",
                          f"SELECT l.unique_id AS k FROM memory.{INPUT} l SEMI JOIN {new} r ON {rule}"]
                continue
            # l.a = r.b read from the other side is l.b = r.a: each distinct direction joined once.
            for way in (pairs, frozenset((b, a) for a, b in pairs)):
                if way not in seen:
                    seen.add(way)
                    on = " AND ".join(f'l."{a}" = r."{b}"' for a, b in sorted(way))
                    joins.append(f"SELECT r.unique_id AS k FROM memory.{INPUT} r SEMI JOIN {new} l ON {on}")
        return " UNION ".join(joins)

    def term_frequencies(self) -> str:
        """The term-frequency tables the model scored with (``column_name``, ``value``, ``tf``), so a
        single pair can later be scored as it was here: a table in the store's DuckDB, where they
        were counted (``_tf``), whatever engine Splink ran on (nothing is collected from Spark)."""
        self._tf()
        parts = " UNION ALL ".join(f"SELECT '{col}' AS column_name, CAST({col} AS VARCHAR) AS value, "
                                   f"CAST(tf_{col} AS DOUBLE) AS tf FROM memory.tf_{col}" for col in TF_COLUMNS)
        self.con.execute(f"CREATE OR REPLACE TABLE memory.link_tf AS {parts}")
        return "memory.link_tf"

    def _edges(self, pred, rows: str | None = None, keep: str | None = None) -> pd.DataFrame:
        """``pred``'s pairs with the twin guard's verdict; ``rows``: a table holding (at least)
        every record the pairs name, read instead of the whole input for their fields; ``keep``:
        only the pairs this condition (on the pairs' ids and sources) holds for."""
        scored = self.backend.download(self.con, pred, _PRED_COLS + (", source_dataset_l, source_dataset_r"
                                                                     if keep else ""), "link_scored")
        if keep:
            scored = f"(SELECT {_PRED_COLS} FROM {scored} WHERE {keep})"
        sql = twin_guard_sql(scored, f"memory.{INPUT}", "memory.cotwins", rows=rows, twin_names="memory.twin_names",
                             middle_registers=MIDDLE_REGISTERS, held_once=HELD_ONCE)
        df = self.con.execute(sql).df()
        pred.drop_table_from_database_and_remove_from_cache()
        return df

    def reguard(self, edges: str) -> pd.DataFrame:
        """The pairs of ``edges`` (a query of unique_id_l, unique_id_r, guarded) whose twin guard's
        verdict is now another, with the new one: a pair's score is its two records' alone, the
        guard also reads what is around them, so a pair of unchanged records is guarded again
        rather than scored again."""
        now = twin_guard_sql(f"(SELECT unique_id_l, unique_id_r, guarded AS was FROM ({edges}))", f"memory.{INPUT}",
                             "memory.cotwins", twin_names="memory.twin_names", middle_registers=MIDDLE_REGISTERS,
                             held_once=HELD_ONCE)
        return self.con.execute(f"SELECT unique_id_l, unique_id_r, guarded FROM ({now}) "
                                "WHERE guarded IS DISTINCT FROM coalesce(was, false)").df()
