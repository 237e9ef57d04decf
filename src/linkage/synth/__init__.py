"""Synthetic extracts that are hard in the ways real data is. Never real people."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

from linkage.synth.difficulty import CLASSES, DIFFICULTIES, difficulty
from linkage.synth.extracts import write_extracts
from linkage.synth.population import Population, build_population

__all__ = ["CLASSES", "DIFFICULTIES", "Population", "build_population", "ingest_extracts", "synthesise",
           "write_extracts"]

SOURCES = ("education", "social_care", "health")


def synthesise(children: int, seed: int, out: Path, month: int = 1, level: str = "easy",
               ap_trajectories: bool = False) -> dict:
    """Write education.csv, social_care.csv, health.csv, truth.csv, truth_classes.csv and manifest.json;
    with ``ap_trajectories`` also alternative provision histories and nccis.csv (``linkage synth`` does).

    ``level`` is the difficulty (easy, realistic, hard); the command line defaults to realistic,
    this function to easy, the original generator the test fixtures are tuned against.
    """
    return write_extracts(build_population(children, seed, month, difficulty(level)), seed, Path(out),
                          ap_trajectories)


def ingest_extracts(store, directory: Path, extract_date: date | None = None) -> list:
    """Ingest what ``synthesise`` wrote, as a local authority would: the three extracts, then each
    second file of a source (manifest ``second_files``) with ``--amend`` under its own mapping.
    Returns the IngestResults in that order."""
    from linkage.connectors import ingest_file, ingest_files
    from linkage.connectors.filescan import read_ahead

    directory = Path(directory)
    manifest = json.loads((directory / "manifest.json").read_text())
    when = extract_date or date.fromisoformat(manifest["extract_date"])
    read_ahead(directory / name for name in manifest.get("second_files", {}))     # ingest_files reads its own ahead
    results = list(ingest_files(store, [(s, directory / f"{s}.csv") for s in SOURCES], extract_date=when))
    for name, spec in manifest.get("second_files", {}).items():
        results.append(ingest_file(store, spec["source"], directory / name, directory / spec["mapping"],
                                   extract_date=when, amend=True))
    return results
