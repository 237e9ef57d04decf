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

from linkage.link.names import nicknames_of
from linkage.outcomes.terms import term_label
from linkage.synth.ap import ap_rows, write_nccis
from linkage.synth.difficulty import DIFFICULTIES, script_variant
from linkage.synth.population import Child, Population, base_date
from linkage.validation.names import normalise_name

__all__ = ["write_extracts"]

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


def _nick(rng: random.Random, name: str) -> str:
    options = sorted(nicknames_of(normalise_name(name) or ""))
    return rng.choice(options).title() if options else name


def _transpose_dob(rng: random.Random, dob: date, p_swap: float, p_typo: float) -> date:
    r = rng.random()
    if r < p_swap and dob.day <= 12 and dob.day != dob.month:
        return date(dob.year, dob.day, dob.month)
    if r < p_swap + p_typo:
        return dob + timedelta(days=rng.choice([-1, 1, 10, -10]))
    return dob


def _cotwin_forenames(pop: Population) -> dict[int, frozenset[str]]:
    """Each twin's co-twin's forename, normalised: what no noise may turn its own into."""
    by_id = {c.person: c for c in pop.children}
    out: dict[int, set[str]] = {}
    for c in pop.children:
        if c.twin_of and c.twin_of in by_id:
            t = by_id[c.twin_of]
            out.setdefault(c.person, set()).add(normalise_name(t.forename) or "")
            out.setdefault(t.person, set()).add(normalise_name(c.forename) or "")
    return {k: frozenset(v) for k, v in out.items()}


class _Noise:
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
            fore = self._own(_nick(rng, fore), fore)
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
            fore, sur = sur, self._own(_nick(self.extra, fore), fore)
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
    cotwins = _cotwin_forenames(pop)
    for c in pop.children:
        for idx, (urn, entered, left) in enumerate(c.schools):
            rid = f"{urn}/{c.person:07d}{idx}"
            z = _Noise(seed, "education", rid, rates, c, pop.difficulty, cotwins.get(c.person, frozenset()))
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
                "", (_nick(z.rng, c.forename) if z.chance(0.08) else ""),
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
        z = _Noise(seed, "education", rid, rates, c)
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
    cotwins = _cotwin_forenames(pop)
    for c in pop.children:
        if not c.social_care:
            continue
        rid = f"LA{c.person:08d}"
        z = _Noise(seed, "social_care", rid, rates, c, pop.difficulty, cotwins.get(c.person, frozenset()))
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
            _nick(z.rng, c.forename) if z.chance(0.1) else "",
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
    cotwins = _cotwin_forenames(pop)
    for c in pop.children:
        if not c.health:
            continue
        rid = f"P{c.person:09d}"
        z = _Noise(seed, "health", rid, rates, c, pop.difficulty, cotwins.get(c.person, frozenset()))
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

    def add(self, source: str, rid: str, c: Child, z: _Noise, extra: tuple[str, ...] = ()) -> None:
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
            from linkage.synth.registers import SECOND_FILES, write_second_files

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
