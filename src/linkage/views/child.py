"""A child's joined record, assembled section by section.

Each section belongs to one data category, so the API builds only the
sections the policy allows: data that is withheld is never even queried.
"""

from __future__ import annotations

from collections import defaultdict

from typing import Any, Callable

from linkage.views.tables import STORE, Tables

__all__ = ["SECTIONS", "build_sections", "child_records_sql"]


def child_records_sql(tables: Tables = STORE) -> str:
    return f"SELECT * FROM {tables.records} WHERE child_id = ?"


def _rows(cur, sql: str, params: list) -> list[dict]:
    res = cur.execute(sql, params)
    cols = [d[0] for d in res.description]
    return [dict(zip(cols, r)) for r in res.fetchall()]


def _child_keys(cur, child_id: str, tables: Tables) -> dict[tuple[str, int], str]:
    """(record_key, extract_id) -> source for the child's current records (one index scan)."""
    return {(k, e): src for k, e, src in cur.execute(
        f"SELECT record_key, extract_id, source FROM {tables.records} WHERE child_id = ?", [child_id]).fetchall()}


def _events(table: str, order: str) -> Callable:
    def q(cur, child_id: str, tables: Tables = STORE, keys: dict | None = None) -> list[dict]:
        keys = keys if keys is not None else _child_keys(cur, child_id, tables)
        if not keys:
            return []
        # A constant IN list is an index scan; a join would read the whole event table.
        record_keys = sorted({k for k, _ in keys})
        rows = _rows(cur, f"SELECT * FROM {tables.event(table)} WHERE record_key IN "
                          f"({', '.join('?' for _ in record_keys)}) ORDER BY {order}", record_keys)
        out = []
        for r in rows:
            source = keys.get((r.pop("record_key"), r.pop("extract_id")))
            if source is not None:
                out.append({"source": source, **r})
        return out
    return q


def demographics(cur, child_id: str, tables: Tables = STORE, keys: dict | None = None) -> dict[str, Any]:
    recs = _rows(cur, child_records_sql(tables), [child_id])
    def common(field: str):
        counts: dict = defaultdict(int)
        for r in recs:
            if r[field] is not None:
                counts[r[field]] += 1
        return max(counts, key=counts.get) if counts else None
    return {"forename": common("forename"), "surname": common("surname"),
            "date_of_birth": common("date_of_birth"), "sex": common("sex"),
            "known_to": sorted({r["source"] for r in recs})}


def addresses(cur, child_id: str, tables: Tables = STORE, keys: dict | None = None) -> list[dict]:
    return _rows(cur, f"SELECT source, postcode, address, extract_date AS as_of FROM ({child_records_sql(tables)}) "
                      "WHERE postcode IS NOT NULL OR address IS NOT NULL ORDER BY extract_date DESC, source",
                 [child_id])


def attendance(cur, child_id: str, tables: Tables = STORE, keys: dict | None = None) -> list[dict]:
    rows = _events("edu_attendance", "term")(cur, child_id, tables, keys)
    years: dict[str, dict] = defaultdict(lambda: {"possible": 0, "authorised": 0, "unauthorised": 0})
    for r in rows:
        year = r["term"].split(" ")[0]
        y = years[year]
        y["possible"] += r["sessions_possible"] or 0
        y["authorised"] += r["sessions_authorised"] or 0
        y["unauthorised"] += r["sessions_unauthorised"] or 0
    out = []
    for year, y in sorted(years.items()):
        rate = 1 - (y["authorised"] + y["unauthorised"]) / y["possible"] if y["possible"] else None
        out.append({"academic_year": year, "sessions_possible": y["possible"],
                    "sessions_authorised_absence": y["authorised"],
                    "sessions_unauthorised_absence": y["unauthorised"],
                    "attendance_rate": round(rate, 4) if rate is not None else None})
    return out


def sen(cur, child_id: str, tables: Tables = STORE, keys: dict | None = None) -> dict[str, Any]:
    rows = _events("edu_sen", "provision")(cur, child_id, tables, keys)
    order = {"E": 2, "K": 1, "N": 0}
    best = max((r["provision"] for r in rows), key=lambda p: order.get(p, -1), default=None)
    return {"provision": best, "ehc_plan": best == "E"}


def involvement(cur, child_id: str, tables: Tables = STORE, keys: dict | None = None) -> dict[str, Any]:
    keys = keys if keys is not None else _child_keys(cur, child_id, tables)
    known = "social_care" in keys.values()
    teams = _events("sc_allocation", "team")(cur, child_id, tables, keys)
    return {"known_to_childrens_social_care": known,
            "contacts": [{"team": r["team"], "telephone": r["contact"]} for r in teams]}


def episodes(cur, child_id: str, tables: Tables = STORE, keys: dict | None = None) -> dict[str, Any]:
    return {"episodes": _events("sc_episode", "start_date")(cur, child_id, tables, keys),
            "missing_episodes": _events("sc_missing", "start_date")(cur, child_id, tables, keys)}


SECTIONS: dict[str, tuple[str, Callable]] = {
    "identity.demographics": ("demographics", demographics),
    "identity.address": ("addresses", addresses),
    "education.enrolment": ("schools", _events("edu_enrolment", "entry_date")),
    "education.attendance": ("attendance", attendance),
    "education.exclusion": ("exclusions", _events("edu_exclusion", "start_date")),
    "education.sen": ("sen", sen),
    "social_care.involvement": ("social_care", involvement),
    "social_care.episodes": ("social_care_episodes", episodes),
    "health.gp": ("gp_registrations", _events("health_gp", "start_date")),
    "health.contacts": ("health_contacts", _events("health_contact", "contact_date")),
}


def build_sections(cur, child_id: str, allowed: list[str], tables: Tables = STORE) -> dict[str, Any]:
    """Only the allowed categories' sections are queried and returned."""
    out: dict[str, Any] = {}
    keys = _child_keys(cur, child_id, tables)
    for cat in allowed:
        if cat in SECTIONS:
            name, fn = SECTIONS[cat]
            out[name] = fn(cur, child_id, tables, keys)
    return out


