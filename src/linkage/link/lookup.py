"""Score one person's demographics against the linked population.

Candidates come from an indexed blocking query (never a full relink) and are
scored with the trained model by ``FastScorer``, which reproduces Splink's
arithmetic exactly. Splink's own ``score_pairs`` SQL is compiled once at
start-up and kept as the reference the tests compare against. Each thread
works in its own TEMP tables, so concurrent lookups need no lock.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from datetime import date

from linkage.connectors.ingest import CURRENT_RECORDS_SQL
from linkage.link.engine import INPUT, TF_COLUMNS, LinkEngine
from linkage.link.scoring import FastScorer
from linkage.link.features import input_sql, name_keys_rows
from linkage.store import Store
from linkage.store.schema import t
from linkage.validation import normalise_name

__all__ = ["Candidate", "LookupIndex", "LookupQuery"]

INDEX = "lookup_index"
_BLOCKS = [("upn",), ("nhs_number",), ("dob", "forename_initial"), ("dob", "surname_initial"),
           ("forename_canon", "surname"), ("forename_canon", "postcode"), ("dob", "postcode_district")]


def _key_expr(rule: int, cols: tuple[str, ...]) -> str:
    return f"'{rule}|' || concat_ws('|', {', '.join(f'CAST({c} AS VARCHAR)' for c in cols)})"


_QUERY_KEYS = " UNION ALL ".join(
    f"SELECT {_key_expr(i, cols)} FROM lk_q WHERE {' AND '.join(f'{c} IS NOT NULL' for c in cols)}"
    for i, cols in enumerate(_BLOCKS))


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


@dataclass
class Candidate:
    child_id: str
    match_probability: float
    agreed: dict[str, str] = field(default_factory=dict)
    disagreed: dict[str, str] = field(default_factory=dict)


class LookupIndex:
    def __init__(self, store: Store) -> None:
        self.store = store
        row = store.rows(f"SELECT settings_json FROM {t('model')} ORDER BY created_at DESC LIMIT 1")
        if not row:
            raise LookupError("no trained model yet: run `linkage link` first")
        self.model = json.loads(row[0][0])
        self.engine = LinkEngine(store, CURRENT_RECORDS_SQL)
        con = store.connection
        con.execute(f"CREATE OR REPLACE TABLE memory.{INDEX} AS SELECT l.*, i.child_id FROM memory.{INPUT} l "
                    f"JOIN {t('identity')} i ON i.record_key = l.unique_id")
        # One indexed key column ("rule|value|value") answers every blocking rule with a
        # single IN-list index scan; multi-column predicates would scan the table.
        con.execute(f"CREATE OR REPLACE TABLE memory.lookup_keys AS "
                    + " UNION ALL ".join(f"SELECT {_key_expr(i, cols)} AS k, unique_id FROM memory.{INDEX} "
                                         f"WHERE {' AND '.join(f'{c} IS NOT NULL' for c in cols)}"
                                         for i, cols in enumerate(_BLOCKS)))
        con.execute("CREATE INDEX IF NOT EXISTS lookup_keys_k ON memory.lookup_keys (k)")
        con.execute(f"CREATE INDEX IF NOT EXISTS lookup_index_uid ON memory.{INDEX} (unique_id)")
        self.size = int(con.execute(f"SELECT count(*) FROM memory.{INDEX}").fetchone()[0])
        self._local = threading.local()
        self._score_sql = (f"SELECT p.*, c.child_id FROM ({self._compile()}) p "
                           "JOIN lk_c_ids c ON c.unique_id = p.unique_id_r")
        self._features_sql = f"INSERT INTO lk_q {input_sql('SELECT * FROM lk_raw', 'lk_names')}"
        tf = {}
        for col in TF_COLUMNS:
            sdf = self.engine.linker().table_management.compute_tf_table(col)
            tf[col] = dict(con.execute(f'SELECT "{col}", "tf_{col}" FROM {sdf.physical_name}').fetchall())
        self.scorer = FastScorer(self.engine.linker(), tf)
        columns = [r[0] for r in con.execute(f"DESCRIBE memory.{INPUT}").fetchall()]
        self._fast_sql = self.scorer.pair_sql(columns, "lk_q", "lk_c_ids", extra=", r.child_id")

    # -- set-up ----------------------------------------------------------------
    def _cursor(self):
        """A connection per thread, with its TEMP tables made once.

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
                        "address VARCHAR, upn VARCHAR, former_upn VARCHAR, nhs_number VARCHAR)")
            cur.execute("CREATE TEMP TABLE lk_names (name VARCHAR, keys VARCHAR[], canon VARCHAR)")
            cur.execute(f"CREATE TEMP TABLE lk_q AS SELECT * FROM memory.{INPUT} LIMIT 0")
            cur.execute(f"CREATE TEMP TABLE lk_c_ids AS SELECT * FROM memory.{INDEX} LIMIT 0")
            cur.execute(f"CREATE TEMP TABLE lk_c AS SELECT * FROM memory.{INPUT} LIMIT 0")
            self._local.cur = cur
        return cur

    def _compile(self) -> str:
        """Run score_pairs once on real tables and keep the SQL Splink generated."""
        con = self.store.connection
        con.execute(f"CREATE OR REPLACE TABLE memory.lk_q AS SELECT * FROM memory.{INPUT} LIMIT 1")
        con.execute(f"CREATE OR REPLACE TABLE memory.lk_c AS SELECT * EXCLUDE (child_id) FROM memory.{INDEX} LIMIT 2")
        linker = self.engine.linker(json.dumps(self.model))
        self.engine._tf()
        captured: list[str] = []
        db_api = self.engine.db_api
        original = db_api._execute_sql_against_backend
        db_api._execute_sql_against_backend = lambda sql: (captured.append(sql), original(sql))[1]
        try:
            q = db_api.table_to_splink_dataframe("lk_q", "lk_q")
            c = db_api.table_to_splink_dataframe("lk_c", "lk_c")
            result = linker.inference.score_pairs(q, c)
        finally:
            db_api._execute_sql_against_backend = original
        result.drop_table_from_database_and_remove_from_cache()
        create = next(s for s in reversed(captured) if s.lstrip().upper().startswith("CREATE TABLE"))
        select = create[create.upper().index(" AS") + 3:]
        con.execute("DROP TABLE memory.lk_q")
        con.execute("DROP TABLE memory.lk_c")
        return select

    # -- per request -------------------------------------------------------------
    def _query_table(self, cur, q: LookupQuery) -> tuple:
        std = {n: normalise_name(v) for n, v in (("forename", q.forename), ("middle_names", q.middle_names),
                                                  ("surname", q.surname))}
        first = (std["forename"] or "").split(" ")[0]
        cur.execute("DELETE FROM lk_raw")
        cur.execute("DELETE FROM lk_names")
        cur.execute("DELETE FROM lk_q")
        cur.execute("INSERT INTO lk_raw VALUES ('query:1', 'query', ?, ?, ?, NULL, NULL, ?, ?, ?, ?, ?, NULL, ?)",
                    [std["forename"], std["middle_names"], std["surname"], q.date_of_birth, q.sex, q.postcode,
                     q.address, q.upn, q.nhs_number])
        cur.execute("INSERT INTO lk_names VALUES (?, ?, ?)", list(name_keys_rows([first])[0]))
        cur.execute(self._features_sql)
        return tuple(r[0] for r in cur.execute(_QUERY_KEYS).fetchall())

    def _candidates(self, cur, keys: tuple) -> int:
        cur.execute("DELETE FROM lk_c_ids")
        if not keys:
            return 0
        # Two index scans with constant lists; an IN (subquery) would hash-join all records.
        ids = [r[0] for r in cur.execute(f"SELECT DISTINCT unique_id FROM memory.lookup_keys WHERE k IN "
                                         f"({', '.join('?' for _ in keys)})", list(keys)).fetchall()]
        if not ids:
            return 0
        cur.execute(f"INSERT INTO lk_c_ids SELECT * FROM memory.{INDEX} WHERE unique_id IN "
                    f"({', '.join('?' for _ in ids)})", ids)
        return len(ids)

    def search(self, q: LookupQuery, limit: int = 10, min_probability: float = 0.05,
               reference: bool = False) -> list[Candidate]:
        """Candidates, best first. ``reference=True`` scores through Splink's own
        compiled ``score_pairs`` SQL instead of the fast path (tests compare the two)."""
        cur = self._cursor()
        keys = self._query_table(cur, q)
        if not self._candidates(cur, keys):
            return []
        if reference:
            # Splink's compiled SQL reads the candidates from lk_c, without child ids.
            cur.execute("DELETE FROM lk_c")
            cur.execute("INSERT INTO lk_c SELECT * EXCLUDE (child_id) FROM lk_c_ids")
            res = cur.execute(self._score_sql)
        else:
            res = cur.execute(self._fast_sql)
        cols = [d[0] for d in res.description]
        scored = []
        for row in res.fetchall():
            r = dict(zip(cols, row))
            gammas = {name: r[f"gamma_{name}"] for name in self.scorer.comparisons}
            p = r["match_probability"] if reference else self.scorer.weight(gammas, r)[1]
            scored.append((float(p), r["child_id"], gammas))
        best: dict[str, Candidate] = {}
        for p, cid, gammas in sorted(scored, key=lambda x: -x[0]):
            if cid in best or p < min_probability:
                continue
            agreed, disagreed = self.scorer.labels(gammas)
            best[cid] = Candidate(cid, round(p, 6), agreed, disagreed)
        return list(best.values())[:limit]
