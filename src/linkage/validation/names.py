"""Name normalisation: any script, case, accents, hyphens, apostrophes, titles and whitespace.

Names arrive in every script a council's families write them in (Arabic, Chinese,
Greek, Cyrillic ...). The display form keeps the original; the normalised form is
transliterated to ASCII (``anyascii``) so that two records of the same child
compare, whatever script each agency used.

Arabic script (Arabic, Urdu, Persian, Pashto ...) is an abjad: it writes consonants and long
vowels' carriers, never short vowels. ``anyascii`` still turns a few of its letters into Latin
vowels (alif maksura ى into ``a``, Urdu's yeh barree ے into ``e``, waw forms into ``o``/``u``),
which would hide that the name came from an abjad (``link.names.abjad_key`` reads a vowelless
name as one). Every Arabic-script letter is therefore folded to consonants only: ``a`` is
dropped, ``e``/``i`` become ``y`` and ``o``/``u`` become ``w`` (the semivowels the consonant
skeleton drops), so موسى is ``mwsy`` and every Arabic-script name normalises without a vowel.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from anyascii import anyascii

from linkage.validation.text import check_text

__all__ = ["encoding_damage", "has_letters", "normalise_name", "strip_title", "TITLES"]

TITLES = frozenset({"mr", "mrs", "miss", "ms", "mx", "master", "dr", "rev", "sir", "dame"})
_SEPARATORS = re.compile(r"[\s\-‐‑‒–—_.,/]+")
_DROP = re.compile(r"[’'`´‘ʼ\"()]")
# What an Arabic-script letter's vowels become: the abjad never writes a vowel (see above).
_ABJAD_VOWELS = str.maketrans({"a": "", "e": "y", "i": "y", "o": "w", "u": "w"})


@lru_cache(maxsize=4096)
def _letter(ch: str) -> str:
    """One letter or vowel sign in ASCII; an Arabic-script letter as consonants and semivowels only.

    Only letters and the marks that spell a vowel are transliterated: symbols and emoji would
    otherwise become words (anyascii turns a smiley into ":grinning:"), and a few marks into
    digits (Cyrillic number signs). The vowel signs of the Indic scripts (Devanagari, Bengali,
    Gurmukhi, Gujarati, Tamil ...) are marks, not letters: without them राहुल was ``rhl``."""
    category = unicodedata.category(ch)
    if not category.startswith(("L", "M")):
        return ch
    out = anyascii(ch)
    if unicodedata.name(ch, "").startswith("ARABIC"):
        out = out.lower().translate(_ABJAD_VOWELS)
    return out if category.startswith("L") or out.isalpha() else ""


def _fold(value: str) -> str:
    if value.isascii():     # the common case: nothing to decompose or transliterate
        return value.casefold()
    decomposed = unicodedata.normalize("NFKD", value)
    # Accents, Arabic short vowels, viramas and nuktas go (combining class above 0); an Indic
    # vowel sign (class 0) stays, to be spelt.
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return "".join(_letter(ch) for ch in unicodedata.normalize("NFC", bare)).casefold()


def _one_byte(value: str) -> bytes | None:
    """The bytes a Windows-1252 (or Latin-1) reading would have made ``value`` of; None if none could."""
    out = bytearray()
    for ch in value:
        try:
            out += ch.encode("cp1252")
        except UnicodeEncodeError:
            if ord(ch) > 0xFF:          # no one-byte reading makes this character
                return None
            out.append(ord(ch))         # the five bytes cp1252 leaves undefined, read as Latin-1
    return bytes(out)


def encoding_damage(value: str) -> tuple[str | None, str] | None:
    """A name an export's encoding damaged before it reached us, or None: (the name as written, when
    it can be known exactly, or None; why). A name's UTF-8 bytes read as Windows-1252 (``ZoÃ«``) read
    back whole as UTF-8, which a real name's letters never do (``Ã`` then ``«``); a letter the
    exporting system could not write became ``?`` or U+FFFD, and is lost."""
    if value.isascii():
        if "?" not in value:
            return None
    elif (raw := _one_byte(value)) is not None:
        try:
            written = raw.decode("utf-8")
        except UnicodeDecodeError:
            written = None
        if written is not None and written != value:
            if why := check_text(written):      # what it reads as must pass every cell's checks too
                return None, (f"{value!r} looks like text read in the wrong encoding (UTF-8 as Windows-1252) "
                              f"before it was exported, but what it reads as is refused ({why}): kept as sent")
            return written, (f"{value!r} is {written!r} read in the wrong encoding (UTF-8 as Windows-1252) "
                             f"before it was exported: stored as {written!r}; ask the sender to correct it")
    if "?" in value or "\ufffd" in value:
        return None, ("a letter replaced by '?' or U+FFFD (the exporting system could not write it in its "
                      "encoding): kept as sent; ask the sender for the name in UTF-8")
    return None


def has_letters(value: str) -> bool:
    """Whether a name holds at least one letter, in any script."""
    return any(unicodedata.category(ch).startswith("L") for ch in value)


def strip_title(tokens: list[str]) -> list[str]:
    while len(tokens) > 1 and tokens[0] in TITLES:
        tokens = tokens[1:]
    return tokens


@lru_cache(maxsize=1 << 16)       # a million records hold a few thousand distinct names
def normalise_name(value: str | None) -> str | None:
    """Lower-case ASCII words joined by single spaces; None when nothing is left.

    Hyphens become spaces so ``Smith-Jones`` equals ``Smith Jones``;
    apostrophes vanish so ``O'Brien`` equals ``OBrien``; ``Ирина`` becomes ``irina``.
    """
    if value is None:
        return None
    folded = _DROP.sub("", _fold(value))
    tokens = [t for t in _SEPARATORS.split(folded) if t]
    tokens = [re.sub(r"[^a-z0-9]", "", t) for t in strip_title(tokens)]
    tokens = [t for t in tokens if t]
    return " ".join(tokens) or None
