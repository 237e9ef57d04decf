"""Forename equivalence: nicknames, diminutives and transliterations map to shared keys.

A name's keys are itself plus its canonical forms, so Alex and Alexander
share ``alexander`` while Alexander and Alexandra share nothing.

Names written in another script reach the agencies through different
romanizations (Arabic Muhammad/Mohammed/Mohamed, Russian Aleksandr/Alexander,
Greek Ioannis/Yiannis). ``transliterations.csv`` lists variants that a published
romanization standard or the ONS baby-name statistics show to be one name, each row
citing its source; a variant is then one more nickname of its canonical spelling.
Only forenames: Chinese surnames are left out on purpose, since one romanization
maps onto several characters (Wade-Giles Chang is pinyin Zhang, but pinyin Chang is
another family name), so Zhang/Chang is not one name. Spellings the table does not
list still meet through ``sound_key`` (double metaphone), a weaker level of the model.
"""

from __future__ import annotations

import csv
import re
from functools import lru_cache
from pathlib import Path

from doublemetaphone import doublemetaphone
from nicknames import NickNamer

__all__ = ["abjad_key", "consonant_skeleton", "forename_keys", "nicknames_of", "nicknamer", "sound_key",
           "transliterations"]

_UK = Path(__file__).with_name("nicknames_uk.csv")
_TRANSLIT = Path(__file__).with_name("transliterations.csv")


@lru_cache
def transliterations() -> dict[str, set[str]]:
    """Canonical spelling -> its transliteration variants (from ``transliterations.csv``)."""
    out: dict[str, set[str]] = {}
    with open(_TRANSLIT, encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            out.setdefault(row["canonical"], set()).add(row["variant"])
    return out


@lru_cache
def nicknamer() -> NickNamer:
    lookup: dict[str, set[str]] = {k: set(v) for k, v in NickNamer().nickname_lookup.items()}
    with open(_UK, encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            lookup.setdefault(row["name1"], set()).add(row["name2"])
    for canonical, variants in transliterations().items():
        lookup.setdefault(canonical, set()).update(variants)
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


@lru_cache(maxsize=65536)
def sound_key(name: str | None) -> str | None:
    """The primary double metaphone code of a normalised name, its words run together
    (Mohammed and Muhammad both MHMT; Hsiao-ling and Xiaoling both SLNK), or None. Short codes
    collide often (Ellie, Eli, Yulia: AL), so the model weighs this as a weak level and the
    twin guard does not count it as one name."""
    if not name:
        return None
    code = doublemetaphone(name.replace(" ", ""))[0]
    return code or None


_VOWELS = re.compile(r"[aeiou]")


@lru_cache(maxsize=65536)
def consonant_skeleton(name: str | None) -> str | None:
    """A name as an abjad writes it: Arabic script marks no short vowels, so an original-script
    record transliterates to consonants only (محمد -> mhmd). Drop vowels and the semivowels y
    and w, run doubled letters together and drop a final h (ta marbuta): Muhammad, Mohammed and
    mhmd all give mhmd; Fatimah, Fatima and ftmh give ftm."""
    if not name:
        return None
    bare = re.sub(r"[^a-z]", "", name.replace("'", "").replace("`", ""))
    bare = re.sub(r"[aeiouyw]", "", bare)
    bare = re.sub(r"(.)\1+", r"\1", bare)
    bare = bare[:-1] if len(bare) > 2 and bare.endswith("h") else bare
    return bare or None


def abjad_key(name: str | None) -> str | None:
    """The skeleton of a name written without vowels (so likely from Arabic script), else None."""
    if not name or _VOWELS.search(name):
        return None
    return consonant_skeleton(name)
