"""Second files of a source: an early-help case list beside social care, an AP school's own roll
beside the school census.

Each numbers its children its own way and has its own layout, so it is read with
``linkage ingest SOURCE FILE --mapping MAPPING --amend`` and becomes another *register* of the
source (``connectors.ingest.LINK_RECORDS_SQL``). Real ones are typed by hand: more slips and
known-as names, no middle name, one column for the whole name, and whole families listed
together (so a register holds twins and siblings under their own case numbers). The mapping is
written beside each file, as a local authority keeps its own.
"""

from __future__ import annotations

import csv
import random
from datetime import date, timedelta
from pathlib import Path

from linkage.synth.noise import Noise, cotwin_forenames, nick

__all__ = ["SECOND_FILES", "write_second_files"]

# file -> (source it amends, its mapping file)
SECOND_FILES = {"early_help.csv": ("social_care", "early_help.yaml"),
                "ap_roll.csv": ("education", "ap_roll.yaml")}

_EARLY_HELP_MAPPING = """\
# A local authority's early-help case list: a second social-care file, numbered by case.
source: social_care
description: Early-help case list (typed at the front door; one row per child of a family)
record_id: Case Ref
fields:
  surname: {column: Child Name, split: "surname, forename"}
  forename: {column: Child Name, split: "surname, forename"}
  preferred_forename: Known As
  date_of_birth: {column: D.O.B., format: "%d/%m/%Y"}
  sex: {column: Gender, values: {Boy: M, Girl: F}}
  postcode: Postcode
"""

_AP_ROLL_MAPPING = """\
# An alternative provision school's own roll: a second education file, numbered by roll.
source: education
description: AP school roll (the setting's own admissions list)
record_id: Roll No
fields:
  upn: UPN
  forename: Legal Forename
  surname: Legal Surname
  preferred_forename: Preferred Name
  date_of_birth: {column: Date of Birth, format: "%Y-%m-%d"}
  sex: Gender
  postcode: Home Postcode
"""


def _age(c, today: date) -> float:
    return (today - c.dob).days / 365.25


# Hand-typed lists slip more than the agencies' systems (extracts.Noise rates).
_EARLY_HELP_NOISE = dict(nickname=0.12, typo=0.06, swap=0.0, dob_swap=0.02, dob_typo=0.01, old_surname=0.3)
_AP_ROLL_NOISE = dict(nickname=0.05, typo=0.04, swap=0.01, dob_swap=0.01, dob_typo=0.005, old_surname=0.2)


def _typed(pop, seed: int, source: str, rid: str, rates: dict, c, cotwins) -> tuple[Noise, str, str, str]:
    """One hand-typed row's noise, its (forename, surname) and its postcode, drawn in that order."""
    z = Noise(seed, source, rid, rates, c, pop.difficulty, cotwins.get(c.person, frozenset()))
    fore, sur = z.names(c)
    pc, _ = z.address(c, 0.3)
    return z, fore, sur, pc


def write_second_files(pop, seed: int, today: date, out: Path, truth, rate: float) -> dict:
    """The early-help list (households drawn at ``rate``, every child under 18 of each listed) and
    the AP roll (most children whose current place is an AP setting), with their mappings.
    ``truth`` is extracts._Truth. Returns {file: rows}."""
    counts = {}
    cotwins = cotwin_forenames(pop)
    households = {}
    for c in pop.children:
        households.setdefault(c.household, []).append(c)
    with open(out / "early_help.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["Case Ref", "Child Name", "Known As", "D.O.B.", "Gender", "Postcode", "Referred"])
        n = 0
        for hh, members in households.items():
            if random.Random(f"{seed}:early-help:{hh}").random() >= rate:
                continue
            for c in members:
                if not 0 <= _age(c, today) < 18:
                    continue
                rid = f"EH{c.person:08d}"
                z, fore, sur, pc = _typed(pop, seed, "early_help", rid, _EARLY_HELP_NOISE, c, cotwins)
                w.writerow([rid, f"{sur.upper()}, {fore}", nick(z.rng, c.forename) if z.chance(0.15) else "",
                            z.dob(c).strftime("%d/%m/%Y"), {"M": "Boy", "F": "Girl"}[c.sex],
                            "" if z.chance(0.05) else pc,
                            (today - timedelta(days=z.rng.randrange(10, 700))).strftime("%d/%m/%Y")])
                truth.add("social_care", rid, c, z, extra=("second_file",))
                n += 1
        counts["early_help.csv"] = n
    ap = set(pop.ap_schools)
    with open(out / "ap_roll.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["Roll No", "UPN", "Legal Surname", "Legal Forename", "Preferred Name", "Date of Birth",
                    "Gender", "Home Postcode", "Admitted"])
        n = 0
        for c in pop.children:
            here = [s for s in c.schools if s[2] is None and s[0] in ap]
            if not here or random.Random(f"{seed}:ap-roll:{c.person}").random() >= 0.8:
                continue
            urn, entered, _ = here[0]
            rid = f"R{urn}-{c.person:07d}"
            z, fore, sur, pc = _typed(pop, seed, "ap_roll", rid, _AP_ROLL_NOISE, c, cotwins)
            upn = (c.second_upn or c.temp_upn or c.upn) if z.chance(0.6) else ""
            w.writerow([rid, upn or "", sur, fore, nick(z.rng, c.forename) if z.chance(0.1) else "",
                        z.dob(c).isoformat(), c.sex, pc, entered.isoformat()])
            truth.add("education", rid, c, z, extra=("second_file",))
            n += 1
        counts["ap_roll.csv"] = n
    (out / "early_help.yaml").write_text(_EARLY_HELP_MAPPING, encoding="utf-8")
    (out / "ap_roll.yaml").write_text(_AP_ROLL_MAPPING, encoding="utf-8")
    return counts
