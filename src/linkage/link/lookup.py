"""Score one person's demographics against the linked population.

Candidates come from an index of blocking keys (never a full relink): the
query's keys, computed in Python exactly as the linked records' are in SQL, are
looked up by binary search in a sorted array of key hashes. The candidates' features
are held in memory, and ``FastScorer`` scores them with the trained model's own
level conditions and Splink's arithmetic. Splink's own ``score_pairs`` SQL (read from the
result's public ``sql_used_to_create``, no Splink internals patched) is generated once at
start-up and kept as the reference the tests compare against (and as the path for a model
whose SQL cannot be evaluated in Python).
"""

from __future__ import annotations

import gc
import hashlib
import heapq
import math
import json
import threading
from dataclasses import dataclass, field
from datetime import date

import numpy as np

from linkage.connectors.ingest import LINK_RECORDS_SQL
from linkage.link.engine import INPUT, TF_COLUMNS, LinkEngine
from linkage.link.scoring import FastScorer, match_weight, probability
from linkage.link.features import input_sql, key_names, name_keys_rows, record_features
from linkage.store import Store
from linkage.store.schema import t
from linkage.validation import normalise_name

__all__ = ["BLOCKS", "Candidate", "LookupIndex", "LookupQuery", "blocking_keys", "key_hash"]

INDEX = "lookup_index"
BLOCKS = [("upn",), ("nhs_number",), ("dob", "forename_initial"), ("dob", "surname_initial"),
           ("forename_canon", "surname"), ("forename_canon", "postcode"), ("dob", "postcode_district")]


def _key_expr(rule: int, cols: tuple[str, ...]) -> str:
    return f"'{rule}|' || concat_ws('|', {', '.join(f'CAST({c} AS VARCHAR)' for c in cols)})"


# DuckDB's md5_number_lower and key_hash agree (tests check them on arbitrary text).
KEY_HASH_SQL = "md5_number_lower(k)"


def key_hash(key: str) -> int:
    return int.from_bytes(hashlib.md5(key.encode()).digest()[8:], "little")


def blocking_keys(features: dict) -> list[str]:
    """The query's keys, as ``_key_expr`` makes them for linked records (dates as ISO text)."""
    return [f"{i}|" + "|".join(str(features[c]) for c in cols)
            for i, cols in enumerate(BLOCKS) if all(features[c] is not None for c in cols)]


@dataclass
class LookupQuery:
    forename: str
    surname: str
    date_of_birth: date
    postcode: str | None = None
    upn: str | None = None
    nhs_number: str | None = None
    sex: str | None = None
    middle_names: str | None = None
    address: str | None = None

    def features(self) -> dict:
        return record_features(forename_std=normalise_name(self.forename), surname_std=normalise_name(self.surname),
                               middle_names_std=normalise_name(self.middle_names), date_of_birth=self.date_of_birth,
                               sex=self.sex, postcode=self.postcode, address=self.address, upn=self.upn,
                               nhs_number=self.nhs_number)


@dataclass
class Candidate:
    child_id: str
    match_probability: float
    agreed: dict[str, str] = field(default_factory=dict)
    disagreed: dict[str, str] = field(default_factory=dict)


def _interned(result, batch: int = 100_000) -> list[tuple]:
    """Rows of a query result with repeated values (names, postcodes, dates) shared, read in
    batches: a million records then take a few hundred MB. The collector is paused while
    the millions of tuples are made, which would otherwise trigger collection after
    collection."""
    pools: list[dict] | None = None
    out: list[tuple] = []
    gc.disable()
    try:
        while rows := result.fetchmany(batch):
            pools = pools or [{} for _ in rows[0]]
            columns = [[pool.setdefault(v, v) for v in (tuple(x) if isinstance(x, list) else x for x in values)]
                       for pool, values in zip(pools, zip(*rows))]
            out.extend(zip(*columns))
    finally:
        gc.enable()
    return out


def _floor(hopeless, guess: float, start: float = 1100.0) -> float:
    """A weight at which ``hopeless`` (false above some weight, true at and below it) holds,
    as close under that threshold as cheaply found: ``guess`` a hair lower if that holds (it
    does unless probabilities round to 0 or 1 there), else by bisection down from it."""
    if guess == -math.inf:
        return guess
    if hopeless(at := guess - 1e-6):
        return at
    low, high = -1100.0, min(at, start)      # 2**-1100 is 0.0: no weight is lower
    if not hopeless(low):
        return -math.inf
    while high - low > 1e-3:
        mid = (low + high) / 2
        low, high = (mid, high) if hopeless(mid) else (low, mid)
    return low


class LookupIndex:
    def __init__(self, store: Store) -> None:
        self.store = store
        row = store.rows(f"SELECT settings_json FROM {t('model')} ORDER BY created_at DESC LIMIT 1")
        if not row:
            raise LookupError("no trained model yet: run `linkage link` first")
        self.model = json.loads(row[0][0])
        self.engine = LinkEngine(store, LINK_RECORDS_SQL)
        con = store.connection
        con.execute(f"CREATE OR REPLACE TABLE memory.{INDEX} AS SELECT l.*, i.child_id, "
                    f"CAST(row_number() OVER (ORDER BY l.unique_id) - 1 AS INTEGER) AS rid FROM memory.{INPUT} l "
                    f"JOIN {t('identity')} i ON i.record_key = l.unique_id")
        # Every blocking rule's key ("rule|value|value"), as a 64-bit hash sorted beside
        # its record: a query's candidates are a binary search per key, with no statement.
        keys = con.execute(f"SELECT {KEY_HASH_SQL} AS h, rid FROM ("
                           + " UNION ALL ".join(f"SELECT {_key_expr(i, cols)} AS k, rid FROM memory.{INDEX} "
                                                f"WHERE {' AND '.join(f'{c} IS NOT NULL' for c in cols)}"
                                                for i, cols in enumerate(BLOCKS))
                           + ") ORDER BY h").fetchnumpy()
        self._key_hashes = np.asarray(keys["h"], dtype=np.uint64)
        self._key_rids = np.asarray(keys["rid"], dtype=np.int32)
        con.execute(f"CREATE INDEX IF NOT EXISTS lookup_index_rid ON memory.{INDEX} (rid)")
        self.size = int(con.execute(f"SELECT count(*) FROM memory.{INDEX}").fetchone()[0])
        self._local = threading.local()
        self.engine.linker(json.dumps(self.model))      # the model's Linker: the scorer's and the reference's
        self._score_sql: str | None = None
        self._compiling = threading.Lock()
        self._features_sql = f"INSERT INTO lk_q {input_sql('SELECT * FROM lk_raw', 'lk_names')}"
        tf = {}
        for col in TF_COLUMNS:
            sdf = self.engine.linker().table_management.compute_tf_table(col)
            tf[col] = dict(con.execute(f'SELECT "{col}", "tf_{col}" FROM {sdf.physical_name}').fetchall())
        self.scorer = FastScorer(self.engine.linker(), tf)
        # Candidates' features in memory, by rid, laid out as the scorer reads them.
        self._rows = (_interned(con.execute(f"SELECT {', '.join(self.scorer.columns)}, child_id FROM "
                                            f"memory.{INDEX} ORDER BY rid"))
                      if self.scorer.compiled else [])
        if not self.scorer.compiled:        # every search takes the reference path: compiled now
            self._reference_sql()
        # The engine's working copies are not read again; the memory is the server's.
        for (name,) in con.execute("SELECT table_name FROM duckdb_tables() WHERE database_name = 'memory' AND "
                                   f"(table_name IN ('{INPUT}', 'link_hash') OR table_name LIKE 'in\\_%' "
                                   "ESCAPE '\\')").fetchall():
            con.execute(f'DROP TABLE memory."{name}"')

    def linker_for(self, model_json: str | None):
        """This index's Splink Linker (built for ``_compile``) if ``model_json`` is the model it was
        built from, else None: a reader of that model's settings (the review's waterfall) then
        needs no Linker of its own. Its levels are the narrowed ones Splink runs; what they read
        and weigh is the model's."""
        if model_json is None or json.loads(model_json) != self.model:
            return None
        return self.engine.linker(model_json)

    # -- set-up ----------------------------------------------------------------
    def _cursor(self):
        """A connection per thread, with its TEMP tables (for the reference path) made once.

        Nothing is PREPAREd: DuckDB 1.4.4 returns wrong values from prepared plans over
        TEMP tables refilled after preparation (NULLs read as '', wrong match weights).
        """
        cur = getattr(self._local, "cur", None)
        if cur is None:
            cur = self.store.connection.cursor()
            cur.execute("USE memory")
            cur.execute("CREATE TEMP TABLE lk_raw (record_key VARCHAR, source VARCHAR, forename_std VARCHAR, "
                        "middle_names_std VARCHAR, surname_std VARCHAR, former_surname_std VARCHAR, "
                        "preferred_forename_std VARCHAR, date_of_birth DATE, sex VARCHAR, postcode VARCHAR, "
                        "address VARCHAR, upn VARCHAR, former_upn VARCHAR, nhs_number VARCHAR, register VARCHAR)")
            cur.execute("CREATE TEMP TABLE lk_names (name VARCHAR, keys VARCHAR[], canon VARCHAR, sound VARCHAR, "
                        "skeleton VARCHAR, abjad VARCHAR, near VARCHAR[], family VARCHAR[])")
            cur.execute(f"CREATE TEMP TABLE lk_q AS SELECT * EXCLUDE (child_id, rid) FROM memory.{INDEX} LIMIT 0")
            cur.execute(f"CREATE TEMP TABLE lk_c_ids AS SELECT * FROM memory.{INDEX} LIMIT 0")
            cur.execute("CREATE TEMP TABLE lk_c AS SELECT * FROM lk_q LIMIT 0")
            self._local.cur = cur
        return cur

    def _reference_sql(self) -> str:
        """The reference path's SQL, compiled on its first use. Where the fast scorer serves every
        search (the usual case) only a test asks for it: compiling it at start cost every server
        about 0.5 CPU s of Splink's SQL generation and parsing."""
        with self._compiling:
            if self._score_sql is None:
                self._score_sql = (f"SELECT p.*, c.child_id FROM ({self._compile()}) p "
                                   "JOIN lk_c_ids c ON c.unique_id = p.unique_id_r")
            return self._score_sql

    def _compile(self) -> str:
        """Run Splink's public ``score_pairs`` once on real tables and keep the SQL it generated
        (``SplinkDataFrame.sql_used_to_create``): the reference path runs that SQL on its own cursors."""
        con = self.store.connection
        # The index's columns less its own two are the input's (dropped once the index is built).
        con.execute(f"CREATE OR REPLACE TABLE memory.lk_q AS SELECT * EXCLUDE (child_id, rid) "
                    f"FROM memory.{INDEX} LIMIT 1")
        con.execute(f"CREATE OR REPLACE TABLE memory.lk_c AS SELECT * EXCLUDE (child_id, rid) "
                    f"FROM memory.{INDEX} LIMIT 2")
        linker = self.engine.linker(json.dumps(self.model))
        for col in TF_COLUMNS:
            linker.table_management.compute_tf_table(col)
        db_api = self.engine.db_api
        result = linker.inference.score_pairs(db_api.register("lk_q"), db_api.register("lk_c"))
        select = result.sql_used_to_create
        result.drop_table_from_database_and_remove_from_cache()
        con.execute("DROP TABLE memory.lk_q")
        con.execute("DROP TABLE memory.lk_c")
        return select

    # -- per request -------------------------------------------------------------
    def _sql_query_table(self, cur, q: LookupQuery) -> None:
        """The query row through the features SQL itself, for the reference path."""
        std = {n: normalise_name(v) for n, v in (("forename", q.forename), ("middle_names", q.middle_names),
                                                  ("surname", q.surname))}
        first = (std["forename"] or "").split(" ")[0]
        cur.execute("DELETE FROM lk_raw")
        cur.execute("DELETE FROM lk_names")
        cur.execute("DELETE FROM lk_q")
        cur.execute("INSERT INTO lk_raw VALUES ('query:1', 'query', ?, ?, ?, NULL, NULL, ?, ?, ?, ?, ?, NULL, ?, NULL)",
                    [std["forename"], std["middle_names"], std["surname"], q.date_of_birth, q.sex, q.postcode,
                     q.address, q.upn, q.nhs_number])
        for row in name_keys_rows(key_names(std["forename"]) or [first]):
            cur.execute("INSERT INTO lk_names VALUES (?, ?, ?, ?, ?, ?, ?, ?)", list(row))
        cur.execute(self._features_sql)

    def _spans(self, features: dict) -> list[tuple[int, int]]:
        """Per blocking key of the query, the slice of ``_key_rids`` holding its records."""
        keys = blocking_keys(features)
        if not keys:
            return []
        wanted = np.array([key_hash(k) for k in keys], dtype=np.uint64)
        lo = np.searchsorted(self._key_hashes, wanted, "left")
        hi = np.searchsorted(self._key_hashes, wanted, "right")
        return list(zip(lo.tolist(), hi.tolist()))

    def candidates(self, features: dict) -> list[int]:
        """Row ids of every linked record sharing a blocking key with the query.

        A 64-bit hash collision could only add a candidate, which scoring then judges."""
        return sorted({r for a, b in self._spans(features) for r in self._key_rids[a:b].tolist()})

    def _ranked(self, features: dict) -> list[int]:
        """The same candidates, those of the rarest keys first: the likeliest to score well, so
        that ``_score``'s bound rules the rest out early."""
        spans = sorted(self._spans(features), key=lambda s: s[1] - s[0])
        return list(dict.fromkeys(r for a, b in spans for r in self._key_rids[a:b].tolist()))

    def _reference(self, q: LookupQuery, rids: list[int]) -> list[tuple[float, str, dict]]:
        cur = self._cursor()
        self._sql_query_table(cur, q)
        cur.execute("DELETE FROM lk_c_ids")
        cur.execute("DELETE FROM lk_c")
        cur.execute(f"INSERT INTO lk_c_ids SELECT * FROM memory.{INDEX} WHERE rid IN "
                    f"({', '.join('?' for _ in rids)})", rids)
        cur.execute("INSERT INTO lk_c SELECT * EXCLUDE (child_id, rid) FROM lk_c_ids")
        res = cur.execute(self._reference_sql())
        cols = [d[0] for d in res.description]
        out = []
        for row in res.fetchall():
            r = dict(zip(cols, row))
            out.append((float(r["match_probability"]), r["child_id"],
                        {name: r[f"gamma_{name}"] for name in self.scorer.comparisons}))
        return out

    def _score(self, features: dict, limit: int, min_probability: float,
               within_bits: float | None) -> list[tuple[float, str, dict, int]]:
        """(probability, child, gammas, rid) of every candidate that can be in ``search``'s answer.

        A candidate is given up, often after a comparison or two, once an upper bound on its
        weight shows it cannot be: below ``min_probability``, below the ``limit``-th best child
        found so far, or (``within_bits``) too far below the best. Every bound is no lower than
        the exact weight, and each test only rises as better candidates are found, so the
        candidates kept give exactly the answer that scoring all of them gives."""
        left = tuple(features[c] for c in self.scorer.columns)
        plan = self.scorer.plan(left)
        within = within_bits is not None and within_bits > 0    # else the best could be ruled out
        best_p: dict[str, float] = {}     # child -> its best probability so far (>= min_probability)
        kth, top = -1.0, None             # the limit-th best child's probability; the best's match weight

        def hopeless(weight: float) -> bool:
            p = probability(weight)
            return (p < min_probability or p < kth
                    or (top is not None and top - match_weight(round(p, 6)) >= within_bits))

        floor = _floor(hopeless, match_weight(min_probability) if min_probability > 0 else -math.inf)
        scored = []
        for rid in self._ranked(features):
            right = self._rows[rid]
            found = self.scorer.bounded(left, right, plan, floor)
            if found is None:
                continue
            gammas, (weight, p) = found
            cid = right[-1]
            scored.append((p, cid, gammas, rid))
            if p < min_probability or p <= best_p.get(cid, -1.0):
                continue
            best_p[cid] = p
            guess = floor
            if len(best_p) >= limit:
                kth = heapq.nlargest(limit, best_p.values())[-1]
                guess = max(guess, match_weight(kth))
            if within and p == max(best_p.values()):
                top = match_weight(round(p, 6))
                # Where probabilities round to 1 a weight's rounded match weight is far above it:
                # the guess is then the weight whose probability rounds to the 6-place value below.
                near = probability(top - within_bits)
                guess = max(guess, min(top - within_bits, match_weight(math.floor(near * 1e6) / 1e6 + 4e-7)))
            if guess > floor:
                floor = max(floor, _floor(hopeless, guess, weight))
        return scored

    def search(self, q: LookupQuery, limit: int = 10, min_probability: float = 0.05,
               reference: bool = False, within_bits: float | None = None) -> list[Candidate]:
        """Candidates, best first, each child once (its best-scoring record).

        ``within_bits``: only children whose match weight (of the rounded probability) is less
        than this many bits below the best's are listed, the best always; a lookup needs no more,
        and the rest need not be scored in full. ``reference=True`` scores through Splink's own
        compiled ``score_pairs`` SQL instead of the fast path (tests compare the two)."""
        features = q.features()
        if reference or not self.scorer.compiled:
            rids = self.candidates(features)
            scored = [(p, cid, gammas, i) for i, (p, cid, gammas) in enumerate(self._reference(q, rids))] \
                if rids else []
        else:
            scored = self._score(features, limit, min_probability, within_bits)
        best: dict[str, Candidate] = {}
        # Equal probabilities keep the order of the records (row id), as they always have.
        for p, cid, gammas, _ in sorted(scored, key=lambda x: (-x[0], x[3])):
            if cid in best or p < min_probability:
                continue
            agreed, disagreed = self.scorer.labels(gammas)
            best[cid] = Candidate(cid, round(p, 6), agreed, disagreed)
            if len(best) == limit:
                break
        found = list(best.values())
        if within_bits is not None and found:
            top = match_weight(found[0].match_probability)
            found = found[:1] + [c for c in found[1:] if top - match_weight(c.match_probability) < within_bits]
        return found
