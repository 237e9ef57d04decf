"""Render a population as the three agency extracts, with the noise real data has.

Each record's noise comes from its own seeded generator, so the same record
looks the same in every month unless the child's circumstances changed.
"""

from __future__ import annotations

import csv
import json
import random
from datetime import date, timedelta
from pathlib import Path

from linkage.outcomes.terms import term_label
from linkage.synth.ap import ap_rows, write_nccis
from linkage.synth.difficulty import DIFFICULTIES
from linkage.synth.noise import Noise, cotwin_forenames, nick
from linkage.synth.population import Child, Population, base_date
from linkage.synth.registers import SECOND_FILES, write_second_files

__all__ = ["write_extracts"]

_EXCLUSION_REASONS = {"PD": 38, "VA": 14, "PP": 10, "PA": 8, "VP": 7, "OT": 7, "DA": 4, "BU": 2, "DM": 3,
                      "OW": 2, "MT": 2, "RA": 1, "SM": 1, "LG": 1}


def address_since(c: Child, postcode: str, today: date, source: str) -> date | None:
    """When the child moved to this address, as the source's system records it (or None: not
    recorded). Drawn from its own seeded generator so the other columns are unchanged."""
    rng = random.Random(f"address-since:{source}:{c.person}")
    if rng.random() < 0.1:
        return None
    moved = today - timedelta(days=rng.randrange(30, 700))      # the latest move, if there was one
    if c.old_postcode and postcode == c.old_postcode:
        since = moved - timedelta(days=rng.randrange(200, 2500))
    elif c.old_postcode:
        since = moved
    else:
        since = today - timedelta(days=rng.randrange(30, 4000))
    return min(max(since, c.dob), today)


def _fmt_uk(d: date | None) -> str:
    return d.strftime("%d/%m/%Y") if d else ""


def _education(pop: Population, seed: int, today: date, w: csv.writer, truth: _Truth) -> int:
    rates = dict(nickname=0.02, typo=0.02, swap=0.005, dob_swap=0.01, dob_typo=0.003,
                 old_surname=0.1, upper=0.25)
    n = 0
    cotwins = cotwin_forenames(pop)
    for c in pop.children:
        for idx, (urn, entered, left) in enumerate(c.schools):
            rid = f"{urn}/{c.person:07d}{idx}"
            z = Noise(seed, "education", rid, rates, c, pop.difficulty, cotwins.get(c.person, frozenset()))
            fore, sur = z.names(c)
            historic = left is not None
            pc, addr = (c.old_postcode or c.postcode, c.old_address or c.address) if historic else (c.postcode, c.address)
            upn = c.former_upn if (historic and c.former_upn) else c.upn
            former_upn = (c.former_upn if not historic else "") or ""
            if not historic:
                if z.stale and c.old_postcode:
                    pc, addr = c.old_postcode, c.old_address or c.address
                upn = c.second_upn or c.temp_upn or upn
                former_upn = c.upn if c.second_upn_recorded else former_upn
            if z.chance(0.01):
                upn = None
            possible = z.rng.randrange(60, 140)
            unauth = int(possible * (z.rng.random() * 0.4 if z.chance(0.12) else z.rng.random() * 0.04))
            auth = int(possible * z.rng.random() * 0.05)
            excl = z.rng.random()
            cat = "PERM" if excl < 0.003 else ("SUSP" if excl < 0.05 else "")
            w.writerow([
                rid, upn or "", former_upn, sur, fore,
                c.middle or "", z.former_surname(c, 0.5),
                "", (nick(z.rng, c.forename) if z.chance(0.08) else ""),
                _fmt_uk(z.dob(c)), c.sex, "" if z.chance(0.01) else pc, addr, urn,
                _fmt_uk(entered), _fmt_uk(left), "C" if not historic else "C",
                f"{today.year}/{(today.year + 1) % 100:02d} Autumn", possible, auth, unauth,
                cat, (z.rng.choices(list(_EXCLUSION_REASONS), list(_EXCLUSION_REASONS.values()))[0]
                      if cat else ""), _fmt_uk(today - timedelta(days=z.rng.randrange(5, 60))) if cat else "",
                (z.rng.choice([1, 2, 4, 6]) if cat == "SUSP" else "") if cat else "",
                z.rng.choices("NKE", weights=[82, 14, 4])[0],
            ])
            truth.add("education", rid, c, z)
            n += 1
    return n


def _ap_education(rows, seed: int, w: csv.writer, truth: "_Truth") -> int:
    """The AP trajectories' rows (synth.ap), in the census layout, one record per enrolment and term."""
    rates = dict(nickname=0.02, typo=0.02, swap=0.005, dob_swap=0.01, dob_typo=0.003, old_surname=0.1, upper=0.25)
    for k, r in enumerate(rows):
        c = r.child
        rid = f"AP{c.person:07d}-{k:05d}"
        z = Noise(seed, "education", rid, rates, c)
        fore, sur = z.names(c)
        possible = z.rng.randrange(100, 130)
        absent = possible - int(possible * r.rate)
        auth = int(absent * z.rng.uniform(0.2, 0.6))
        cat, day = r.exclusion or ("", None)
        w.writerow([rid, c.upn or "", "", sur, fore, c.middle or "", "", "", "", _fmt_uk(z.dob(c)), c.sex,
                    c.postcode, c.address, r.urn, _fmt_uk(r.entry), _fmt_uk(r.leaving), r.status,
                    term_label(r.term), possible, auth, absent - auth, cat,
                    (z.rng.choice(["PD", "VA", "PP"]) if cat else ""), _fmt_uk(day),
                    (z.rng.choice([1, 2, 4]) if cat == "SUSP" else ""), r.sen])
        truth.add_row("education", rid, c.person)
    return len(rows)


EDU_HEADER = ["AdNo", "UPN", "FormerUPN", "Surname", "Forename", "MiddleNames", "FormerSurname",
              "PreferredSurname", "PreferredForename", "DOB", "Sex", "Postcode", "AddressLine1",
              "SchoolURN", "EntryDate", "LeavingDate", "EnrolStatus", "AttendanceTerm",
              "TermlySessionsPossible", "TermlySessionsAuthorised", "TermlySessionsUnauthorised",
              "ExclusionCategory", "ExclusionReason", "ExclusionStartDate", "ExclusionSessions",
              "SENprovision"]
SC_HEADER = ["LAchildID", "UPN", "NHSNumber", "Forename", "Surname", "FormerSurname", "KnownAs",
             "PersonBirthDate", "GenderCurrent", "HOME_POST", "AddressLine1", "AddressStartDate", "CINreferralDate",
             "ReferralSource", "CINclosureDate", "CPPstartDate", "CPPendDate", "DECOM", "DEC",
             "MIS_START", "MIS_END", "AllocatedTeam", "TeamContact"]
HEALTH_HEADER = ["id", "nhsNumber", "name.given", "name.family", "birthDate", "gender",
                 "address.postalCode", "address.line", "address.period.start", "generalPractitioner.odsCode",
                 "generalPractitioner.period.start", "lastContactDate", "lastContactType"]
_TEAMS = ["North Locality", "South Locality", "Children in Care", "Disabled Children", "Front Door"]


def _social_care(pop: Population, seed: int, today: date, w: csv.writer, truth: _Truth) -> int:
    rates = dict(nickname=0.08, typo=0.04, swap=0.02, dob_swap=0.02, dob_typo=0.01, old_surname=0.5)
    n = 0
    cotwins = cotwin_forenames(pop)
    for c in pop.children:
        if not c.social_care:
            continue
        rid = f"LA{c.person:08d}"
        z = Noise(seed, "social_care", rid, rates, c, pop.difficulty, cotwins.get(c.person, frozenset()))
        fore, sur = z.names(c)
        if c.former_surname and not c.stale_source and "-" not in sur and z.chance(0.3):
            sur = f"{c.former_surname}-{c.surname}"
        referral = today - timedelta(days=z.rng.randrange(20, 1500))
        closed = referral + timedelta(days=z.rng.randrange(30, 400)) if z.chance(0.4) else None
        if closed and closed > today:
            closed = None
        cpp = z.chance(0.2)
        lac = z.chance(0.1)
        missing = z.chance(0.06) or c.cme and z.chance(0.3)
        pc, addr = z.address(c, 0.5)
        w.writerow([
            rid, (c.upn if z.chance(0.55) else "") or "", (c.nhs if z.chance(0.35) else "") or "",
            fore, sur, z.former_surname(c, 0.5),
            nick(z.rng, c.forename) if z.chance(0.1) else "",
            _fmt_uk(z.dob(c)), {"M": "1", "F": "2"}[c.sex], "" if z.chance(0.02) else pc,
            addr, _fmt_uk(address_since(c, pc, today, "social_care")),
            _fmt_uk(referral), z.rng.choice(["1A", "2B", "3E", "5A", "9"]), _fmt_uk(closed),
            _fmt_uk(referral + timedelta(days=40)) if cpp else "", "",
            _fmt_uk(referral + timedelta(days=90)) if lac else "", "",
            _fmt_uk(today - timedelta(days=z.rng.randrange(3, 90))) if missing else "", "",
            z.rng.choice(_TEAMS), "01632 960" + f"{z.rng.randrange(1000):03d}",
        ])
        truth.add("social_care", rid, c, z)
        n += 1
    return n


def _health(pop: Population, seed: int, today: date, w: csv.writer, truth: _Truth) -> int:
    rates = dict(nickname=0.04, typo=0.03, swap=0.01, dob_swap=0.01, dob_typo=0.004, old_surname=0.5)
    n = 0
    cotwins = cotwin_forenames(pop)
    for c in pop.children:
        if not c.health:
            continue
        rid = f"P{c.person:09d}"
        z = Noise(seed, "health", rid, rates, c, pop.difficulty, cotwins.get(c.person, frozenset()))
        fore, sur = z.names(c)
        given = f"{fore} {c.middle}" if c.middle and z.chance(0.7) else fore
        pc, addr = z.address(c, 0.4)
        w.writerow([
            rid, (c.nhs if z.chance(0.97) else "") or "", given, sur, z.dob(c).isoformat(),
            {"M": "male", "F": "female"}[c.sex], "" if z.chance(0.02) else pc,
            addr, (since.isoformat() if (since := address_since(c, pc, today, "health")) else ""),
            z.rng.choice(pop.gp_practices),
            (c.dob + timedelta(days=z.rng.randrange(7, 60))).isoformat(),
            (today - timedelta(days=z.rng.randrange(1, 400))).isoformat(),
            z.rng.choice(["GP appointment", "A&E attendance", "Health visitor", "School nurse"]),
        ])
        truth.add("health", rid, c, z)
        n += 1
    return n


class _Truth:
    """truth.csv (record -> person) and truth_classes.csv (record -> each injected error class)."""

    def __init__(self, truth, classes):
        self.truth, self.classes = csv.writer(truth), csv.writer(classes)
        self.truth.writerow(["source", "source_record_id", "person"])
        self.classes.writerow(["source", "source_record_id", "person", "class"])

    def add_row(self, source: str, rid: str, person: str) -> None:
        """A record the generator added whole (an AP placement), with no injected error."""
        self.truth.writerow([source, rid, person])

    def add(self, source: str, rid: str, c: Child, z: Noise, extra: tuple[str, ...] = ()) -> None:
        self.truth.writerow([source, rid, c.person])
        for k in (*c.classes, *z.classes, *extra):
            self.classes.writerow([source, rid, c.person, k])


def write_extracts(pop: Population, seed: int, out: Path, ap_trajectories: bool = False) -> dict:
    """The three extracts and the truth files; with ``ap_trajectories`` also AP histories and nccis.csv;
    at a difficulty with ``second_files``, an early-help list and an AP roll with their mappings
    (synth.registers), listed in the manifest's ``second_files`` to be read with ``--amend``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    today = base_date(pop.month)
    counts = {}
    with open(out / "truth.csv", "w", newline="", encoding="utf-8") as tf, \
            open(out / "truth_classes.csv", "w", newline="", encoding="utf-8") as cf:
        truth = _Truth(tf, cf)
        for name, header, fn in (("education", EDU_HEADER, _education),
                                 ("social_care", SC_HEADER, _social_care),
                                 ("health", HEALTH_HEADER, _health)):
            with open(out / f"{name}.csv", "w", newline="", encoding="utf-8") as fh:
                w = csv.writer(fh)
                w.writerow(header)
                counts[name] = fn(pop, seed, today, w, truth)
                if name == "education" and ap_trajectories:
                    trajectories = ap_rows(pop, seed, today)
                    counts[name] += _ap_education(trajectories.rows, seed, w, truth)
        if ap_trajectories:
            counts["nccis"] = write_nccis(trajectories, out / "nccis.csv")
        second = {}
        if (rate := DIFFICULTIES[pop.difficulty].second_files) > 0:
            for name, n in write_second_files(pop, seed, today, out, truth, rate).items():
                counts[name.removesuffix(".csv")] = n
                source, mapping = SECOND_FILES[name]
                second[name] = {"source": source, "mapping": mapping}
    twins = sorted((c.twin_of, c.person) for c in pop.children if c.twin_of)
    with open(out / "twins.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["person_a", "person_b"])
        w.writerows(twins)
    manifest = {"children": len(pop.children), "seed": seed, "month": pop.month,
                "extract_date": today.isoformat(), "records": counts,
                "cme_children": sum(1 for c in pop.children if c.cme), "twin_pairs": len(twins),
                "difficulty": pop.difficulty, "second_files": second}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return manifest
