"""The disclosure rules published figures follow, and a single count as published.

What may be shown is decided in ``linkage.outcomes.release`` (every breakdown and cohort
protected together, by certificate); this module only names the rules and rounds.

Default: the DfE's rule for children-in-need statistics ("any number between 1 and 5
inclusive has been suppressed and replaced by 'c'. Secondary suppression has been applied
where necessary"; "totals are rounded to the nearest 10"; Characteristics of children in
need, explore-education-statistics.service.gov.uk). For research exports, ONS's 10-5 rule
(counts below ten suppressed, others rounded to the nearest five; ONS, Comparison of
post-tabular statistical disclosure control methods).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["CIN", "ONS_10_5", "RULES", "SUPPRESSED", "Rule", "headline"]

SUPPRESSED = "c"


@dataclass(frozen=True)
class Rule:
    name: str
    suppress_up_to: int           # counts 1..this are suppressed (0 is shown)
    total_base: int               # totals rounded to the nearest this (1: not rounded)
    cell_base: int                # other published counts rounded to the nearest this
    citation: str

    def round(self, value: int, total: bool) -> int:
        base = self.total_base if total else self.cell_base
        return int(base * np.floor(value / base + 0.5)) if base > 1 else int(value)


CIN = Rule("dfe_cin", 5, 10, 1, "DfE children in need statistics: counts 1 to 5 shown as c, secondary "
                                 "suppression, totals rounded to the nearest 10")
ONS_10_5 = Rule("ons_10_5", 9, 5, 5, "ONS 10-5 rule: counts below 10 suppressed, others rounded to the nearest 5")
RULES = {r.name: r for r in (CIN, ONS_10_5)}


def headline(count: int, rule: Rule = CIN) -> int | str:
    """A single count as published (a headline, a group size): ``c`` when the rule suppresses
    it, else rounded as a total."""
    return SUPPRESSED if 1 <= int(count) <= rule.suppress_up_to else rule.round(int(count), total=True)
