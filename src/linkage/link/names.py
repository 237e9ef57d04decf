"""Forename equivalence: nicknames and diminutives map to shared keys.

A name's keys are itself plus its canonical forms, so Alex and Alexander
share ``alexander`` while Alexander and Alexandra share nothing.
"""

from __future__ import annotations

import csv
from functools import lru_cache
from pathlib import Path

from nicknames import NickNamer

__all__ = ["forename_keys", "nicknames_of", "nicknamer"]

_UK = Path(__file__).with_name("nicknames_uk.csv")


@lru_cache
def nicknamer() -> NickNamer:
    lookup: dict[str, set[str]] = {k: set(v) for k, v in NickNamer().nickname_lookup.items()}
    with open(_UK, encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            lookup.setdefault(row["name1"], set()).add(row["name2"])
    return NickNamer(nickname_lookup=lookup)


def nicknames_of(name: str) -> set[str]:
    return nicknamer().nicknames_of(name)


def forename_keys(name: str | None) -> tuple[list[str], str | None]:
    """(keys, canonical blocking key) for a normalised forename."""
    if not name:
        return [], None
    first = name.split(" ", 1)[0]
    canon = sorted(nicknamer().canonicals_of(first))
    keys = sorted({first, *canon})
    return keys, (canon[0] if canon else first)
