"""Opaque child identifiers: ``C-`` + 12 Crockford base32 characters + a check character.

Random, never derived from personal data. The check character (Luhn mod 32)
catches any single mistyped character and most adjacent transpositions.
"""

from __future__ import annotations

import secrets

__all__ = ["ALPHABET", "check_char", "is_valid_child_id", "mint_child_id"]

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford: no I, L, O, U
_BODY = 12


_VALUE = {ch: i for i, ch in enumerate(ALPHABET)}
_BITS = (len(ALPHABET) - 1).bit_length()      # 5: the alphabet is a power of two, so bits map evenly


def check_char(body: str) -> str:
    """Luhn mod N over the alphabet."""
    n = len(ALPHABET)
    factor, total = 2, 0
    for ch in reversed(body):
        addend = factor * _VALUE[ch]
        factor = 1 if factor == 2 else 2
        total += addend // n + addend % n
    return ALPHABET[(n - total % n) % n]


def mint_child_id() -> str:
    """Uniform over the alphabet: one draw of 60 random bits, 5 to a character (a million ids
    are minted in a first run; a draw per character cost most of the identity stage)."""
    bits = secrets.randbits(_BITS * _BODY)
    body = "".join(ALPHABET[(bits >> (_BITS * i)) & (len(ALPHABET) - 1)] for i in range(_BODY))
    return f"C-{body}{check_char(body)}"


def is_valid_child_id(value: str) -> bool:
    if not value.startswith("C-") or len(value) != 2 + _BODY + 1:
        return False
    body, check = value[2:-1], value[-1]
    return all(c in ALPHABET for c in value[2:]) and check_char(body) == check
