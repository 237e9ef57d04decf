"""A synthetic population of children, households and their agency contacts.

Every child is generated, never sampled from anyone real. The population
evolves month by month (moves, new arrivals, children leaving school rolls)
from the same seed, so consecutive extracts describe the same children.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from datetime import date, timedelta

from faker import Faker

from linkage.link.names import forename_keys, nicknames_of
from linkage.reference import sample_reference
from linkage.synth.difficulty import (DIFFICULTIES, Difficulty, near_twin_name, script_group, second_upn,
                                      temporary_upn)
from linkage.synth.names import BOYS, GIRLS, SURNAMES
from linkage.validation.identifiers import nhs_check_digit, upn_check_letter
from linkage.validation.names import normalise_name

__all__ = ["Child", "Population", "base_date", "build_population"]

BASE_DATE = date(2026, 10, 1)


def base_date(month: int) -> date:
    y, m = divmod(BASE_DATE.month - 1 + month - 1, 12)
    return date(BASE_DATE.year + y, m + 1, 1)


@dataclass
class Child:
    person: int
    household: int
    forename: str
    middle: str | None
    surname: str
    former_surname: str | None
    sex: str
    dob: date
    postcode: str
    address: str
    old_postcode: str | None
    old_address: str | None
    upn: str | None
    former_upn: str | None
    nhs: str | None
    twin_of: int | None = None
    schools: list[tuple[str, date, date | None]] = field(default_factory=list)
    social_care: bool = False
    health: bool = True
    cme: bool = False
    # Error classes switched on by the difficulty (see synth/difficulty.py).
    classes: tuple[str, ...] = ()
    second_upn: str | None = None         # a later school's UPN
    second_upn_recorded: bool = False     # ... with the first kept as FormerUPN
    temp_upn: str | None = None           # the school record's temporary UPN
    stale_source: str | None = None       # the agency still holding the old surname and address
    script_names: tuple[list[str], list[str]] | None = None   # transliterations to choose from


@dataclass
class Population:
    children: list[Child]
    schools: list[str]            # mainstream URNs in use, all in the shipped sample register
    ap_schools: list[str]         # its open alternative provision settings
    month: int
    gp_practices: list[str] = field(default_factory=list)         # open ODS codes of the sample
    difficulty: str = "easy"


@dataclass(frozen=True)
class _Places:
    """Where children go: catchments (a primary and a secondary each), AP slots, GP practices.

    Drawn from the synthetic sample registers, only open establishments and practices,
    so every code an extract holds has a name there. There are as many catchments and AP
    slots, each one draw, as there were schools before the registers existed, so a seed
    still describes the same children.
    """

    catchments: list[tuple[str, str]]
    ap_slots: list[int]
    ap: list[str]
    gps: list[str]

    @classmethod
    def draw(cls, rng: random.Random, n_schools: int) -> _Places:
        ref = sample_reference()
        open_ = sorted((e for e in ref.establishments.values() if e.close_date is None), key=lambda e: e.urn)
        mainstream = [e for e in open_ if e.setting == "mainstream"]
        primary = [e.urn for e in mainstream if e.phase in ("Primary", "All-through")]
        secondary = [e.urn for e in mainstream if e.phase in ("Secondary", "All-through")]
        draws = [rng.randrange(100000, 149999) for _ in range(n_schools)]
        ap_slots = [rng.randrange(150000, 159999) for _ in range(max(1, n_schools // 10))]
        return cls([(primary[d % len(primary)], secondary[d % len(secondary)]) for d in draws], ap_slots,
                   [e.urn for e in open_ if e.is_ap],
                   sorted(p.ods_code for p in ref.practices.values() if p.status_code == "A"))

    def school(self, rng: random.Random, age: float) -> str:
        primary, secondary = rng.choice(self.catchments)
        return primary if age < 11 else secondary

    def ap_setting(self, rng: random.Random, child: Child) -> str:
        """An AP slot, then one of the settings by the child's number, so every kind is used."""
        return self.ap[(rng.choice(self.ap_slots) + child.person) % len(self.ap)]


_CUMULATIVE: dict[int, tuple[list[str], list[float]]] = {}


def _pick(rng: random.Random, weights: dict[str, float]) -> str:
    """A name drawn by frequency; the cumulative table is built once per name table."""
    table = _CUMULATIVE.get(id(weights))
    if table is None:
        names, cum, total = list(weights), [], 0.0
        for w in weights.values():
            total += w
            cum.append(total)
        table = _CUMULATIVE[id(weights)] = (names, cum)
    return rng.choices(table[0], cum_weights=table[1])[0]


def _distinct_forename(rng: random.Random, table: dict[str, float], taken: list[str]) -> str:
    """A sibling's name: not the same name, a variant (Lewis/Louie) or a near-spelling of it."""
    blocked: set[str] = set()
    for t in taken:
        n = normalise_name(t) or ""
        blocked |= {n, *nicknames_of(n), *forename_keys(n)[0]}
    for _ in range(50):
        name = _pick(rng, table)
        n = normalise_name(name) or ""
        related = {n, *nicknames_of(n), *forename_keys(n)[0]}
        if not (related & blocked) and n[:3] not in {b[:3] for b in blocked}:
            return name
    return name


def _upn(rng: random.Random, la: int, year: int) -> str:
    body = f"{la:03d}{rng.randrange(2000, 7000):04d}{year % 100:02d}{rng.randrange(1000):03d}"
    return upn_check_letter(body) + body


def _nhs(rng: random.Random) -> str:
    while True:
        first = f"{rng.randrange(400_000_000, 999_999_999):09d}"
        check = nhs_check_digit(first)
        if check is not None:
            return first + str(check)


def _postcode(fake: Faker) -> str:
    from linkage.validation import normalise_postcode

    while True:
        pc = normalise_postcode(fake.postcode())
        if pc:
            return pc


def build_population(children: int, seed: int, month: int = 1,
                     level: Difficulty = DIFFICULTIES["easy"]) -> Population:
    rng = random.Random(seed)
    fake = Faker("en_GB")
    fake.seed_instance(seed)
    today = base_date(1)
    places = _Places.draw(rng, max(3, children // 250))
    la = rng.choice([201, 202, 203, 204, 205, 206, 207, 208, 209, 210, 211, 212, 213, 301, 302, 303, 304,
                     305, 306, 307, 308, 309, 310, 311, 312, 313, 314, 315, 316, 317, 318, 319, 320])
    out: list[Child] = []
    household = 0
    used_upn: set[str] = set()
    while len(out) < children:
        household += 1
        surname = _pick(rng, SURNAMES)
        postcode, address = _postcode(fake), fake.street_address().replace("\n", ", ")
        size = rng.choices([1, 2, 3, 4], weights=[40, 35, 17, 8])[0]
        twins = size >= 2 and rng.random() < 0.12
        moved = rng.random() < 0.10
        old_pc = _postcode(fake) if moved else None
        old_addr = fake.street_address().replace("\n", ", ") if moved else None
        taken: list[str] = []
        age_days = rng.randrange(30, 19 * 365)   # the youngest; older siblings follow
        for k in range(size):
            if len(out) >= children:
                break
            sex = rng.choice("MF")
            forename = _distinct_forename(rng, BOYS if sex == "M" else GIRLS, taken)
            taken.append(forename)
            if k == 1 and twins:
                dob = out[-1].dob
            else:
                if k > 0:
                    age_days += rng.randrange(400, 1500)
                if age_days > 19 * 365:
                    break
                dob = today - timedelta(days=age_days)
            own_surname, former = surname, None
            if rng.random() < 0.05:          # step-family: a different surname in the home
                own_surname = _pick(rng, SURNAMES)
            if rng.random() < 0.04:          # surname changed (new family name, or hyphenated)
                new = _pick(rng, SURNAMES)
                former, own_surname = own_surname, (f"{own_surname}-{new}" if rng.random() < 0.4 else new)
            middle = _distinct_forename(rng, BOYS if sex == "M" else GIRLS, taken) if rng.random() < 0.6 else None
            age = (today - dob).days / 365.25
            upn = None
            while age >= 3 and (upn is None or upn in used_upn):
                upn = _upn(rng, la, dob.year + 4)
            if upn:
                used_upn.add(upn)
            child = Child(
                person=len(out) + 1, household=household, forename=forename, middle=middle,
                surname=own_surname, former_surname=former, sex=sex, dob=dob,
                postcode=postcode, address=address, old_postcode=old_pc, old_address=old_addr,
                upn=upn, former_upn=None, nhs=_nhs(rng) if rng.random() < 0.985 else None,
                twin_of=out[-1].person if (k == 1 and twins) else None,
            )
            _enrol(rng, child, age, places, today)
            child.social_care = rng.random() < (0.35 if household % 9 == 0 else 0.06)
            child.health = rng.random() < 0.96
            if child.cme:
                if not (child.social_care or child.health):
                    child.health = True
            out.append(child)
    _inject(out, seed, level, fake)
    schools = sorted({urn for c in out for urn, _, _ in c.schools if urn not in places.ap})
    pop = Population(out, schools, places.ap, 1, places.gps, level.name)
    for m in range(2, month + 1):
        pop = evolve(pop, seed, m)
    return pop


def _inject(out: list[Child], seed: int, level: Difficulty, fake: Faker) -> None:
    """Switch on the child-level error classes; each child draws from its own generator."""
    if level.name == "easy":
        return
    by_id = {c.person: c for c in out}
    twins = {c.person for c in out if c.twin_of} | {c.twin_of for c in out if c.twin_of}
    for c in out:
        rng = random.Random(f"{seed}:difficulty:{c.person}")
        classes: list[str] = []
        if c.twin_of and c.sex == by_id[c.twin_of].sex:
            a = by_id[c.twin_of]
            r = rng.random()
            if r < level.near_twin_names:
                a.forename, c.forename = near_twin_name(rng, c.sex)
                classes.append("near_twin_names")
            elif r < level.near_twin_names + level.same_name_twins:
                c.forename = a.forename
                a.middle = a.middle or _pick(rng, BOYS if c.sex == "M" else GIRLS)
                c.middle = _distinct_forename(rng, BOYS if c.sex == "M" else GIRLS, [a.forename, a.middle])
                classes.append("same_name_twins")
            if classes:
                a.classes = (*a.classes, *classes)
        if c.upn and c.schools and not c.former_upn:
            r = rng.random()
            if r < level.second_upn:
                c.second_upn, c.second_upn_recorded = second_upn(rng, c.upn), rng.random() < 0.5
                classes.append("second_upn_former" if c.second_upn_recorded else "second_upn")
            elif r < level.second_upn + level.temporary_upn:
                c.temp_upn = temporary_upn(rng, c.upn)
                classes.append("temporary_upn")
        if rng.random() < level.surname_change_move and not c.former_surname:
            c.former_surname, c.surname = c.surname, _pick(rng, SURNAMES)
            c.old_postcode, c.old_address = c.postcode, c.address
            c.postcode, c.address = _postcode(fake), fake.street_address().replace("\n", ", ")
            c.stale_source = rng.choice(["health", "social_care", "education"])
            classes.append("surname_change_move")
        if c.person not in twins and rng.random() < level.non_latin:
            c.script_names = script_group(rng, c.sex)
            c.forename, c.surname = c.script_names[0][0], c.script_names[1][0]
            classes.append("non_latin")
        c.classes = (*c.classes, *classes)


def _enrol(rng: random.Random, child: Child, age: float, places: _Places, today: date) -> None:
    if not 4 <= age < 18:
        return
    if age < 16 and rng.random() < 0.035:
        child.cme = True              # known to an agency, on no school roll
        return
    if age >= 16 and rng.random() < 0.5:
        return
    start = today - timedelta(days=rng.randrange(30, int(min(age - 3.5, 6) * 365)))
    if rng.random() < 0.12:           # changed school: an older enrolment that ended
        left = start - timedelta(days=rng.randrange(1, 60))
        entered = left - timedelta(days=rng.randrange(200, 900))
        child.schools.append((places.school(rng, age), entered, left))
        if rng.random() < 0.15 and child.upn:
            child.former_upn = child.upn
            body = child.upn[1:10] + f"{rng.randrange(1000):03d}"
            child.upn = upn_check_letter(body) + body
    target = places.ap_setting(rng, child) if rng.random() < 0.02 else places.school(rng, age)
    child.schools.append((target, start, None))


def evolve(pop: Population, seed: int, month: int) -> Population:
    """One month on: moves, arrivals, and children who leave a school roll."""
    rng = random.Random(seed * 7919 + month)
    fake = Faker("en_GB")
    fake.seed_instance(seed * 7919 + month)
    today = base_date(month)
    children: list[Child] = []
    for c in pop.children:
        c = replace(c, schools=list(c.schools))
        r = rng.random()
        if r < 0.03:                  # moved house
            c.old_postcode, c.old_address = c.postcode, c.address
            c.postcode, c.address = _postcode(fake), fake.street_address().replace("\n", ", ")
        elif r < 0.04 and c.schools and c.schools[-1][2] is None:
            urn, entered, _ = c.schools[-1]
            c.schools[-1] = (urn, entered, today - timedelta(days=rng.randrange(1, 25)))
            c.cme = True
            c.social_care = c.social_care or rng.random() < 0.5
        children.append(c)
    births = max(1, len(pop.children) // 200)
    next_id = max(c.person for c in children) + 1
    for k in range(births):
        sex = rng.choice("MF")
        children.append(Child(
            person=next_id + k, household=-(month * 100_000 + k), forename=_pick(rng, BOYS if sex == "M" else GIRLS),
            middle=None, surname=_pick(rng, SURNAMES), former_surname=None, sex=sex,
            dob=today - timedelta(days=rng.randrange(5, 28)), postcode=_postcode(fake),
            address=fake.street_address().replace("\n", ", "), old_postcode=None, old_address=None,
            upn=None, former_upn=None, nhs=_nhs(rng)))
    return replace(pop, children=children, month=month)


