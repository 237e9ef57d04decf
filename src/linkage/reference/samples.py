"""The shipped synthetic registers: fictional schools and GP practices for synth and the demo.

They live beside the connector mappings (``connectors/reference/``) and are never
loaded into a real deployment unless someone asks for them by name.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from linkage.reference.load import read_reference
from linkage.reference.lookup import ReferenceData
from linkage.resources import defaults_dir

__all__ = ["SAMPLE_FILES", "sample_path", "sample_reference"]

SAMPLE_FILES = {"establishments": "establishments_sample.csv", "gp_practices": "gp_practices_sample.csv"}


def sample_path(kind: str) -> Path:
    return defaults_dir("connectors") / "reference" / SAMPLE_FILES[kind]


@lru_cache(maxsize=1)
def sample_reference() -> ReferenceData:
    """Both samples, read (and checked) the way a real file is."""
    ests, _ = read_reference("establishments", sample_path("establishments"))
    practices, _ = read_reference("gp_practices", sample_path("gp_practices"))
    return ReferenceData.of(ests, practices)
