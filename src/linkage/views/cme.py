"""Children missing education: known to social care or health, on no school roll.

A child is listed when of the given age and known to social care or health,
and either has no open enrolment (never enrolled, or taken off roll), or, when
``absent_days`` is given, was absent at least that many school days (two
sessions a day, authorised or not) in the latest term it has attendance for.

Each link run records who was on the list then (``record_membership``), so the
worklist can say which children are new since the previous run.
"""

from __future__ import annotations

import threading
from datetime import date

import duckdb

from linkage.reference import current_reference
from linkage.store import Store
from linkage.store.documents import DocumentMap
from linkage.store.schema import t
from linkage.views.child import ADDRESSES, child_documents, demographics, latest_address
from linkage.views.fields import Field, Fields, build, columns
from linkage.views.tables import MEMORY, STORE, Tables

__all__ = ["ABSENT", "CME_FIELDS", "CME_LISTING_FIELDS", "WorklistDay", "WorklistDays", "cme_base_sql",
           "cme_children", "cme_filter_sql", "cme_page", "cme_rows", "cme_sql",
           "last_school", "latest_absence", "latest_education_contact", "latest_health_contact", "latest_social_care_contact",
           "previous_membership", "record_membership", "worklist_fields"]

# The listing's reason for a child on roll but absent: it comes from attendance.
ABSENT = "absent this term"


def cme_base_sql(on: date, tables: Tables = STORE) -> tuple[str, list]:
    """SQL listing every child the worklist could list on ``on``, whatever its filters: each
    child known to social care or health, of a known age, off every school roll or with a
    latest term of attendance. Columns: child_id, age (completed years on ``on``),
    roll_reason (NULL while on a roll), absent_sessions, sessions_possible (the latest term,
    where it has one), social_care, health (known to each)."""
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
latest_term AS (
  SELECT l.child_id, a.term, sum(a.sessions_possible) AS possible,
         sum(coalesce(a.sessions_authorised, 0) + coalesce(a.sessions_unauthorised, 0)) AS absent
  FROM linked l
  JOIN {tables.event('edu_attendance')} a ON a.record_key = l.record_key AND a.extract_id = l.extract_id
  WHERE a.sessions_possible > 0
  GROUP BY l.child_id, a.term
  QUALIFY row_number() OVER (PARTITION BY l.child_id ORDER BY a.term DESC) = 1
),
known AS (
  SELECT child_id, bool_or(source = 'social_care') AS social_care, bool_or(source = 'health') AS health
  FROM linked WHERE source IN ('social_care', 'health') GROUP BY child_id
),
roll AS (
  SELECT k.child_id, CASE WHEN k.child_id IN (SELECT child_id FROM linked WHERE source = 'education')
                          THEN 'off roll' ELSE 'never on a school roll' END AS reason
  FROM known k WHERE k.child_id NOT IN (SELECT child_id FROM open_enrolment)
)
SELECT k.child_id, a.age, r.reason AS roll_reason, lt.absent AS absent_sessions, lt.possible AS sessions_possible,
       k.social_care, k.health
FROM known k JOIN ages a USING (child_id) LEFT JOIN roll r USING (child_id) LEFT JOIN latest_term lt USING (child_id)
WHERE a.age IS NOT NULL AND (r.child_id IS NOT NULL OR lt.child_id IS NOT NULL)
"""
    return sql, [on, on, on]


def cme_filter_sql(base: str, min_age: int = 5, max_age: int = 16, absent_days: int | None = None,
                   known_to: str | None = None) -> tuple[str, list]:
    """The listing from ``base`` (``cme_base_sql``'s rows, as a relation): child_id, reason,
    absent_sessions, sessions_possible, by child_id. A child off roll is listed for that; one
    on roll, when ``absent_days`` is given, for missing at least that many days (two sessions
    each) in its latest term."""
    known = {None: "TRUE", "any": "TRUE", "social_care": "social_care", "health": "health"}.get(known_to, "FALSE")
    sql = (f"SELECT child_id, coalesce(roll_reason, '{ABSENT}') AS reason, absent_sessions, sessions_possible "
           f"FROM {base} WHERE age BETWEEN ? AND ? AND {known} AND (roll_reason IS NOT NULL OR absent_sessions >= ?) "
           "ORDER BY child_id")
    return sql, [min_age, max_age - 1, None if absent_days is None else 2 * absent_days]


def cme_sql(on: date, min_age: int = 5, max_age: int = 16, absent_days: int | None = None,
            known_to: str | None = None, tables: Tables = STORE) -> tuple[str, list]:
    """SQL listing child_id, reason, absent_sessions, sessions_possible (the child's latest
    term, where it has one); ages are completed years on ``on``."""
    base, params = cme_base_sql(on, tables)
    sql, more = cme_filter_sql(f"({base})", min_age, max_age, absent_days, known_to)
    return sql, params + more


def cme_children(store: Store, on: date) -> list[str]:
    sql, params = cme_sql(on)
    return [r[0] for r in store.rows(sql, params)]


def cme_rows(cur, on: date, tables: Tables = STORE, **filters) -> list[tuple[str, str, int | None, int | None]]:
    """Every listed child: (child_id, reason, absent sessions, possible sessions), by child_id."""
    sql, params = cme_sql(on, tables=tables, **filters)
    return [tuple(r) for r in cur.execute(sql, params).fetchall()]


def cme_page(cur, on: date, page: int, page_size: int, tables: Tables = STORE,
             **filters) -> tuple[int, list[tuple[str, str]]]:
    sql, params = cme_sql(on, tables=tables, **filters)
    total = cur.execute(f"SELECT count(*) FROM ({sql})", params).fetchone()[0]
    rows = cur.execute(f"{sql} LIMIT ? OFFSET ?", params + [page_size, (page - 1) * page_size]).fetchall()
    return total, [(r[0], r[1]) for r in rows]


# ---------------------------------------------------------------- membership per link run

_MEMBERSHIP = t("cme_membership")


def record_membership(store: Store, run_id: int, on: date) -> int:
    """Who was on the list at this run: every age, roll reasons and anyone absent at all,
    with their absence, so a later worklist can ask "new since the previous run" with its
    own absence threshold."""
    sql, params = cme_sql(on, min_age=0, max_age=100, absent_days=0)
    store.execute(f"DELETE FROM {_MEMBERSHIP} WHERE run_id = ?", [run_id])
    store.execute(f"INSERT INTO {_MEMBERSHIP} SELECT ?, child_id, reason, absent_sessions FROM ({sql})",
                  [run_id, *params])
    return int(store.scalar(f"SELECT count(*) FROM {_MEMBERSHIP} WHERE run_id = ?", [run_id]))


def previous_membership(con, aliases: dict[str, str]) -> dict[str, tuple[str, int | None]] | None:
    """The list as the run before the latest drew it, by today's child ids (merged ids
    followed); None when no earlier run recorded one."""
    try:
        latest = con.execute(f"SELECT max(run_id) FROM {t('runs')} WHERE finished_at IS NOT NULL").fetchone()[0]
        prev = con.execute(f"SELECT max(run_id) FROM {_MEMBERSHIP} WHERE run_id < ?", [latest]).fetchone()[0]
    except duckdb.CatalogException:         # no run has recorded its list yet
        return None
    if prev is None:
        return None
    rows = con.execute(f"SELECT child_id, reason, absent_sessions FROM {_MEMBERSHIP} WHERE run_id = ?",
                       [prev]).fetchall()
    return {aliases.get(c, c): (reason, absent) for c, reason, absent in rows}


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


def name_of(doc: dict) -> dict | None:
    d = demographics(doc)
    return {"forename": d["forename"], "surname": d["surname"]} if d["surname"] else None


def age_on(doc: dict, on: date) -> int | None:
    born = demographics(doc)["date_of_birth"]
    if born is None:
        return None
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def out_of_school(doc: dict, on: date) -> dict | None:
    """The last day on a school roll and the days since, once the last enrolment has ended."""
    school = last_school(doc)
    if school is None or school["leaving_date"] is None or school["leaving_date"] > on:
        return None
    return {"last_day": school["leaving_date"], "days": (on - school["leaving_date"]).days}


def latest_absence(doc: dict) -> dict | None:
    """The latest term's absence, in sessions and school days (two sessions a day)."""
    rows = [r for r in doc["edu_attendance"] if r["sessions_possible"]]
    if not rows:
        return None
    term = max(r["term"] for r in rows)
    possible = sum(r["sessions_possible"] for r in rows if r["term"] == term)
    absent = sum((r["sessions_authorised"] or 0) + (r["sessions_unauthorised"] or 0)
                 for r in rows if r["term"] == term)
    return {"term": term, "sessions_possible": possible, "sessions_absent": absent, "days_absent": absent / 2}


def named_school(doc: dict) -> dict | None:
    """The last school, with its name and type from the establishment register."""
    school = last_school(doc)
    if school is None:
        return None
    est = current_reference().establishment(school["urn"])
    return {**school, "school_name": est.name if est else None, "school_type": est.type_name if est else None,
            "is_ap": est.is_ap if est else None}


def worklist_fields(on: date) -> Fields:
    """What the worklist shows of each child beside ``CME_FIELDS``, judged on ``on``."""
    return {
        "name": Field("identity.demographics", name_of, ("records",)),
        "age": Field("identity.demographics", lambda doc: age_on(doc, on), ("records",)),
        "latest_address": Field("identity.address", latest_address, ("records",)),
        "out_of_school": Field("education.enrolment", lambda doc: out_of_school(doc, on), ("edu_enrolment",)),
        "absence": Field("education.attendance", latest_absence, ("edu_attendance",)),
    }


# Each listed child's detail: response field -> the category it comes from.
CME_FIELDS: Fields = {
    "addresses": ADDRESSES,
    "last_school": Field("education.enrolment", named_school, ("edu_enrolment",)),
    "gp_practice": Field("health.gp", lambda doc: doc["health_gp"], ("health_gp",)),
    "latest_contact.education": Field("education.enrolment", latest_education_contact, ("edu_enrolment",)),
    "latest_contact.social_care": Field("social_care.episodes", latest_social_care_contact,
                                        ("sc_referral", "sc_missing")),
    "latest_contact.health": Field("health.contacts", latest_health_contact, ("health_contact",)),
}

# The listing itself, built from (pseudonym, reason, new since the previous run): being listed
# says the child is known to social care or health; the reason comes from the rolls, or from
# attendance; being new says only that the child was not listed before.
CME_LISTING_FIELDS: dict[str, Field] = {
    "child_id": Field("identity.known_to", lambda row: row[0]),
    "new_since_last_run": Field("identity.known_to", lambda row: row[2]),
    "reason": Field("education.enrolment", lambda row: row[1], by_value={ABSENT: "education.attendance"}),
}


# ---------------------------------------------------------------- the server's worklist, day by day

class WorklistDay:
    """One day's worklist groundwork in the server's memory, done once rather than per request.

    Every child the worklist could list that day (``cme_base_sql``) is one in-memory table, so
    a request's filters scan that rather than every linked record; and each child's worklist
    columns (``worklist_fields``), built for a set of allowed categories, are kept once built:
    the policy gives every child no consent names the same set, so after the first request
    sorting and filtering the whole list reads no document.
    """

    KEEP = 1_000_000        # built entries kept (all sets together); past that, start again

    def __init__(self, con, on: date) -> None:
        self.on = on
        self.table = f"memory.cme_base_{on:%Y%m%d}"
        sql, params = cme_base_sql(on, MEMORY)
        con.execute(f"CREATE OR REPLACE TABLE {self.table} AS {sql}", params)
        self.fields = worklist_fields(on)
        self._built: dict[tuple[str, frozenset[str]], dict[str, tuple[dict, set[str]]]] = {}
        self._kept = 0
        self._lock = threading.Lock()

    def rows(self, cur, **filters) -> list[tuple[str, str, int | None, int | None]]:
        """As ``cme_rows`` gives them for this day."""
        sql, params = cme_filter_sql(self.table, **filters)
        return [tuple(r) for r in cur.execute(sql, params).fetchall()]

    def summaries(self, docs: DocumentMap, allowed: dict[str, frozenset[str]]) -> dict[str, tuple[dict, set[str]]]:
        """Each child's worklist columns (``worklist_fields``) and their categories, as ``build``
        gives them for that child's allowed categories; only what no earlier request built is read."""
        return self._built_for(docs, "summary", self.fields, allowed)

    def details(self, docs: DocumentMap, allowed: dict[str, frozenset[str]]) -> dict[str, tuple[dict, set[str]]]:
        """The same for each child's detail (``CME_FIELDS``)."""
        return self._built_for(docs, "detail", CME_FIELDS, allowed)

    def _built_for(self, documents: DocumentMap, which: str, fields: Fields,
                   allowed: dict[str, frozenset[str]]) -> dict[str, tuple[dict, set[str]]]:
        out, todo = {}, {}
        kept = {cats: self._built.get((which, cats), {}) for cats in set(allowed.values())}
        for child, cats in allowed.items():
            made = kept[cats].get(child)
            if made is None:
                todo.setdefault((which, cats), []).append(child)
            else:
                out[child] = made
        for key, children in todo.items():
            lists = columns(fields, key[1])
            docs = child_documents(documents, children, lists)
            made = {c: build(fields, {k: (docs.get(c) or {}).get(k, []) for k in lists}, key[1]) for c in children}
            out.update(made)
            with self._lock:
                if self._kept + len(made) > self.KEEP:
                    self._built, self._kept = {}, 0
                self._built.setdefault(key, {}).update(made)
                self._kept += len(made)
        return out

    def drop(self, con) -> None:
        con.execute(f"DROP TABLE IF EXISTS {self.table}")


class WorklistDays:
    """The few days' ``WorklistDay`` a server keeps (today's, and whichever dates callers ask
    for), built on first use. A day pushed out is dropped only when the next one is, so a
    request still reading it finishes first."""

    def __init__(self, con, keep: int = 3) -> None:
        self.con, self.keep = con, keep
        self._days: dict[date, WorklistDay] = {}
        self._retired: list[WorklistDay] = []
        self._lock = threading.Lock()

    def day(self, on: date) -> WorklistDay:
        found = self._days.get(on)
        if found is not None:
            return found
        with self._lock:
            if on not in self._days:
                cur = self.con.cursor()
                try:
                    self._days[on] = WorklistDay(cur, on)
                    while len(self._days) > self.keep:      # the first built goes (never this one)
                        for gone in self._retired:
                            gone.drop(cur)
                        self._retired = [self._days.pop(next(iter(self._days)))]
                finally:
                    cur.close()
            return self._days[on]
