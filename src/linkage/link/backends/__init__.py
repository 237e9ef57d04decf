"""Where Splink runs: DuckDB (default) or Spark, behind one small interface."""

from __future__ import annotations

from pathlib import Path

from linkage.link.backends.base import MODEL_DIALECT, LinkBackend
from linkage.link.backends.duckdb import DuckDBBackend

__all__ = ["ENGINES", "MODEL_DIALECT", "DuckDBBackend", "LinkBackend", "make_backend"]

ENGINES = ("duckdb", "spark")


def make_backend(engine: str, home: Path, settings=None) -> LinkBackend:
    """The backend named ``engine`` (``LINKAGE_ENGINE``), configured from ``settings``."""
    if engine == "duckdb":
        return DuckDBBackend()
    if engine == "spark":
        from linkage.config import get_settings
        from linkage.link.backends.spark import SparkBackend  # pyspark is an optional extra

        return SparkBackend.from_settings(settings or get_settings(), home)
    raise ValueError(f"unknown link engine {engine!r}: one of {', '.join(ENGINES)}")
