"""Synthetic extracts that are hard in the ways real data is. Never real people."""

from __future__ import annotations

from pathlib import Path

from linkage.synth.extracts import write_extracts
from linkage.synth.population import Population, build_population

__all__ = ["Population", "build_population", "synthesise", "write_extracts"]


def synthesise(children: int, seed: int, out: Path, month: int = 1, ap_trajectories: bool = False) -> dict:
    """Write education.csv, social_care.csv, health.csv, truth.csv and manifest.json; with
    ``ap_trajectories`` also alternative provision histories and nccis.csv (``linkage synth`` does)."""
    return write_extracts(build_population(children, seed, month), seed, Path(out), ap_trajectories)
