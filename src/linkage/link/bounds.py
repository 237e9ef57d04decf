"""Bounds on what unsupervised training may conclude: no single field's disagreement a veto.

Expectation maximisation drifts to the edges of the simplex on data it was not designed for. On
the independent generator's extracts (docs/benchmarks.md, "Fresh independent data") it put the m
probability of a level at 1e-52 to 1e-85 (an address or a sex that differs, a date of birth more
than a month out) and once put a shared middle name at m = 0: 170 to 280 bits against, so a move,
a sex mistyped, or a middle name both records hold, kept two records of one child apart however
much else agreed. How many true pairs fall in a level is learnt from the training sessions'
matches; an estimate below ``M_FLOOR`` says only that the sessions saw too few to tell, so the
estimate is raised to it (the largest level of the comparison gives the difference back, so the
m probabilities still sum as they did). And agreement is never evidence against: a comparison's
first level after the null one (its exact agreement) with m below u is set to m = u, no evidence
either way.

Levels a specification fixes (``fix_m_probability``) and levels training never saw (no m) are
left alone: Splink has its own value for those.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["M_FLOOR", "bounded_model"]

# One true pair in ten thousand: the fewest in a level that a training session of a few thousand
# matches (the 5,000-child set's) could tell from none. Tuned on: nothing (a bound, not a fit).
M_FLOOR = 1e-4


def _trained(level: dict[str, Any]) -> bool:
    return (not level.get("is_null_level") and not level.get("fix_m_probability")
            and isinstance(level.get("m_probability"), (int, float)))


def _bound(levels: list[dict[str, Any]]) -> bool:
    """Bound one comparison's levels in place; whether anything changed."""
    trained = [lv for lv in levels if _trained(lv)]
    if len(trained) < 2:
        return False
    before = sum(float(lv["m_probability"]) for lv in trained)
    changed = False
    first = next((lv for lv in levels if not lv.get("is_null_level")), None)
    u = first.get("u_probability") if first is not None else None
    if first is not None and _trained(first) and isinstance(u, (int, float)) and first["m_probability"] < u:
        first["m_probability"] = float(u)
        changed = True
    for lv in trained:
        if lv["m_probability"] < M_FLOOR:
            lv["m_probability"] = M_FLOOR
            changed = True
    if changed:
        top = max(trained, key=lambda lv: lv["m_probability"])
        excess = sum(float(lv["m_probability"]) for lv in trained) - before
        top["m_probability"] = max(top["m_probability"] - max(excess, 0.0), M_FLOOR)
    return changed


def bounded_model(model_json: str) -> str:
    """``model_json`` (Splink settings as saved) with each comparison's m probabilities bounded."""
    model = json.loads(model_json)
    changed = False
    for comparison in model.get("comparisons", []):
        changed |= _bound(comparison.get("comparison_levels", []))
    return json.dumps(model, sort_keys=True) if changed else model_json
