"""Alternative provision trajectories: referral, placement, and what happened after.

Added on top of a population without changing it (its own seeded generator), as extra
education rows (one per enrolment and term, as termly census returns would give) and an
NCCIS return of post-16 activity. Three kinds of child, from those the population holds:

- on a mainstream roll: a short dual-registered placement (status S) within that
  enrolment, or a long placement that ended before it (a return to mainstream, after a
  gap of days or months);
- 16 or over with no school place: a long placement ending at 16, then post-16 activity
  in NCCIS (education, an apprenticeship, NEET, or not known);
- missing education: a long placement that ended with no return;

and, for the comparison, children on a mainstream roll with low attendance and suspensions
who were never placed. Attendance is low before, middling during, better after a return; suspensions come before
and, for some, after.
"""

from __future__ import annotations

import csv
import random
from dataclasses import dataclass, field
from datetime import date, timedelta

from linkage.outcomes.terms import term_of
from linkage.synth.population import Child, Population

__all__ = ["NCCIS_HEADER", "Row", "ap_rows", "write_nccis"]

NCCIS_HEADER = ["YoungPersonsID", "UPN", "ActivityCode", "StartDate", "DateAscertained", "DueToLapseDate",
                "CurrentLevel"]
_EET = ["110", "130", "210", "220", "310"]      # school sixth form, FE, apprenticeship, training, employment


@dataclass
class Row:
    """One education row: an enrolment seen in one term."""

    child: Child
    urn: str
    entry: date
    leaving: date | None
    status: str
    term: int
    rate: float
    exclusion: tuple[str, date] | None = None
    sen: str = "N"


@dataclass
class _Out:
    rows: list[Row] = field(default_factory=list)
    nccis: list[list] = field(default_factory=list)


def _terms(start: date, end: date) -> range:
    return range(term_of(start), term_of(end) + 1)


def _rows(out: _Out, c: Child, urn: str, entry: date, leaving: date | None, status: str, terms, rng,
          low: float, high: float, sen: str, today: date) -> None:
    for t in terms:
        if t > term_of(today - timedelta(days=1)):
            break
        out.rows.append(Row(c, urn, entry, leaving, status, t, rng.uniform(low, high), sen=sen))


def _exclusions(out: _Out, c: Child, urn: str, entry: date, rng, after: date, today: date, p_susp: float,
                p_perm: float, sen: str) -> None:
    for cat, p in (("SUSP", p_susp), ("PERM", p_perm)):
        if rng.random() < p:
            day = after + timedelta(days=rng.randrange(5, 300))
            if day < today:
                out.rows.append(Row(c, urn, entry, None, "C", term_of(day), rng.uniform(0.6, 0.9), (cat, day), sen))


def _returned(out: _Out, c: Child, places, rng, today: date) -> None:
    urn, start, _ = c.schools[-1]
    ap = places[(c.person + rng.randrange(7)) % len(places)]
    sen_before = "K" if rng.random() < 0.5 else "N"
    if rng.random() < 0.35 and today - start > timedelta(days=90):     # short, dual registered, within the roll
        entry = start + timedelta(days=rng.randrange(30, max(31, (today - start).days - 60)))
        leaving = entry + timedelta(days=rng.randrange(20, 80))
        if leaving >= today:
            leaving = None
        _rows(out, c, urn, start, None, "M", _terms(entry - timedelta(days=200), entry - timedelta(days=1)), rng,
              0.6, 0.85, sen_before, today)
        _rows(out, c, ap, entry, leaving, "S", _terms(entry, leaving or today), rng, 0.5, 0.9, sen_before, today)
        if leaving:
            _rows(out, c, urn, start, None, "M", _terms(leaving + timedelta(days=95), leaving + timedelta(days=200)),
                  rng, 0.75, 0.97, sen_before, today)
            _exclusions(out, c, urn, start, rng, leaving, today, 0.25, 0.03, sen_before)
        return
    gap = rng.randrange(1, 30) if rng.random() < 0.7 else rng.randrange(50, 150)
    leaving = start - timedelta(days=gap)
    entry = leaving - timedelta(days=rng.randrange(100, 400))
    pre = urn
    before = entry - timedelta(days=rng.randrange(400, 900))
    sen_ap = "E" if rng.random() < 0.15 else sen_before
    _rows(out, c, pre, before, entry - timedelta(days=1), "C", _terms(entry - timedelta(days=200), entry), rng,
          0.55, 0.85, sen_before, today)
    _exclusions(out, c, pre, before, rng, entry - timedelta(days=330), entry, 0.8, 0.0, sen_before)
    _rows(out, c, ap, entry, leaving, "C", _terms(entry, leaving), rng, 0.45, 0.9, sen_ap, today)
    _rows(out, c, urn, start, None, "C", _terms(start + timedelta(days=1), start + timedelta(days=200)), rng,
          0.7, 0.97, sen_ap, today)
    _exclusions(out, c, urn, start, rng, leaving, today, 0.35, 0.05, sen_ap)


def _post16(out: _Out, c: Child, places, rng, today: date) -> None:
    sixteen = date(c.dob.year + 16, 7, 20)
    if sixteen >= today - timedelta(days=60):
        return
    ap = places[(c.person + rng.randrange(7)) % len(places)]
    leaving = sixteen
    entry = leaving - timedelta(days=rng.randrange(150, 500))
    _rows(out, c, ap, entry, leaving, "C", _terms(entry, leaving), rng, 0.4, 0.85, "N", today)
    yp = f"YP{c.person:08d}"
    r = rng.random()
    start = leaving + timedelta(days=rng.randrange(30, 70))
    if r < 0.55:
        acts = [(rng.choice(_EET), start, start + timedelta(days=400))]
    elif r < 0.8:
        acts = [("540", start, start + timedelta(days=90))]
        if rng.random() < 0.5:
            acts.append((rng.choice(_EET), start + timedelta(days=100), start + timedelta(days=400)))
    else:
        acts = [("810", start, start + timedelta(days=90))]
    for code, s, lapse in acts:
        if s < today:
            out.nccis.append([yp, c.upn or "", code, s, s + timedelta(days=rng.randrange(0, 20)), lapse,
                              rng.choice(["1", "2", "3", ""])])


def _at_risk(out: _Out, c: Child, rng, today: date) -> None:
    """A child like those placed (low attendance, suspensions) who stayed in mainstream: the comparison."""
    urn, start, _ = c.schools[-1]
    sen = "K" if rng.random() < 0.4 else "N"
    _rows(out, c, urn, start, None, "C", _terms(max(start, today - timedelta(days=3 * 365)), today), rng,
          0.55, 0.9, sen, today)
    _exclusions(out, c, urn, start, rng, max(start, today - timedelta(days=700)), today, 0.7, 0.02, sen)
    _exclusions(out, c, urn, start, rng, max(start, today - timedelta(days=400)), today, 0.3, 0.02, sen)


def _missing(out: _Out, c: Child, places, rng, today: date) -> None:
    ap = places[(c.person + rng.randrange(7)) % len(places)]
    leaving = today - timedelta(days=rng.randrange(60, 400))
    entry = leaving - timedelta(days=rng.randrange(100, 300))
    _rows(out, c, ap, entry, leaving, "C", _terms(entry, leaving), rng, 0.3, 0.8, "K", today)


def ap_rows(pop: Population, seed: int, today: date) -> _Out:
    """The extra education rows and NCCIS rows for this population's AP trajectories."""
    rng = random.Random(f"{seed}:ap-trajectories")
    out = _Out()
    places = pop.ap_schools
    if not places:
        return out
    for c in pop.children:
        age = (today - c.dob).days / 365.25
        current = c.schools[-1] if c.schools else None
        if (current and current[2] is None and current[0] not in places and 6 <= age < 16
                and timedelta(days=120) < today - current[1] < timedelta(days=3 * 365)):
            draw = rng.random()
            if draw < 0.08:
                _returned(out, c, places, rng, today)
            elif draw < 0.2:
                _at_risk(out, c, rng, today)
        elif 16 <= age < 18.5 and not current and c.upn:
            if rng.random() < 0.15:
                _post16(out, c, places, rng, today)
        elif c.cme and 6 <= age < 16:
            if rng.random() < 0.3:
                _missing(out, c, places, rng, today)
    return out


def write_nccis(out_rows: _Out, path) -> int:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(NCCIS_HEADER)
        for row in out_rows.nccis:
            w.writerow([v.strftime("%Y-%m-%d") if isinstance(v, date) else v for v in row])
    return len(out_rows.nccis)


