"""The Splink facade: train, predict (full or incremental) and cluster.

It borrows the store's DuckDB connection and keeps its working tables in the
in-memory catalog; nothing here writes to the encrypted store. Splink itself runs
on a backend (``link/backends``: DuckDB by default, or Spark); input preparation
and the twin guard always run here in DuckDB, so every backend yields the same pairs.

``LinkEngine`` is the entry point, as Splink's ``Linker``; its components each live in their own
file: ``engine_input`` (the input and its hashes), ``engine_training``, ``engine_scoring``,
``engine_records`` (record lookups for clustering) and ``engine_pass`` (the second pass).
"""

from __future__ import annotations

import logging
import uuid
from pathlib import Path

from splink import Linker

from linkage.files import write_private
from linkage.link import inputcache
from linkage.link.backends import DuckDBBackend, LinkBackend
from linkage.link.engine_input import INPUT, TF_COLUMNS, EngineInput
from linkage.link.engine_pass import SecondPass
from linkage.link.engine_records import RecordLookups
from linkage.link.engine_scoring import Scoring
from linkage.link.engine_training import Training
from linkage.store import Store

__all__ = ["LinkEngine", "INPUT", "TF_COLUMNS"]

for _name in ("splink", "splink.internals"):
    logging.getLogger(_name).setLevel(logging.ERROR)


class LinkEngine(EngineInput, Training, Scoring, RecordLookups, SecondPass):
    """One run's engine over the store's records: the components' methods, on one input."""

    def __init__(self, store: Store, records_sql: str, link_type: str = "link_and_dedupe",
                 postcode_is_area: bool = False, backend: LinkBackend | None = None, cache: bool = False) -> None:
        """``cache``: keep Splink's input between runs in the store (``inputcache``), deriving only
        records that are new or changed since; for the linkage run over every current record."""
        self.store = store
        self.link_type = link_type
        self.postcode_is_area = postcode_is_area
        self.con = store.connection
        self._cache: inputcache.Cache | None = None
        columns = {r[0] for r in self.con.execute(f"DESCRIBE SELECT * FROM ({records_sql})").fetchall()}
        if "register" not in columns:
            # Records read without their register (``LINK_RECORDS_SQL``): each source is one list.
            records_sql = f"SELECT *, source AS register FROM ({records_sql})"
        if "on_roll_since" not in columns:
            # ... or without their enrolments: none is evidence of two pupils on roll (``secondid``).
            records_sql = f"SELECT *, CAST(NULL AS DATE[]) AS on_roll_since FROM ({records_sql})"
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

    @staticmethod
    def save_model(model_json: str, home: Path) -> Path:
        return write_private(Path(home) / "model.json", model_json)
