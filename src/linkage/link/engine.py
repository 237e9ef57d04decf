"""The Splink facade: train, predict (full or incremental) and cluster.

It borrows the store's DuckDB connection and keeps its working tables in the
in-memory catalog; nothing here writes to the encrypted store. Splink itself runs
on a backend (``link/backends``: DuckDB by default, or Spark); input preparation
and the twin guard always run here in DuckDB, so every backend yields the same pairs.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
import uuid
from collections.abc import Iterable
from pathlib import Path

import duckdb
import pandas as pd
from splink import Linker
from splink.internals.blocking import BlockingRule, _columns_needed_for_blocking
from splink.internals.exceptions import EMTrainingException

from linkage.files import write_private
from linkage.link import spec
from linkage.link.backends import MODEL_DIALECT, DuckDBBackend, LinkBackend
from linkage.link import inputcache
from linkage.link.complement import family_pairs, partner_cohorts, shared_identifiers
from linkage.link.evidence import ClusterPass, candidates_sql, clusters_arrow, decide
from linkage.link.decoys import decoy_pairs
from linkage.link.reach import reach_pairs
from linkage.link.rival import middle_no_rivals, no_rivals
from linkage.link.household import household_pairs
from linkage.link.secondid import one_child_pairs, second_upn_sql
from linkage.link.unique import link_unique
from linkage.link.swaps import unpicked_swaps
from linkage.link.bridge import RecordFacts
from linkage.link.guards import (RARE, cotwin_pairs_sql, cotwin_sql, cotwins_from_pairs_sql, forename_counts_sql,
                                 twin_guard_sql, twin_names_sql)
from linkage.link.vet import second_children
from linkage.link.uestimate import estimate_u, model_narrowed, model_widened
from linkage.link.features import NAME_KEYS_COLUMNS, NAME_KEYS_LISTS, content_sha_sql, input_sql, name_keys_frame
from linkage.store import Store
from linkage.store.schema import t

__all__ = ["LinkEngine", "INPUT", "TF_COLUMNS"]

INPUT = "link_input"
TF_COLUMNS = ("forename", "surname")
_PRED_COLS = "unique_id_l, unique_id_r, match_probability, match_weight"

# The guard's own code: a change to it re-guards every record (see ``guard_sha``).
_GUARD_CODE = hashlib.sha256(f"{RARE}|{cotwin_sql('i')}|{cotwin_pairs_sql('i', 'j')}|"
                             f"{twin_guard_sql('e', 'i', 'c')}".encode()).hexdigest()[:16]

for _name in ("splink", "splink.internals"):
    logging.getLogger(_name).setLevel(logging.ERROR)


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


class LinkEngine:
    def __init__(self, store: Store, records_sql: str, link_type: str = "link_and_dedupe",
                 postcode_is_area: bool = False, backend: LinkBackend | None = None, cache: bool = False) -> None:
        """``cache``: keep Splink's input between runs in the store (``inputcache``), deriving only
        records that are new or changed since; for the linkage run over every current record."""
        self.store = store
        self.link_type = link_type
        self.postcode_is_area = postcode_is_area
        self.con = store.connection
        self._cache: inputcache.Cache | None = None
        if "register" not in {r[0] for r in self.con.execute(f"DESCRIBE SELECT * FROM ({records_sql})").fetchall()}:
            # Records read without their register (``LINK_RECORDS_SQL``): each source is one list.
            records_sql = f"SELECT *, source AS register FROM ({records_sql})"
        try:
            self._build_input(records_sql, cache)
        except BaseException:
            self.settle(quiet=True)
            raise
        self.backend = backend or DuckDBBackend()
        self.db_api = self.backend.bind(self.con)
        self._tag = uuid.uuid4().hex[:8]  # a second run on one connection must not collide
        self._linker: Linker | None = None
        self._model: dict | None = None  # the model in the store's dialect, as last given to linker()
        self._frames: list | None = None
        # Where pair lookups (second_upn_pairs, unrelated_names, one_child) read records: every record,
        # or after ``narrow`` only those a delta's pairs name.
        self._rows = f"memory.{INPUT}"

    # -- input -------------------------------------------------------------
    def _name_keys(self, records_sql: str) -> None:
        con = self.con
        names = [r[0] for r in con.execute(
            f"SELECT DISTINCT x FROM (SELECT split_part(n, ' ', 1) AS x FROM (SELECT forename_std AS n FROM "
            f"({records_sql}) UNION SELECT preferred_forename_std FROM ({records_sql})) "
            f"UNION SELECT replace(forename_std, ' ', '') FROM ({records_sql})) WHERE x IS NOT NULL").fetchall()]
        keys = name_keys_frame(names)
        con.register("_name_keys_df", keys)
        # Typed, so that a run deriving no new names still gets text columns.
        typed = ", ".join(f"CAST({c} AS {'VARCHAR[]' if c in NAME_KEYS_LISTS else 'VARCHAR'}) AS {c}" for c in NAME_KEYS_COLUMNS)
        con.execute(f"CREATE OR REPLACE TABLE memory.name_keys AS SELECT {typed} FROM _name_keys_df")
        con.unregister("_name_keys_df")

    def _build_input(self, records_sql: str, cache: bool) -> None:
        con = self.con
        if cache:
            self._cache = inputcache.build(self.store, records_sql, self._name_keys, f"memory.{INPUT}")
            self.derived = self._cache.derived
            rows = f"SELECT unique_id, forename, content_sha FROM {self._cache.rows}"
        else:
            self._name_keys(records_sql)
            for name in (INPUT, "cotwin_pairs"):     # views over the cache, if a cached run was here
                inputcache.drop(self.store, f"memory.{name}")
            con.execute(f"CREATE OR REPLACE TABLE memory.{INPUT} AS {input_sql(records_sql, 'memory.name_keys')}")
            con.execute(f"CREATE OR REPLACE TABLE memory.cotwin_pairs AS "
                        f"{cotwin_pairs_sql(f'memory.{INPUT}', f'memory.{INPUT}')}")
            self.derived = self.count()
            rows = f"SELECT unique_id, forename, {content_sha_sql('i')} AS content_sha FROM memory.{INPUT} i"
        con.execute(f"CREATE OR REPLACE TABLE memory.cotwins AS {cotwins_from_pairs_sql('memory.cotwin_pairs')}")
        con.execute(f"CREATE OR REPLACE TABLE memory.twin_names AS "
                    f"{twin_names_sql(f'memory.{INPUT}', 'memory.cotwin_pairs')}")
        # guard_sha: what the twin guard reads beyond the record itself that clustering reads too (its
        # co-twins, whether its forename is rare here, the guard's code). When it changes the record is
        # re-clustered and its stored pairs guarded again (``delta.reguard``); content_sha alone
        # binds reviewers' decisions and says what to score again. The names twins are given are not
        # in it: they move with a month's few families yet are borne by thousands of records, and
        # they bear only on the guard of pairs of two such names (``delta.twin_name_pairs``). The
        # empty fourth field keeps the hashes of stores made before. Most records have no co-twin
        # and a common forename: theirs is one value, hashed once.
        guard = "md5(concat_ws('|', '{code}', {twins}, {rare}, ''))"
        common = con.execute("SELECT " + guard.format(code=_GUARD_CODE, twins="''", rare="'false'")).fetchone()[0]
        # How many records hold each forename: read here and by ``record_facts`` (the slips).
        con.execute(f"CREATE OR REPLACE TABLE memory.forename_counts AS {forename_counts_sql(f'memory.{INPUT}')}")
        con.execute(f"""CREATE OR REPLACE TABLE memory.link_hash AS
SELECT s.unique_id AS record_key, s.content_sha,
       CASE WHEN c.cotwins IS NULL AND n.rare = false THEN '{common}' ELSE {guard.format(
           code=_GUARD_CODE, twins="coalesce(CAST(list_sort(c.cotwins) AS VARCHAR), '')",
           rare="coalesce(CAST(n.rare AS VARCHAR), '')")} END AS guard_sha
FROM ({rows}) s LEFT JOIN memory.cotwins c USING (unique_id) LEFT JOIN memory.forename_counts n USING (forename)""")

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

    def _settings(self, model_json: str | None):
        """The model to give Splink: ``model_json`` (else the spec), said in the backend's dialect."""
        settings = json.loads(model_json) if model_json else spec.settings(self.link_type, self.postcode_is_area)
        if not isinstance(settings, dict):
            settings = settings.get_settings(MODEL_DIALECT).as_dict()
        if self.backend.sql_dialect != MODEL_DIALECT:
            self._model = settings
            return self.backend.model_for_backend(settings)
        # Splink runs the levels narrowed (the same conditions, tested faster: ``uestimate.narrowed``);
        # the model leaves the engine as written (``_store_dialect``).
        return model_narrowed(settings)

    def linker(self, model_json: str | None = None) -> Linker:
        if self._linker is None:
            # Splink's validation only logs (at WARNING, below the ERROR its loggers are held to here)
            # and costs a second of SQL parsing on every linker: never run.
            self._linker = Linker(self._input_frames(), self._settings(model_json), log_level=logging.ERROR,
                                  validate_settings=False)
        return self._linker

    def _store_dialect(self, linker: Linker) -> str:
        trained = model_widened(linker.misc.save_model_to_json())
        if self._model is not None:
            trained = self.backend.model_from_backend(trained, self._model)
        return json.dumps(trained, sort_keys=True)

    def model_json(self) -> str:
        """The current model as JSON in the store's dialect, whichever backend trained it."""
        return self._store_dialect(self.linker())

    # -- training ------------------------------------------------------------
    def train(self, max_pairs: float = 2e6, labels: list[tuple[str, str]] | None = None) -> str:
        """Unsupervised training; ``labels`` (pairs a reviewer confirmed as one child), when given,
        then re-estimate each comparison's m probabilities from those pairs (Splink's
        ``estimate_m_from_pairwise_labels``), keeping u from the sample (``_estimate_u``).
        Nothing here samples at random: every backend trains the same model from the same records."""
        self._linker = None
        linker = self.linker(self._estimate_u(max_pairs))
        self._tf()      # EM would otherwise compute them by Splink's slower path; the values are the same
        t = linker.training
        try:
            t.estimate_probability_two_random_records_match(spec.DETERMINISTIC_RULES, recall=0.8)
        except ValueError:
            pass
        prior = linker._settings_obj._probability_two_random_records_match
        if not 0 < prior < 1:  # no deterministic matches yet (e.g. one source): one duplicate per record
            linker._settings_obj._probability_two_random_records_match = 1 / max(self.count(), 2)
        trained = [self._em(rule) for rule in spec.TRAINING_SESSIONS]
        if not any(trained[:2]):
            # No shared identifiers to anchor on (e.g. a single source so far).
            for rule in spec.FALLBACK_SESSIONS:
                self._em(rule)
        if labels:
            self.linker().training.estimate_m_from_pairwise_labels(self.labels_table(labels))
        return self.model_json()

    def _estimate_u(self, max_pairs: float) -> str:
        """The model with u estimated from every pair of a sample we choose: the records first by
        a hash of their key, as many as give ``max_pairs`` pairs. Splink's own sample and its chunks
        select rows by the engine's ``hash()``, which DuckDB and Spark compute differently, so
        one population would train two models; here the sample is chosen, and its pairs counted
        (``uestimate``: one pass where Splink makes one per comparison), in the store's DuckDB
        whatever the backend."""
        rows = math.ceil(0.5 * ((8 * max_pairs + 1) ** 0.5 + 1))  # n(n-1)/2 >= max_pairs, as Splink sizes it
        self.con.execute(f"CREATE OR REPLACE TABLE memory.u_sample AS SELECT * FROM memory.{INPUT} "
                         f"ORDER BY md5('u-sample|' || unique_id), unique_id LIMIT {rows}")
        frames = self._frames_of("memory.u_sample", "us", local=DuckDBBackend().bind(self.con))
        linker = Linker(frames, spec.settings(self.link_type, self.postcode_is_area),
                        log_level=logging.ERROR, validate_settings=False)
        estimate_u(self.con, linker._settings_obj, "memory.u_sample")
        linker._populate_m_u_from_trained_values()
        return json.dumps(linker.misc.save_model_to_json(), sort_keys=True)

    def labels_table(self, pairs: list[tuple[str, str]], scores: list[float] | None = None):
        """Register pairs of current records as a Splink labels table."""
        known = set(self.nodes())
        rows = [(a, b, s) for (a, b), s in zip(pairs, scores or [1.0] * len(pairs)) if a in known and b in known]
        frame = pd.DataFrame({
            "source_dataset_l": [a.split(":", 1)[0] for a, _, _ in rows], "unique_id_l": [a for a, _, _ in rows],
            "source_dataset_r": [b.split(":", 1)[0] for _, b, _ in rows], "unique_id_r": [b for _, b, _ in rows],
            "clerical_match_score": [s for _, _, s in rows]})
        self.con.register("_labels_df", frame)
        try:
            labels = self._register("SELECT * FROM _labels_df", "review_labels", view=False)
        finally:
            self.con.unregister("_labels_df")
        return self.linker().table_management.register_labels_table(labels)

    def _em(self, rule) -> bool:
        """One EM session; on no pairs, or EM collapsing (no matches), the model is restored."""
        snapshot = self.model_json()
        try:
            self.linker().training.estimate_parameters_using_expectation_maximisation(
                rule, fix_u_probabilities=True)
            return True
        except (EMTrainingException, ValueError):
            self._linker = None
            self.linker(snapshot)
            return False

    # -- prediction ----------------------------------------------------------
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
        is not its mirror), and ``match_key`` is the first rule that finds it."""
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
        self.con.register("_changed_df", pd.DataFrame({"k": changed_keys}))
        self.con.execute("CREATE OR REPLACE TABLE memory.changed_keys AS SELECT k FROM _changed_df")
        self.con.unregister("_changed_df")
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
        sql = twin_guard_sql(scored, f"memory.{INPUT}", "memory.cotwins", rows=rows, twin_names="memory.twin_names")
        df = self.con.execute(sql).df()
        pred.drop_table_from_database_and_remove_from_cache()
        return df

    def reguard(self, edges: str) -> pd.DataFrame:
        """The pairs of ``edges`` (a query of unique_id_l, unique_id_r, guarded) whose twin guard's
        verdict is now another, with the new one: a pair's score is its two records' alone, the
        guard also reads what is around them, so a pair of unchanged records is guarded again
        rather than scored again."""
        now = twin_guard_sql(f"(SELECT unique_id_l, unique_id_r, guarded AS was FROM ({edges}))", f"memory.{INPUT}",
                             "memory.cotwins", twin_names="memory.twin_names")
        return self.con.execute(f"SELECT unique_id_l, unique_id_r, guarded FROM ({now}) "
                                "WHERE guarded IS DISTINCT FROM coalesce(was, false)").df()

    # -- clustering inputs ---------------------------------------------------
    def identifiers(self, scope: str | None = None) -> dict[str, dict[str, str | None]]:
        """Each record's NHS number and UPN, the UPN mapped to the root of its history (followed
        through every record); only the records in the table ``scope`` (column ``k``) if given."""
        roots = self._upn_roots()
        where = f" WHERE unique_id IN (SELECT k FROM {scope})" if scope else ""
        rows = self.con.execute(f"SELECT unique_id, nhs_number, upn FROM memory.{INPUT}{where}").fetchall()
        return {k: {"nhs": nhs, "upn": roots.get(upn, upn) if upn else None} for k, nhs, upn in rows}

    def _upn_roots(self) -> dict[str, str]:
        """Each UPN that a FormerUPN history maps elsewhere -> the root of that history."""
        history: dict[str, str] = {}

        def root(u: str) -> str:
            while history.get(u, u) != u:
                u = history[u]
            return u

        pairs = self.con.execute(f"SELECT upn, former_upn FROM memory.{INPUT} "
                                 "WHERE upn IS NOT NULL AND former_upn IS NOT NULL").fetchall()
        for upn, former in pairs:
            if root(upn) != root(former):
                history[root(upn)] = root(former)
        return {u: root(u) for u in {x for pair in pairs for x in pair} if root(u) != u}

    def narrow(self, keys: Iterable[str]) -> None:
        """From now on pair lookups (``second_upn_pairs``, ``unrelated_names``, ``one_child``) read only
        the records ``keys`` (every record any later pair names): a delta's few thousand rows
        copied once, rather than every stored row read for each lookup."""
        self.con.register("_narrow_df", pd.DataFrame({"k": pd.Series(sorted(set(keys)), dtype=object)}))
        try:
            self.con.execute(f"CREATE OR REPLACE TABLE memory.link_rows AS SELECT * FROM memory.{INPUT} "
                             "WHERE unique_id IN (SELECT k FROM _narrow_df)")
        finally:
            self.con.unregister("_narrow_df")
        self._rows = "memory.link_rows"

    def second_upn_pairs(self) -> list[tuple[str, str]]:
        """Pairs of records holding two UPNs whose forename, surname, date of birth and address
        agree exactly, with no other field against them and no twin on either side: one
        pupil, even if the schools gave two UPNs (``cluster.constrained_clusters``' ``soft_upn``).
        The two holders themselves, not whichever pair of records happens to join their
        children: Isla's GP record, exactly her school record, says nothing of Isha's UPN.
        Read by ``secondid.second_upn_sql``."""
        return [tuple(r) for r in self.con.execute(second_upn_sql(self._rows, "memory.cotwins")).fetchall()]

    def unpicked_swaps(self, pairs: pd.DataFrame) -> set[frozenset]:
        """Swapped pairs between two namesakes that nothing else picks (``swaps``): not linked."""
        return unpicked_swaps(self.con, self._rows, pairs, f"memory.{INPUT}")

    def unrelated_names(self, pairs: pd.DataFrame) -> set[frozenset]:
        """Pairs whose forenames share nothing: not alike (Jaro-Winkler < 0.75, first words or the
        whole forenames run together: Tzu Hao, Zihao), not one name,
        not swapped with a surname, not a middle name used, not even the same initial, not one
        sound or one set of consonants. Twins
        Tilly and Olivia: the guard keeps them apart and a reviewer has nothing to decide."""
        if pairs.empty:
            return set()
        self.con.register("_unrel_df", pairs[["unique_id_l", "unique_id_r"]])
        try:
            return {frozenset(r) for r in self.con.execute(f"""
SELECT e.unique_id_l, e.unique_id_r FROM _unrel_df e
JOIN {self._rows} l ON l.unique_id = e.unique_id_l
JOIN {self._rows} r ON r.unique_id = e.unique_id_r
WHERE jaro_winkler_similarity(l.forename, r.forename) < 0.75
  AND jaro_winkler_similarity(l.forename_full, r.forename_full) < 0.75
  AND substr(l.forename, 1, 1) <> substr(r.forename, 1, 1)
  AND NOT list_has_any(l.forename_keys, r.forename_keys)
  AND jaro_winkler_similarity(l.forename, r.surname) < 0.75 AND jaro_winkler_similarity(l.surname, r.forename) < 0.75
  AND NOT coalesce(l.forename = split_part(r.middle_names, ' ', 1), false)
  AND NOT coalesce(r.forename = split_part(l.middle_names, ' ', 1), false)
  AND NOT coalesce(l.forename_full = r.forename_full OR l.forename_dm = r.forename_dm
                   OR l.forename_abjad = r.forename_skel OR l.forename_skel = r.forename_abjad, false)""").fetchall()}
        finally:
            self.con.unregister("_unrel_df")

    def second_children(self, cluster_of: dict[str, str], links: pd.DataFrame) -> dict[str, tuple[str, str]]:
        """Records linked under another forename that a sibling child fits as well
        (``vet.second_children``): record -> (its partner, the sibling's record)."""
        return second_children(self.con, f"memory.{INPUT}", cluster_of, links)

    def no_rivals(self, triples: list[tuple[str, str, str]], cluster_of: dict[str, str],
                  guarded: set[frozenset], identifiers: dict[str, dict[str, str | None]]) -> set[tuple[str, str]]:
        """Of (record, own partner, partner elsewhere) triples whose second pair the guard keeps
        apart (``guarded``), the (record, partner elsewhere) that is no rival (``rival``); of every
        triple, those whose middle name says which child the record is (``rival.middle_no_rivals``)."""
        return no_rivals(self.con, [t for t in triples if frozenset((t[0], t[2])) in guarded], cluster_of,
                         identifiers, self._rows, "memory.forename_counts", "memory.cotwins", "memory.cotwin_pairs") \
            | middle_no_rivals(self.con, triples, cluster_of, f"memory.{INPUT}")

    def record_facts(self, keys: Iterable[str]) -> dict[str, RecordFacts]:
        """Source, sex, first middle name, whether it has a co-twin, forename and whether that is
        rare here (held by at most ``RARE`` records), of each of ``keys`` (``bridge``)."""
        keys = sorted(set(keys))
        if not keys:
            return {}
        self.con.register("_facts_df", pd.DataFrame({"k": pd.Series(keys, dtype=object)}))
        try:
            rows = self.con.execute(f"""
WITH x AS (SELECT i.* FROM memory.{INPUT} i SEMI JOIN _facts_df f ON f.k = i.unique_id)
SELECT x.unique_id, x.source_dataset, x.sex, nullif(split_part(x.middle_names, ' ', 1), ''),
       x.unique_id IN (SELECT unique_id FROM memory.cotwin_pairs), x.forename, coalesce(n.rare, true)
FROM x LEFT JOIN memory.forename_counts n USING (forename)""").fetchall()
        finally:
            self.con.unregister("_facts_df")
        return {k: RecordFacts(src, sex, mid, bool(twin), fore, bool(rare))
                for k, src, sex, mid, twin, fore, rare in rows}

    def one_child(self, pairs: pd.DataFrame, cluster_of: dict[str, str] | None = None) -> set[frozenset]:
        """Pairs that look like one child under a second identifier (``secondid``; with
        ``cluster_of``, a forename typed in one of them too)."""
        return one_child_pairs(self.con, pairs, self._rows, "memory.cotwins", cluster_of)

    def _clusters_table(self, cluster_of: dict[str, str], identifiers: dict[str, dict[str, str | None]]) -> None:
        self.con.register("_clusters_df", clusters_arrow(cluster_of, identifiers))
        try:
            self.con.execute("CREATE OR REPLACE TABLE memory.link_clusters AS SELECT * FROM _clusters_df")
        finally:
            self.con.unregister("_clusters_df")
        # Earlier postcodes the sources hold for these records (one row per address, a column of
        # previous postcodes): homes the records meet others by, and their children's history.
        self.con.execute(f"CREATE OR REPLACE TABLE memory.link_past AS SELECT DISTINCT h.record_key AS unique_id, "
                         f"h.postcode FROM {t('address_history')} h SEMI JOIN memory.{INPUT} x "
                         "ON x.unique_id = h.record_key WHERE h.postcode IS NOT NULL")

    def outside_candidates(self, cluster_of: dict[str, str],
                           identifiers: dict[str, dict[str, str | None]]) -> set[str]:
        """A month's second pass sees only the children it reached (``cluster_of``), yet a full
        relink's pass counts every candidate of theirs (``unique``: a second candidate of any kind
        leaves a pair to a reviewer). Every other current record is put in view under the child it
        kept (``memory.link_population``, which ``cluster_pass`` then counts cohorts over), and
        the records of kept children that the reached records' keys meet as candidates are
        returned (to be reached as well)."""
        self.population(cluster_of, identifiers)
        rows = self.con.execute(candidates_sql(f"memory.{INPUT}", "memory.link_population", "memory.cotwins",
                                               "memory.link_past", focus="memory.link_clusters")).fetchall()
        return {k for row in rows for k in row[:2] if k not in cluster_of}

    def population(self, cluster_of: dict[str, str], identifiers: dict[str, dict[str, str | None]]) -> None:
        """``memory.link_population``: ``cluster_of``'s records in their clusters, every other current
        record under the child it kept (a month's view of the whole population)."""
        self._clusters_table(cluster_of, identifiers)
        roots = self._upn_roots()
        self.con.register("_roots_df", pd.DataFrame({"upn": pd.Series(list(roots), dtype=object),
                                                     "root": pd.Series(list(roots.values()), dtype=object)}))
        try:
            self.con.execute(f"""CREATE OR REPLACE TABLE memory.link_population AS
SELECT * FROM memory.link_clusters UNION ALL
SELECT x.unique_id, 'kept:' || i.child_id, coalesce(r.root, x.upn), x.nhs_number
FROM memory.{INPUT} x JOIN {t('identity')} i ON i.record_key = x.unique_id LEFT JOIN _roots_df r ON r.upn = x.upn
WHERE x.unique_id NOT IN (SELECT unique_id FROM memory.link_clusters)""")
        finally:
            self.con.unregister("_roots_df")

    def _candidates(self) -> pd.DataFrame:
        """``candidates_sql`` over the run's clusters (a stage of its own: the pass's largest join)."""
        return self.con.execute(candidates_sql(f"memory.{INPUT}", "memory.link_clusters", "memory.cotwins",
                                               "memory.link_past")).df()

    def cluster_pass(self, cluster_of: dict[str, str], identifiers: dict[str, dict[str, str | None]],
                     apart: Iterable[tuple[str, str]], population: bool = False) -> ClusterPass:
        """The second, cluster-level pass (``evidence``): pairs of children to join or to queue.
        ``apart``: record pairs the twin guard or a reviewer keeps apart; ``population``: count the
        children that could be a pair's other half over ``outside_candidates``' whole population
        (a month's), not only over ``cluster_of`` (a full run's every record)."""
        self._clusters_table(cluster_of, identifiers)
        rows = self._candidates()
        rows = partner_cohorts(self.con, rows, f"memory.{INPUT}",
                               "memory.link_population" if population else "memory.link_clusters")
        apart = list(apart)
        found = decide(rows.to_dict("records"), apart, cluster_of)
        found.pairs = list(zip(rows["l"], rows["r"])) if not rows.empty else []
        link_unique(rows, found, cluster_of, apart)
        family_pairs(self.con, f"memory.{INPUT}", "memory.link_clusters", found, cluster_of, apart)
        shared_identifiers(self.con, "memory.link_clusters", found, cluster_of, apart)
        household_pairs(self.con, rows, f"memory.{INPUT}", "memory.link_clusters", found, cluster_of, apart)
        decoy_pairs(rows, found, cluster_of, apart)
        reach_pairs(self.con, f"memory.{INPUT}", "memory.link_clusters", "memory.cotwins", found, cluster_of, apart)
        for table in ("link_clusters", "link_past", "link_population"):
            self.con.execute(f"DROP TABLE IF EXISTS memory.{table}")
        return found

    def nodes(self) -> list[str]:
        return [r[0] for r in self.con.execute(f"SELECT unique_id FROM memory.{INPUT}").fetchall()]

    def hashes(self, keys: list[str] | None = None) -> pd.DataFrame:
        """Each current record's content_sha and guard_sha (only ``keys``' if given)."""
        if keys is None:
            return self.con.execute("SELECT record_key, content_sha, guard_sha FROM memory.link_hash").df()
        self.con.register("_hash_keys_df", pd.DataFrame({"k": pd.Series(keys, dtype=object)}))
        try:
            return self.con.execute("SELECT record_key, content_sha, guard_sha FROM memory.link_hash "
                                    "WHERE record_key IN (SELECT k FROM _hash_keys_df)").df()
        finally:
            self.con.unregister("_hash_keys_df")

    @staticmethod
    def save_model(model_json: str, home: Path) -> Path:
        return write_private(Path(home) / "model.json", model_json)
