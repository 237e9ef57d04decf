"""Issue 11: a strong pair kept apart by two UPNs is queued, not lost (``link/outclassed.py``).

Qabil Lordan left his first school (typed there as Qbil) and his new school gave him a second UPN;
social care still holds the first, with his NHS number. His new school record and his social-care
record agree in every field but the UPN. The social-care record fits a child holding the other UPN
better (his first school's record), so the first pass drops the link (``cluster.outclassed_links``):
the pair was neither linked, refused nor uncertain, and nothing queued it (250k ``linkage synth``
realistic, seed 42: Qabil Lordan, the same shape).
"""

from __future__ import annotations

import pandas as pd

from test_second_upn import _patient, _pupil, _write


def _word(i: int, salt: int) -> str:
    """A made-up name, one per ``i``: a population of distinct families around the pair (so that
    names count as rare ones do in a real extract)."""
    out, n = "", i * 7919 + salt
    for _ in range(4):
        out += "bcdfghjklmnprstvz"[n % 17] + "aeiou"[(n // 17) % 5]
        n //= 85
    return out.capitalize()


def test_a_second_upn_agreeing_in_every_other_field_is_queued(tmp_path, trained_model):
    from test_cluster_evidence import _nhs, _upn

    from conftest import EXTRACT_DATE
    from linkage.connectors import ingest_file
    from linkage.link import run_link
    from linkage.link.run import import_model
    from linkage.store import Store
    from linkage.synth.extracts import EDU_HEADER, HEALTH_HEADER, SC_HEADER

    home = ("IV9 4XB", "5 Shore Road")
    pupils = [_pupil("S0", _upn(1), "Qbil", "", "Lordan", "27/09/2013", "M", *home, "100001", "01/09/2018",
                     leaving="19/07/2025"),
              _pupil("S1", _upn(2), "Qabil", "", "Lordan", "27/09/2013", "M", *home, "100002", "07/01/2026")]
    patients = [_patient("P1", _nhs(10), "Qabil", "Lordan", "2013-09-27", "M", *home)]
    for i in range(200):
        name, family, sex = _word(i, 1), _word(i, 2), "FM"[i % 2]
        day, month, year = 1 + i % 28, 1 + i % 12, 2010 + i % 8
        where = (f"LS{1 + i % 9} {i % 10}AB", f"{i} Road")
        pupils.append(_pupil(f"B{i}", _upn(100 + i), name, "", family, f"{day:02d}/{month:02d}/{year}", sex, *where,
                             "100003", "01/09/2020"))
        patients.append(_patient(f"G{i}", _nhs(1000 + 10 * i), name, family, f"{year}-{month:02d}-{day:02d}", sex,
                                 *where))
    social = [{h: "" for h in SC_HEADER} | {
        "LAchildID": "L1", "UPN": _upn(1), "NHSNumber": _nhs(10), "Forename": "Qabil", "Surname": "Lordan",
        "PersonBirthDate": "27/09/2013", "GenderCurrent": "1", "HOME_POST": home[0], "AddressLine1": home[1],
        "CINreferralDate": "01/03/2025", "ReferralSource": "1A"}]
    files = {"education": (EDU_HEADER, pupils), "social_care": (SC_HEADER, social), "health": (HEALTH_HEADER, patients)}
    store = Store(tmp_path / "data", memory_limit="1GB")
    try:
        for source, (header, rows) in files.items():
            _write(tmp_path / f"{source}.csv", header, rows)
            assert ingest_file(store, source, tmp_path / f"{source}.csv", extract_date=EXTRACT_DATE).accepted == len(rows)
        import_model(store, trained_model)
        run_link(store)
        child = dict(store.rows("SELECT record_key, child_id FROM store.identity"))
        queue = {(a, b): (p, why) for a, b, p, why in store.rows(
            "SELECT record_key_l, record_key_r, match_probability, reason FROM store.review_queue")}
    finally:
        store.close()
    # Two UPNs keep the new school record apart (not linked by the run) ...
    assert child["education:S1"] != child["social_care:L1"]
    # ... and its pair with the social-care record, equal in every field but the UPN, is put to a reviewer.
    assert ("education:S1", "social_care:L1") in queue
    from linkage.link.outclassed import OUTCLASSED_REASON

    p, why = queue[("education:S1", "social_care:L1")]
    assert p > 0.99 and why == OUTCLASSED_REASON


def test_a_dropped_link_is_asked_only_when_strong_in_two_children_under_one_nhs_number():
    from linkage.link.outclassed import asked_outclassed

    edges = pd.DataFrame({"unique_id_l": ["education:s1", "education:s2", "education:s3", "education:s4",
                                          "education:s5", "education:s6"],
                          "unique_id_r": ["health:g1", "health:g2", "health:g3", "health:g4", "health:g5",
                                          "health:g6"],
                          "match_weight": [14.0, 2.0, 14.0, 14.0, 14.0, 14.0]})
    outclassed = {frozenset(p) for p in zip(edges["unique_id_l"], edges["unique_id_r"]) if p[0] != "education:s5"}
    children = {f"{s}:{k}{i}": f"{k}{i}" for i in range(1, 7) for s, k in (("education", "s"), ("health", "g"))}
    children.update({"health:g3": "s3", "education:t6": "g6"})
    ids = {"education:s1": {"upn": "U1", "nhs": None}, "health:g1": {"upn": None, "nhs": "N1"},
           "education:s4": {"upn": None, "nhs": "N4"}, "health:g4": {"upn": None, "nhs": "N5"}}
    # s1-g1 asked; s2-g2 weak; s3-g3 one child after all; s4-g4 two NHS numbers; s5-g5 never dropped;
    # s6-g6: g6's child holds a school record too (one source holds both: twins on one roll).
    assert list(asked_outclassed(edges, outclassed, children, ids)) == [True, False, False, False, False, False]
