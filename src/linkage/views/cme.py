"""Children missing education: known to social care or health, on no school roll.

A child is listed when of the given age and known to social care or health,
and either has no open enrolment (never enrolled, or taken off roll), or
attended no session in the latest term with at least ``absent_days`` school
days (two sessions a day) of absence recorded.
"""

from __future__ import annotations

from datetime import date

from linkage.store import Store
from linkage.views.child import ADDRESSES
from linkage.views.fields import Field, Fields
from linkage.views.tables import STORE, Tables

__all__ = ["CME_FIELDS", "CME_LISTING_FIELDS", "cme_children", "cme_page", "cme_sql", "last_school",
           "latest_education_contact", "latest_health_contact", "latest_social_care_contact"]


def cme_sql(on: date, min_age: int = 5, max_age: int = 16, absent_days: int | None = None,
            known_to: str | None = None, tables: Tables = STORE) -> tuple[str, list]:
    """SQL listing child_id, reason; ages are completed years on ``on``."""
    known_filter = "source IN ('social_care', 'health')" if known_to in (None, "any") else "source = ?"
    params: list = [on, on]
    absent_sql = ""
    if absent_days is not None:
        absent_sql = f"""
UNION ALL
SELECT l.child_id, 'no attendance this term' FROM linked l
JOIN {tables.event('edu_attendance')} a ON a.record_key = l.record_key AND a.extract_id = l.extract_id
WHERE a.sessions_possible > 0
  AND a.sessions_possible - a.sessions_authorised - a.sessions_unauthorised <= 0
  AND a.sessions_authorised + a.sessions_unauthorised >= ?"""
    sql = f"""
WITH linked AS (SELECT * FROM {tables.records}),
ages AS (
  SELECT child_id,
         date_diff('year', max(date_of_birth), ?::DATE)
           - CASE WHEN strftime(max(date_of_birth), '%m%d') > strftime(?::DATE, '%m%d') THEN 1 ELSE 0 END AS age
  FROM linked GROUP BY child_id
),
open_enrolment AS (
  SELECT DISTINCT l.child_id FROM linked l
  JOIN {tables.event('edu_enrolment')} e ON e.record_key = l.record_key AND e.extract_id = l.extract_id
  WHERE e.leaving_date IS NULL OR e.leaving_date > ?
),
known AS (SELECT DISTINCT child_id FROM linked WHERE {known_filter}),
reasons AS (
  SELECT k.child_id, CASE WHEN k.child_id IN (SELECT child_id FROM linked WHERE source = 'education')
                          THEN 'off roll' ELSE 'never on a school roll' END AS reason
  FROM known k WHERE k.child_id NOT IN (SELECT child_id FROM open_enrolment)
  {absent_sql}
)
SELECT r.child_id, min(r.reason) AS reason FROM reasons r
JOIN ages a USING (child_id) JOIN known k USING (child_id)
WHERE a.age BETWEEN ? AND ?
GROUP BY r.child_id ORDER BY r.child_id
"""
    params.append(on)
    if known_to not in (None, "any"):
        params.append(known_to)
    if absent_days is not None:
        params.append(2 * absent_days)
    params += [min_age, max_age - 1]
    return sql, params


def cme_children(store: Store, on: date) -> list[str]:
    sql, params = cme_sql(on)
    return [r[0] for r in store.rows(sql, params)]


def cme_page(cur, on: date, page: int, page_size: int, tables: Tables = STORE,
             **filters) -> tuple[int, list[tuple[str, str]]]:
    sql, params = cme_sql(on, tables=tables, **filters)
    total = cur.execute(f"SELECT count(*) FROM ({sql})", params).fetchone()[0]
    rows = cur.execute(f"{sql} LIMIT ? OFFSET ?", params + [page_size, (page - 1) * page_size]).fetchall()
    return total, [(r[0], r[1]) for r in rows]


_FAR_FUTURE = date(9999, 12, 31)


def last_school(doc: dict) -> dict | None:
    """The enrolment that ended last (an open one counts as not ended)."""
    rows = doc["edu_enrolment"]
    if not rows:
        return None
    e = max(rows, key=lambda e: (e["leaving_date"] or _FAR_FUTURE, e["entry_date"] or date.min))
    return {"urn": e["urn"], "entry_date": e["entry_date"], "leaving_date": e["leaving_date"]}


def _latest(contacts: list[tuple[str, date | None]]) -> dict | None:
    dated = [c for c in contacts if c[1] is not None]
    if not dated:
        return None
    kind, on = max(dated, key=lambda c: c[1])
    return {"kind": kind, "date": on}


# The most recent dated contact with the child, one per agency: each comes from its own
# category, so a caller refused health contacts never learns of one.
def latest_education_contact(doc: dict) -> dict | None:
    return _latest([("enrolment", r["leaving_date"] or r["entry_date"]) for r in doc["edu_enrolment"]])


def latest_social_care_contact(doc: dict) -> dict | None:
    return _latest([("referral", r["referral_date"]) for r in doc["sc_referral"]]
                   + [("missing episode", r["start_date"]) for r in doc["sc_missing"]])


def latest_health_contact(doc: dict) -> dict | None:
    return _latest([(r["contact_type"] or "contact", r["contact_date"]) for r in doc["health_contact"]])


# Each listed child's detail: response field -> the category it comes from.
CME_FIELDS: Fields = {
    "addresses": ADDRESSES,
    "last_school": Field("education.enrolment", last_school, ("edu_enrolment",)),
    "gp_practice": Field("health.gp", lambda doc: doc["health_gp"], ("health_gp",)),
    "latest_contact.education": Field("education.enrolment", latest_education_contact, ("edu_enrolment",)),
    "latest_contact.social_care": Field("social_care.episodes", latest_social_care_contact,
                                        ("sc_referral", "sc_missing")),
    "latest_contact.health": Field("health.contacts", latest_health_contact, ("health_contact",)),
}

# The listing itself, built from (pseudonym, reason): being listed says the child is known to
# social care or health; the reason comes from the rolls, or from attendance.
CME_LISTING_FIELDS: dict[str, Field] = {
    "child_id": Field("identity.known_to", lambda row: row[0]),
    "reason": Field("education.enrolment", lambda row: row[1],
                    by_value={"no attendance this term": "education.attendance"}),
}
