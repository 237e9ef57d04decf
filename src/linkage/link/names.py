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

__all__ = ["NEAR_SHORTEST", "abjad_key", "consonant_skeleton", "forename_keys", "name_family", "near_keys",
           "nicknames_of", "one_edit", "nicknamer", "sound_key", "transliterations"]

_UK = Path(__file__).with_name("nicknames_uk.csv")
# Diminutives of the languages most spoken in English schools after English (Polish first),
# which the nicknames package (American English) does not hold: Kuba is Jakub, Ola Aleksandra.
_INTL = Path(__file__).with_name("nicknames_intl.csv")
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
    for table in (_UK, _INTL):
        with open(table, encoding="utf-8") as fh:
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
def name_family(name: str | None) -> list[str]:
    """Every form of a forename the tables know: its keys and each key's nicknames (Elizabeth:
    Betsy, Beth, Liz...). Too wide to call two forenames one name, it tells a forename written
    in the surname's place under another form (Angus Betsy, Elizabeth Angus: a swap)."""
    if not name:
        return []
    keys = forename_keys(name)[0]
    return sorted({*keys, *(n for k in keys for n in nicknames_of(k))})


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


# Names shorter than this have too many neighbours one typed character away (Iv: Ivy, Ian, Eva...)
# for a slip to say which name was meant.
NEAR_SHORTEST = 4


def _deletions(name: str) -> set[str]:
    return {name[:i] + name[i + 1:] for i in range(len(name))}


@lru_cache
def _known_by_deletion() -> dict[str, frozenset[str]]:
    """Every name the nickname and transliteration tables know, under itself and each spelling
    one letter shorter: two names one typed character apart (a letter changed, added, dropped
    or two swapped) share an entry (the symmetric-deletion index)."""
    lookup = nicknamer().nickname_lookup
    known = set(lookup) | {v for vs in lookup.values() for v in vs}
    index: dict[str, set[str]] = {}
    for name in known:
        for variant in {name, *_deletions(name)}:
            index.setdefault(variant, set()).add(name)
    return {k: frozenset(v) for k, v in index.items()}


def one_edit(a: str, b: str) -> bool:
    """Optimal string alignment distance of at most one."""
    if a == b:
        return True
    if abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        d = [i for i, (x, y) in enumerate(zip(a, b)) if x != y]
        return len(d) == 1 or (len(d) == 2 and d[1] == d[0] + 1 and a[d[0]] == b[d[1]] and a[d[1]] == b[d[0]])
    short, long_ = (a, b) if len(a) < len(b) else (b, a)
    return any(long_[:i] + long_[i + 1:] == short for i in range(len(long_)))


@lru_cache(maxsize=65536)
def near_keys(name: str | None) -> list[str]:
    """The keys of the names one typed character from ``name``, when ``name`` itself is no name
    the tables know: the nickname of a typo-neighbour (Mstty is one slip from Matty, a nickname
    of Matthew; Loen from Leon, whose keys hold Leo). Empty for a known name (a real name is not
    read as a slip of another: Mary is not Mark) and for names shorter than ``NEAR_SHORTEST``.
    A slip is rare, so callers weigh these keys only for forenames few records hold."""
    if not name or len(name) < NEAR_SHORTEST or " " in name:
        return []
    index = _known_by_deletion()
    if name in index.get(name, ()):
        return []
    found = {n for v in {name, *_deletions(name)} for n in index.get(v, ()) if one_edit(name, n)}
    return sorted({k for n in found for k in forename_keys(n)[0]})
