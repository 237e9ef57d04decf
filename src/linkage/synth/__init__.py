"""Synthetic extracts that are hard in the ways real data is. Never real people."""

from __future__ import annotations

from pathlib import Path

from linkage.synth.difficulty import CLASSES, DIFFICULTIES, difficulty
from linkage.synth.extracts import write_extracts
from linkage.synth.population import Population, build_population

__all__ = ["CLASSES", "DIFFICULTIES", "Population", "build_population", "synthesise", "write_extracts"]


def synthesise(children: int, seed: int, out: Path, month: int = 1, level: str = "easy",
               ap_trajectories: bool = False) -> dict:
    """Write education.csv, social_care.csv, health.csv, truth.csv, truth_classes.csv and manifest.json;
    with ``ap_trajectories`` also alternative provision histories and nccis.csv (``linkage synth`` does).

    ``level`` is the difficulty (easy, realistic, hard); the command line defaults to realistic,
    this function to easy, the original generator the test fixtures are tuned against.
    """
    return write_extracts(build_population(children, seed, month, difficulty(level)), seed, Path(out),
                          ap_trajectories)
