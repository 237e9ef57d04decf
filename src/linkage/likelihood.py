"""A match probability in words a reader can take at face value.

Splink's probabilities round to 1.0 (a strong match's is 0.99999...), so "100% likely" said the
service was certain, which no linkage is. The pages and the command line say "over 99.9%" there,
and "under 0.1%" at the other end; the API's JSON keeps the number.
"""

from __future__ import annotations

__all__ = ["percent"]


def percent(p: float) -> str:
    """``p`` as a percentage that never reads as certain: whole percents, a tenth where a whole
    one would round to 0% or 100%, "over 99.9%" and "under 0.1%" beyond."""
    if p > 0.999:
        return "over 99.9%"
    if p < 0.001:
        return "under 0.1%"
    whole = f"{p * 100:.0f}"
    return f"{p * 100:.1f}%" if whole in ("0", "100") else f"{whole}%"
