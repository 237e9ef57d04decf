"""A child's joined record, assembled section by section from one document.

The server keeps one document per child (``tables.materialise``, then held as
JSON by ``store.documents.DocumentMap``): the child's current records and every
event table as lists, each row tagged with its source. A view parses only the
lists the allowed sections need, so data that is withheld is never even read;
the sections themselves are pure functions of the document.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

from linkage.reference import current_reference, label
from linkage.store.documents import DocumentMap
from linkage.views.fields import Field, Fields, build, columns

__all__ = ["ADDRESSES", "CHILD_FIELDS", "SECTIONS", "build_sections", "child_documents", "demographics",
           "document_columns", "known_to", "latest_address"]

Document = dict[str, list[dict]]


def _list(table: str) -> Callable[[Document], list[dict]]:
    return lambda doc: doc[table]


def demographics(doc: Document) -> dict[str, Any]:
    recs = doc["records"]

    def common(field: str):
        counts: dict = defaultdict(int)
        for r in recs:
            if r[field] is not None:
                counts[r[field]] += 1
        return max(counts, key=counts.get) if counts else None
    return {"forename": common("forename"), "surname": common("surname"),
            "date_of_birth": common("date_of_birth"), "sex": common("sex")}


def known_to(doc: Document) -> list[str]:
    """Which agencies hold a record of the child: its own category, since that a child is
    known to health (or social care) is itself sensitive."""
    return sorted({r["source"] for r in doc["records"]})


def addresses(doc: Document) -> list[dict]:
    """Each agency's address for the child. ``since``: when the child moved there, where the
    agency's system records it (else None); ``as_of``: the extract that says so."""
    return [{"source": r["source"], "postcode": r["postcode"], "address": r["address"],
             "since": r.get("address_from"), "as_of": r.get("extract_date")}
            for r in _held(doc) if r["postcode"] is not None or r["address"] is not None]


def _held(doc: Document) -> list[dict]:
    """Every address a record holds: its current one, then its earlier ones (``address_history``)."""
    return [*doc["records"], *(doc.get("address_history") or [])]


def _newest(item: dict) -> tuple[bool, str, str]:
    """An address's place in time: one with a move-in date ranks by it, above any without one
    (an extract's date says only that the agency still held it then, as a stale record does)."""
    return item["since"] is not None, str(item["since"] or ""), str(item["as_of"])


def addresses_unattributed(doc: Document) -> list[dict]:
    """Every address once, newest first, without the agency that holds it: which agencies
    hold a child's records is itself sensitive (``identity.known_to``). An address some agency
    holds now comes before one only in a record's history: that record moved on from it, even
    where the history has a move-in date and the current address has none."""
    latest: dict[tuple, dict] = {}
    held_now: set[tuple] = set()
    for now, rows in ((True, doc["records"]), (False, doc.get("address_history") or [])):
        for r in rows:
            key = (r["postcode"], r["address"])
            if key == (None, None):
                continue
            if now:
                held_now.add(key)
            _keep_latest(latest.setdefault(key, {"postcode": key[0], "address": key[1], "since": None,
                                                 "as_of": None}), r)
    return sorted(latest.values(), key=lambda a: ((a["postcode"], a["address"]) in held_now, _newest(a),
                                                  str(a["postcode"]), str(a["address"])), reverse=True)


def _keep_latest(seen: dict, r: dict) -> None:
    """The latest move to an address any agency records, and the newest extract holding it."""
    if r.get("address_from") and (seen["since"] is None or r["address_from"] > seen["since"]):
        seen["since"] = r["address_from"]
    if r.get("extract_date") and (seen["as_of"] is None or str(r["extract_date"]) > str(seen["as_of"])):
        seen["as_of"] = r["extract_date"]


def latest_address(doc: Document) -> dict | None:
    """The address the child most recently moved to, by real move-in dates where an agency
    records one; otherwise the one in the newest extract."""
    found = addresses_unattributed(doc)
    return found[0] if found else None


def attendance(doc: Document) -> list[dict]:
    """Attendance by term, oldest first (census terms sort by year, then Autumn, Spring, Summer)."""
    terms: dict[str, dict] = defaultdict(lambda: {"possible": 0, "authorised": 0, "unauthorised": 0})
    for r in doc["edu_attendance"]:
        y = terms[r["term"]]
        y["possible"] += r["sessions_possible"] or 0
        y["authorised"] += r["sessions_authorised"] or 0
        y["unauthorised"] += r["sessions_unauthorised"] or 0
    out = []
    for term, y in sorted(terms.items()):
        rate = 1 - (y["authorised"] + y["unauthorised"]) / y["possible"] if y["possible"] else None
        out.append({"term": term, "academic_year": term.split(" ")[0], "sessions_possible": y["possible"],
                    "sessions_authorised_absence": y["authorised"],
                    "sessions_unauthorised_absence": y["unauthorised"],
                    "attendance_rate": round(rate, 4) if rate is not None else None})
    return out


def sen(doc: Document) -> dict[str, Any]:
    order = {"E": 2, "K": 1, "N": 0}
    best = max((r["provision"] for r in doc["edu_sen"]), key=lambda p: order.get(p, -1), default=None)
    return {"provision": best, "ehc_plan": best == "E",
            "provision_label": label("sen_provision", best) if best else None}


# Names next to codes: each item keeps its codes (systems need them) and gains the
# words a person reads, from the reference registers and the DfE's code lists.
def _labelled(kind: str, code: Any) -> str | None:
    return label(kind, code) if code else None


def schools(doc: Document) -> list[dict]:
    ref = current_reference()
    out = []
    for r in doc["edu_enrolment"]:
        est = ref.establishment(r["urn"])
        out.append({**r, "school_name": est.name if est else None, "school_type": est.type_name if est else None,
                    "setting": est.setting if est else None, "is_ap": est.is_ap if est else None,
                    "phase": est.phase if est else None,
                    "enrol_status_label": _labelled("enrolment_status", r["enrol_status"])})
    return out


def exclusions(doc: Document) -> list[dict]:
    return [{**r, "category_label": _labelled("exclusion_category", r["category"]),
             "reason_label": _labelled("exclusion_reason", r["reason"])} for r in doc["edu_exclusion"]]


def gp_registrations(doc: Document) -> list[dict]:
    ref = current_reference()
    out = []
    for r in doc["health_gp"]:
        practice = ref.gp_practice(r["ods_code"])
        out.append({**r, "practice_name": practice.name if practice else None,
                    "practice_telephone": practice.telephone if practice else None})
    return out


def involvement(doc: Document) -> dict[str, Any]:
    return {"known_to_childrens_social_care": any(r["source"] == "social_care" for r in doc["records"]),
            "contacts": [{"team": r["team"], "telephone": r["contact"]} for r in doc["sc_allocation"]]}


def episodes(doc: Document) -> dict[str, Any]:
    return {"episodes": [{**r, "kind_label": _labelled("care_episode_kind", r["kind"])} for r in doc["sc_episode"]],
            "missing_episodes": doc["sc_missing"]}


# category -> (section name, document lists it reads, builder)
SECTIONS: dict[str, tuple[str, tuple[str, ...], Callable[[Document], Any]]] = {
    "identity.demographics": ("demographics", ("records",), demographics),
    "identity.known_to": ("known_to", ("records",), known_to),
    "identity.address": ("addresses", ("records", "address_history"), addresses),
    "education.enrolment": ("schools", ("edu_enrolment",), schools),
    "education.attendance": ("attendance", ("edu_attendance",), attendance),
    "education.exclusion": ("exclusions", ("edu_exclusion",), exclusions),
    "education.sen": ("sen", ("edu_sen",), sen),
    "social_care.involvement": ("social_care", ("records", "sc_allocation"), involvement),
    "social_care.episodes": ("social_care_episodes", ("sc_episode", "sc_missing"), episodes),
    "health.gp": ("gp_registrations", ("health_gp",), gp_registrations),
    "health.contacts": ("health_contacts", ("health_contact",), _list("health_contact")),
}


# Addresses tagged with their agency tell which agencies know the child too.
ADDRESSES = (Field("identity.address", addresses, ("records", "address_history"), also=("identity.known_to",)),
             Field("identity.address", addresses_unattributed, ("records", "address_history")))

# The child view's response fields (section name -> its category, or variants).
CHILD_FIELDS: Fields = {name: Field(cat, builder, reads) for cat, (name, reads, builder) in SECTIONS.items()}
CHILD_FIELDS["addresses"] = ADDRESSES


def document_columns(categories: Iterable[str]) -> list[str]:
    return columns(CHILD_FIELDS, categories)


def child_documents(docs: DocumentMap, child_ids: list[str], columns: list[str]) -> dict[str, Document]:
    """The named lists of each child's document; only those lists are read."""
    out = {}
    for child_id in child_ids:
        if (doc := docs.get(child_id, columns)) is not None:
            out[child_id] = doc
    return out


def build_sections(doc: Document, allowed: Iterable[str]) -> dict[str, Any]:
    """Only the allowed categories' sections are built and returned."""
    return build(CHILD_FIELDS, doc, allowed)[0]
