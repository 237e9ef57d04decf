"""The server's per-child documents give what plain SQL over the store gives."""

from __future__ import annotations

import pytest

from linkage.views.child import SECTIONS, build_sections, child_documents, document_columns
from linkage.views.cme import (CME_FIELDS, last_school, latest_education_contact, latest_health_contact,
                               latest_social_care_contact)
from linkage.views.fields import categories, columns
from linkage.views.tables import STORE, materialise


@pytest.fixture(scope="module")
def served(linked_store):
    materialise(linked_store.connection)
    cur = linked_store.connection.cursor()
    # Children with something in most lists: several sources, events of each kind.
    ids = [r[0] for r in cur.execute(
        f"SELECT child_id FROM {STORE.records} GROUP BY child_id HAVING count(DISTINCT source) = 3 "
        "ORDER BY child_id LIMIT 40").fetchall()]
    assert len(ids) == 40
    return cur, ids


def _sql(cur, sql, params):
    res = cur.execute(sql, params)
    return [dict(zip([d[0] for d in res.description], r)) for r in res.fetchall()]


def _events(cur, table, child_id):
    return _sql(cur, f"SELECT r.source, e.* EXCLUDE (record_key, extract_id) FROM {STORE.event(table)} e "
                     f"JOIN {STORE.records} r USING (record_key, extract_id) WHERE r.child_id = ?", [child_id])


def _key(rows):
    return sorted(rows, key=lambda r: tuple(str(v) for v in r.values()))


def test_every_list_of_a_document_holds_exactly_the_childs_current_events(served):
    cur, ids = served
    tables = [t for t in document_columns(SECTIONS) if t != "records"] + ["sc_referral"]
    docs = child_documents(cur, ids, tables)
    assert set(docs) == set(ids)
    compared = 0
    for cid in ids:
        for table in tables:
            want = _events(cur, table, cid)
            assert _key(docs[cid][table]) == _key(want), (cid, table)
            compared += len(want)
    assert compared > 200


def test_sections_and_cme_details_match_sql(served):
    cur, ids = served
    docs = child_documents(cur, ids, columns(CME_FIELDS, categories(CME_FIELDS)) + ["edu_attendance", "sc_allocation"])
    for cid in ids:
        doc = docs[cid]
        addresses = _sql(cur, f"SELECT source, postcode, address, extract_date AS as_of FROM {STORE.records} "
                              "WHERE child_id = ? AND (postcode IS NOT NULL OR address IS NOT NULL)", [cid])
        assert _key(SECTIONS["identity.address"][2](doc)) == _key(addresses)
        school = _sql(cur, f"SELECT urn, entry_date, leaving_date FROM {STORE.event('edu_enrolment')} e "
                           f"JOIN {STORE.records} r USING (record_key, extract_id) WHERE r.child_id = ? "
                           "ORDER BY coalesce(leaving_date, DATE '9999-12-31') DESC, entry_date DESC LIMIT 1", [cid])
        assert last_school(doc) == (school[0] if school else None)
        # The latest contact, per agency: each from its own events only.
        for latest, sql in ((latest_social_care_contact, f"""
                SELECT referral_date AS d FROM {STORE.event('sc_referral')} JOIN r USING (record_key, extract_id)
                UNION ALL SELECT start_date FROM {STORE.event('sc_missing')} JOIN r USING (record_key, extract_id)"""),
                            (latest_health_contact, f"""
                SELECT contact_date AS d FROM {STORE.event('health_contact')} JOIN r USING (record_key, extract_id)"""),
                            (latest_education_contact, f"""
                SELECT coalesce(leaving_date, entry_date) AS d FROM {STORE.event('edu_enrolment')}
                JOIN r USING (record_key, extract_id)""")):
            want = _sql(cur, f"WITH r AS (SELECT * FROM {STORE.records} WHERE child_id = ?) "
                             f"SELECT max(d) AS d FROM ({sql})", [cid])[0]["d"]
            assert (latest(doc) or {}).get("date") == want
        sections = build_sections(doc, ["education.attendance", "social_care.involvement"])
        possible = sum(r["sessions_possible"] or 0 for r in _events(cur, "edu_attendance", cid))
        assert sum(y["sessions_possible"] for y in sections["attendance"]) == possible
        assert sections["social_care"]["known_to_childrens_social_care"]


def test_a_view_reads_only_the_lists_its_sections_need():
    assert document_columns(["education.enrolment", "health.gp"]) == ["edu_enrolment", "health_gp"]
    assert document_columns(["identity.demographics", "social_care.involvement"]) == ["records", "sc_allocation"]
    assert document_columns(["identity.known_to"]) == ["records"]
    assert document_columns(["not.a.category"]) == []
