"""The server's per-child documents give what plain SQL over the store gives."""

from __future__ import annotations

import pytest

from linkage.reference import (KINDS, ReferenceData, label, load_reference, reference_from_store, sample_path,
                               use_reference)
from linkage.views.child import SECTIONS, build_sections, child_documents, document_columns
from linkage.views.child import latest_address
from linkage.views.cme import (CME_FIELDS, last_school, latest_education_contact, latest_health_contact,
                               latest_social_care_contact)
from linkage.views.fields import categories, columns
from linkage.store.documents import DocumentMap
from linkage.views.tables import STORE, materialise, serve_documents

VIEWED = 40


@pytest.fixture(scope="module")
def served(linked_store):
    materialise(linked_store.connection)
    cur = linked_store.connection.cursor()
    # Children with something in most lists: several sources, events of each kind; the first 40 in
    # the order of their records (identifiers come from random keys: ordered by them, a new 40 each run).
    ids = [r[0] for r in cur.execute(
        f"SELECT child_id FROM {STORE.records} GROUP BY child_id HAVING count(DISTINCT source) = 3 "
        f"ORDER BY min(record_key) LIMIT {VIEWED}").fetchall()]
    assert len(ids) == VIEWED
    return cur, ids, DocumentMap.load(linked_store.connection, "memory.serve_child")


def _sql(cur, sql, params):
    res = cur.execute(sql, params)
    return [dict(zip([d[0] for d in res.description], r)) for r in res.fetchall()]


def _events(cur, table, child_id):
    return _sql(cur, f"SELECT r.source, e.* EXCLUDE (record_key, extract_id) FROM {STORE.event(table)} e "
                     f"JOIN {STORE.records} r USING (record_key, extract_id) WHERE r.child_id = ?", [child_id])


def _key(rows):
    return sorted(rows, key=lambda r: tuple(str(v) for v in r.values()))


def test_every_list_of_a_document_holds_exactly_the_childs_current_events(served):
    cur, ids, held = served
    tables = [t for t in document_columns(SECTIONS) if t != "records"] + ["sc_referral"]
    docs = child_documents(held, ids, tables)
    assert set(docs) == set(ids)
    compared = 0
    for cid in ids:
        for table in tables:
            want = _events(cur, table, cid)
            assert _key(docs[cid][table]) == _key(want), (cid, table)
            compared += len(want)
    assert compared > 200


def test_sections_and_cme_details_match_sql(served):
    cur, ids, held = served
    docs = child_documents(held, ids, columns(CME_FIELDS, categories(CME_FIELDS)) + ["edu_attendance", "sc_allocation"])
    for cid in ids:
        doc = docs[cid]
        addresses = _sql(cur, f"SELECT source, postcode, address, address_from AS since, extract_date AS as_of "
                              f"FROM {STORE.records} "
                              "WHERE child_id = ? AND (postcode IS NOT NULL OR address IS NOT NULL)", [cid])
        assert _key(SECTIONS["identity.address"][2](doc)) == _key(addresses)
        # The latest address: the newest real move-in date; an undated one only when none is dated.
        dated = [a for a in addresses if a["since"] is not None]
        latest = latest_address(doc)
        if dated:
            assert (latest["postcode"], latest["address"]) in {(a["postcode"], a["address"]) for a in dated
                                                               if a["since"] == max(d["since"] for d in dated)}
            assert latest["since"] is not None
        elif addresses:
            assert latest["since"] is None and latest["as_of"] == max(a["as_of"] for a in addresses)
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


def test_held_documents_read_exactly_as_the_duckdb_rows_they_were_copied_from(served):
    """Every child, every list, every value and its type (dates come back as dates)."""
    cur, _, held = served
    res = cur.execute("SELECT * FROM memory.serve_child")
    names = [d[0] for d in res.description][1:]
    rows = res.fetchall()
    assert len(rows) == len(held) > 1000
    typed = set()
    for child_id, *lists in rows:
        doc = held.get(child_id, names)
        want = {n: v or [] for n, v in zip(names, lists)}
        assert doc == want, child_id
        for n in names:
            for got, row in zip(doc[n], want[n]):
                assert [type(v) for v in got.values()] == [type(v) for v in row.values()], (child_id, n)
                typed |= {type(v).__name__ for v in got.values()}
    assert {"date", "str", "int", "NoneType"} <= typed
    assert held.get("no such child", names) is None
    assert held.get(rows[0][0], ["records"]).keys() == {"records"}     # only the lists asked for


def test_a_view_reads_only_the_lists_its_sections_need():
    assert document_columns(["education.enrolment", "health.gp"]) == ["edu_enrolment", "health_gp"]
    assert document_columns(["identity.demographics", "social_care.involvement"]) == ["records", "sc_allocation"]
    assert document_columns(["identity.known_to"]) == ["records"]
    assert document_columns(["not.a.category"]) == []


@pytest.fixture(scope="module")
def reference(linked_store):
    """The synthetic registers loaded and installed, as ``Services.open`` does at start-up."""
    for kind in KINDS:
        load_reference(linked_store, kind, sample_path(kind))
    ref = reference_from_store(linked_store.connection, to_memory=True)
    use_reference(ref)
    yield ref
    use_reference(ReferenceData())


def test_sections_show_names_and_labels_next_to_codes(served, reference):
    cur, ids, held = served
    wanted = ["education.enrolment", "education.exclusion", "education.sen", "health.gp", "social_care.episodes"]
    # Children enough to meet an exclusion and an AP setting, not only the first forty.
    every = sorted(held)
    docs = child_documents(held, every, document_columns(wanted))
    seen = {"school": 0, "ap": 0, "exclusion": 0, "gp": 0, "sen": 0, "episode": 0}
    for doc in docs.values():
        sections = build_sections(doc, wanted)
        for item, raw in zip(sections["schools"], doc["edu_enrolment"]):
            school = reference.establishment(raw["urn"])
            assert item["urn"] == raw["urn"] and item["enrol_status"] == raw["enrol_status"]   # codes kept
            assert (item["school_name"], item["school_type"], item["setting"], item["is_ap"], item["phase"]) == (
                school.name, school.type_name, school.setting, school.is_ap, school.phase)
            assert item["enrol_status_label"] == label("enrolment_status", raw["enrol_status"])
            seen["school"] += 1
            seen["ap"] += item["is_ap"]
        for item in sections["exclusions"]:
            assert item["category"] and item["reason"]
            assert item["category_label"] == label("exclusion_category", item["category"])
            assert item["reason_label"] == label("exclusion_reason", item["reason"])
            assert not item["reason_label"].startswith("Unknown")
            seen["exclusion"] += 1
        for item in sections["gp_registrations"]:
            practice = reference.gp_practice(item["ods_code"])
            assert item["practice_name"] == practice.name and item["practice_telephone"] == practice.telephone
            seen["gp"] += 1
        if sections["sen"]["provision"]:
            assert sections["sen"]["provision_label"] == label("sen_provision", sections["sen"]["provision"])
            seen["sen"] += 1
        for item in sections["social_care_episodes"]["episodes"]:
            assert item["kind_label"] == label("care_episode_kind", item["kind"])
            seen["episode"] += 1
    assert min(seen.values()) > 0 and seen["ap"] >= 10, seen


def test_a_code_the_registers_do_not_have_still_shows_its_code(reference):
    doc = {"edu_enrolment": [{"source": "education", "urn": "123456", "entry_date": None, "leaving_date": None,
                              "enrol_status": "Q"}],
           "edu_exclusion": [{"source": "education", "category": "SUSP", "reason": "ZZ", "start_date": None,
                              "sessions": 1.0}],
           "health_gp": [{"source": "health", "ods_code": "A99999", "start_date": None}], "edu_sen": []}
    sections = build_sections(doc, ["education.enrolment", "education.exclusion", "health.gp", "education.sen"])
    assert sections["schools"][0] | {"urn": "123456"} == sections["schools"][0]
    assert sections["schools"][0]["school_name"] is None and sections["schools"][0]["is_ap"] is None
    assert sections["schools"][0]["enrol_status_label"] == "Unknown code Q"
    assert sections["exclusions"][0]["reason_label"] == "Unknown code ZZ"
    assert sections["gp_registrations"][0]["practice_name"] is None
    assert sections["sen"] == {"provision": None, "ehc_plan": False, "provision_label": None}


def test_a_store_written_before_an_event_type_existed_still_serves(tmp_path, synth_month1):
    """A data directory (or a published snapshot) from before ``address_history`` existed has no
    such table: the server still builds every document, with no such events, instead of failing
    to start after an upgrade."""
    from apiserver import linked_home
    from conftest import EXTRACT_DATE

    from linkage.store import Store
    from linkage.store.schema import t

    home = tmp_path / "home"
    linked_home(home, synth_month1, EXTRACT_DATE, children=0)
    store = Store(home)
    try:
        store.connection.execute(f"DROP TABLE {t('address_history')}")
        n = materialise(store.connection)
        assert n > 0
        assert store.connection.execute("SELECT count(address_history) FROM memory.serve_child").fetchone()[0] == 0
        assert store.connection.execute("SELECT count(edu_enrolment) FROM memory.serve_child").fetchone()[0] > 0
        docs = serve_documents(store.connection)        # what the server holds: every list typed
        assert len(docs) == n
    finally:
        store.close()
