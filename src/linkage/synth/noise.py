"""The noise real records have, drawn per record: nicknames, typing slips, swapped day and month,
old surnames and addresses. Shared by the agency extracts and the second files (``registers``)."""

from __future__ import annotations

import random
from datetime import date, timedelta

from linkage.link.names import nicknames_of
from linkage.synth.difficulty import DIFFICULTIES, script_variant
from linkage.synth.population import Child, Population
from linkage.validation.names import normalise_name

__all__ = ["Noise", "cotwin_forenames", "nick"]

_KEYS = "qwertyuiop asdfghjkl zxcvbnm"


def _typo(rng: random.Random, s: str) -> str:
    if len(s) < 3:
        return s
    i = rng.randrange(1, len(s))
    kind = rng.random()
    if kind < 0.3:
        return s[:i] + s[i + 1:]
    if kind < 0.55 and i < len(s) - 1:
        return s[:i] + s[i + 1] + s[i] + s[i + 2:]
    if kind < 0.8:
        row = next((r for r in _KEYS.split() if s[i].lower() in r), _KEYS.split()[0])
        j = row.find(s[i].lower())
        near = row[max(0, j - 1)] if j > 0 else row[min(len(row) - 1, j + 1)]
        return s[:i] + near + s[i + 1:]
    return s[:i] + s[i] + s[i:]


def nick(rng: random.Random, name: str) -> str:
    options = sorted(nicknames_of(normalise_name(name) or ""))
    return rng.choice(options).title() if options else name


def _transpose_dob(rng: random.Random, dob: date, p_swap: float, p_typo: float) -> date:
    r = rng.random()
    if r < p_swap and dob.day <= 12 and dob.day != dob.month:
        return date(dob.year, dob.day, dob.month)
    if r < p_swap + p_typo:
        return dob + timedelta(days=rng.choice([-1, 1, 10, -10]))
    return dob


def cotwin_forenames(pop: Population) -> dict[int, frozenset[str]]:
    """Each twin's co-twin's forename, normalised: what no noise may turn its own into."""
    by_id = {c.person: c for c in pop.children}
    out: dict[int, set[str]] = {}
    for c in pop.children:
        if c.twin_of and c.twin_of in by_id:
            t = by_id[c.twin_of]
            out.setdefault(c.person, set()).add(normalise_name(t.forename) or "")
            out.setdefault(t.person, set()).add(normalise_name(c.forename) or "")
    return {k: frozenset(v) for k, v in out.items()}


class Noise:
    """One record's noise. The difficulty's record-level classes draw from a second
    generator, so the base noise of a record is the same at every difficulty.

    A nickname or typo never turns a twin's forename into its co-twin's (Louis's record
    written Lewis, when his twin is Lewis): that record would be the other child's in
    every field a linker or a reviewer reads, and its truth label a coin toss. Such a draw
    keeps the name it was given (the generators are drawn from as before)."""

    def __init__(self, seed: int, source: str, rid: str, rates: dict[str, float], c: Child,
                 level: str = "easy", cotwins: frozenset[str] = frozenset()):
        self.rng = random.Random(f"{seed}:{source}:{rid}")
        self.cotwins = cotwins
        self.r = rates
        self.source = source
        self.stale = c.stale_source == source
        extra, d = random.Random(f"{seed}:{source}:{rid}:difficulty"), DIFFICULTIES[level]
        self.extra = extra
        twin = c.twin_of is not None or "near_twin_names" in c.classes or "same_name_twins" in c.classes
        self.classes = [k for k, p in (("forename_typo", 0 if twin else d.forename_typo),
                                       ("swap_nickname", d.swap_nickname), ("dob_plus", d.dob_plus))
                        if extra.random() < p]

    def names(self, c: Child) -> tuple[str, str]:
        rng, r = self.rng, self.r
        fore, sur = c.forename, c.surname
        if c.script_names:
            fore, sur = script_variant(self.extra, c.script_names[0]), script_variant(self.extra, c.script_names[1])
        if self.stale:
            sur = c.former_surname or sur
        elif c.stale_source:
            pass                      # the change of name is recorded nowhere else
        elif c.former_surname and rng.random() < r.get("old_surname", 0):
            sur = c.former_surname
        if rng.random() < r["nickname"]:
            fore = self._own(nick(rng, fore), fore)
        if rng.random() < r["typo"]:
            fore = self._own(_typo(rng, fore), fore)
        if rng.random() < r["typo"]:
            sur = _typo(rng, sur)
        if rng.random() < r.get("accents", 0.5):
            fore = fore.replace("ë", "e").replace("é", "e").replace("á", "a")
        if rng.random() < r.get("upper", 0):
            sur = sur.upper()
        if rng.random() < r["swap"]:
            fore, sur = sur, fore
        if "forename_typo" in self.classes:
            fore = self._own(_typo(self.extra, _typo(self.extra, fore)), fore)
        if "swap_nickname" in self.classes:
            fore, sur = sur, self._own(nick(self.extra, fore), fore)
        if "dob_plus" in self.classes:
            sur = _typo(self.extra, sur)
        return fore, sur

    def _own(self, noisy: str, name: str) -> str:
        """``noisy``, unless it is the co-twin's forename."""
        return name if self.cotwins and normalise_name(noisy) in self.cotwins else noisy

    def dob(self, c: Child) -> date:
        d = _transpose_dob(self.rng, c.dob, self.r["dob_swap"], self.r["dob_typo"])
        if "dob_plus" in self.classes:
            d = _transpose_dob(self.extra, d, 0.5, 0.5)
        return d

    def former_surname(self, c: Child, p: float) -> str:
        return "" if c.stale_source else (c.former_surname or "") if self.chance(p) else ""

    def address(self, c: Child, p_old: float) -> tuple[str, str]:
        """(postcode, first line): the agency that missed a move still has the old address."""
        if self.stale and c.old_postcode:
            return c.old_postcode, c.old_address or c.address
        if c.stale_source or not c.old_postcode or not self.chance(p_old):
            return c.postcode, c.address
        return c.old_postcode, c.old_address or c.address

    def chance(self, p: float) -> bool:
        return self.rng.random() < p


# Main reasons for suspensions and permanent exclusions, roughly as often as the DfE's
# national statistics give them (persistent disruption far the commonest).
