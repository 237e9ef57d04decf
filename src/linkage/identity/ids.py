"""Opaque child identifiers: ``C-`` + 12 Crockford base32 characters + a check character.

Random, never derived from personal data. The check character (Luhn mod 32)
catches any single mistyped character and most adjacent transpositions.
"""

from __future__ import annotations

import secrets

import numpy as np

__all__ = ["ALPHABET", "check_char", "is_valid_child_id", "mint_child_id", "mint_child_ids", "typed_child_id",
           "typed_pair_id"]

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


def mint_child_ids(n: int) -> list[str]:
    """``n`` identifiers as ``mint_child_id`` makes them (60 random bits each, the same
    characters and check character), drawn and spelt for all at once: a first run at a million
    records mints over half a million, and one at a time that was most of the identity stage."""
    if n <= 0:
        return []
    bits = np.frombuffer(secrets.token_bytes(8 * n), dtype=np.uint64) & np.uint64((1 << (_BITS * _BODY)) - 1)
    mask = np.uint64(len(ALPHABET) - 1)
    # Character i of the body is bits i*5 .. i*5+4, as in mint_child_id.
    values = np.stack([(bits >> np.uint64(_BITS * i)) & mask for i in range(_BODY)], axis=1).astype(np.int64)
    # Luhn mod N as check_char: from the right, factors 2, 1, 2, ...
    factors = np.array([2 if (_BODY - 1 - i) % 2 == 0 else 1 for i in range(_BODY)], dtype=np.int64)
    addends = values * factors
    total = (addends // len(ALPHABET) + addends % len(ALPHABET)).sum(axis=1)
    check = (len(ALPHABET) - total % len(ALPHABET)) % len(ALPHABET)
    letters = np.array(list(ALPHABET), dtype="<U1")
    spelt = np.ascontiguousarray(letters[np.concatenate([values, check[:, None]], axis=1)])
    return ["C-" + body for body in spelt.view(f"<U{_BODY + 1}").ravel().tolist()]


def is_valid_child_id(value: str) -> bool:
    if not value.startswith("C-") or len(value) != 2 + _BODY + 1:
        return False
    body, check = value[2:-1], value[-1]
    return all(c in ALPHABET for c in value[2:]) and check_char(body) == check


_TYPED = str.maketrans({"O": "0", "I": "1", "L": "1"})


def typed_child_id(value: str) -> str:
    """An identifier as a person types or reads it out: Crockford's base32 is read whatever the
    case, with spaces and hyphens ignored, O as 0 and I or L as 1 (``c-7m2q 9xk4 b1tzp``). Only
    a reading the check character confirms is taken; anything else is returned as typed (trimmed),
    to be reported as it stands."""
    v = value.strip()
    flat = "".join(v.replace("-", " ").split()).upper()
    if not flat.startswith("C"):
        return v
    read = "C-" + flat[1:].translate(_TYPED)
    return read if is_valid_child_id(read) else v


def typed_pair_id(value: str) -> str:
    """A review pair's id (``rv-`` and 16 hex digits) whatever the case and surrounding spaces."""
    v = value.strip()
    return v.lower() if len(v) == 19 and v[:3].lower() == "rv-" else v
