"""Where the shipped defaults (connector mappings, policies) live.

In a checkout they are the top-level ``connectors/`` and ``policies/``; in an
installed wheel they are packaged under ``linkage/_defaults/``.
"""

from __future__ import annotations

from pathlib import Path

from linkage.errors import ConfigError

__all__ = ["defaults_dir"]


def defaults_dir(name: str) -> Path:
    here = Path(__file__).resolve()
    for candidate in (here.parents[2] / name, here.parent / "_defaults" / name):
        if candidate.is_dir():
            return candidate
    raise ConfigError(f"the default {name}/ folder is not installed")
