"""Name normalisation: case, accents, hyphens, apostrophes, titles and whitespace."""

from __future__ import annotations

import re
import unicodedata

__all__ = ["normalise_name", "strip_title", "TITLES"]

TITLES = frozenset({"mr", "mrs", "miss", "ms", "mx", "master", "dr", "rev", "sir", "dame"})
_SEPARATORS = re.compile(r"[\s\-‐‑‒–—_.,/]+")
_DROP = re.compile(r"[’'`´‘ʼ\"()]")


def _fold(value: str) -> str:
    decomposed = unicodedata.normalize("NFKD", value)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()


def strip_title(tokens: list[str]) -> list[str]:
    while len(tokens) > 1 and tokens[0] in TITLES:
        tokens = tokens[1:]
    return tokens


def normalise_name(value: str | None) -> str | None:
    """Lower-case ASCII words joined by single spaces; None when nothing is left.

    Hyphens become spaces so ``Smith-Jones`` equals ``Smith Jones``;
    apostrophes vanish so ``O'Brien`` equals ``OBrien``.
    """
    if value is None:
        return None
    folded = _DROP.sub("", _fold(value))
    tokens = [t for t in _SEPARATORS.split(folded) if t]
    tokens = [re.sub(r"[^a-z0-9]", "", t) for t in strip_title(tokens)]
    tokens = [t for t in tokens if t]
    return " ".join(tokens) or None
