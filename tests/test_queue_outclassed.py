"""Issue 11: a strong pair kept apart by two UPNs is queued, not lost (``link/outclassed.py``).

Abbi Moore moved and her new school gave her a second UPN; social care still holds the first
(with her NHS number) at the old address, as does her first school's record. Her GP record agrees
with her new school record in every field, but fits the social-care record better, and that
child holds the other UPN: the first pass drops the link (``cluster.outclassed_links``), so the
pair was neither linked, refused nor uncertain, and nothing queued it (250k ``linkage synth``
realistic, seed 42: Abbi Moore, Freddie Hughes, Qabil Lordan).
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


def test_a_second_upn_whose_gp_record_fits_the_first_is_queued(tmp_path, trained_model):
    from test_cluster_evidence import _nhs, _upn

    from conftest import EXTRACT_DATE
    from linkage.connectors import ingest_file
    from linkage.link import run_link
    from linkage.link.run import import_model
    from linkage.store import Store
    from linkage.synth.extracts import EDU_HEADER, HEALTH_HEADER, SC_HEADER

    pupils = [_pupil("S0", _upn(1), "Abbi", "", "Moore", "24/09/2012", "F", "N3 1GR", "9 Old Lane", "100001",
                     "01/09/2018", leaving="19/07/2022"),
              _pupil("S1", _upn(2), "Abbi", "", "Moore", "24/09/2012", "F", "TD8 4DP", "5 Shore Road", "100002",
                     "21/07/2022")]
    patients = [_patient("P1", _nhs(10), "Abbi", "Moore", "2012-09-24", "F", "TD8 4DP", "5 Shore Road")]
    for i in range(200):
        name, family, sex = _word(i, 1), _word(i, 2), "FM"[i % 2]
        day, month, year = 1 + i % 28, 1 + i % 12, 2010 + i % 8
        home = (f"LS{1 + i % 9} {i % 10}AB", f"{i} Road")
        pupils.append(_pupil(f"B{i}", _upn(100 + i), name, "", family, f"{day:02d}/{month:02d}/{year}", sex, *home,
                             "100003", "01/09/2020"))
        patients.append(_patient(f"G{i}", _nhs(1000 + 10 * i), name, family, f"{year}-{month:02d}-{day:02d}", sex, *home))
    social = [{h: "" for h in SC_HEADER} | {
        "LAchildID": "L1", "UPN": _upn(1), "NHSNumber": _nhs(10), "Forename": "Abbi", "Surname": "Moore",
        "PersonBirthDate": "24/09/2012", "GenderCurrent": "2", "HOME_POST": "N3 1GR", "AddressLine1": "9 Old Lane",
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
    assert child["education:S0"] == child["social_care:L1"] == child["health:P1"] != child["education:S1"]
    # ... and its pair with the GP record, equal in every field, is put to a reviewer.
    assert ("education:S1", "health:P1") in queue
    from linkage.link.outclassed import OUTCLASSED_REASON

    p, why = queue[("education:S1", "health:P1")]
    assert p > 0.99 and why == OUTCLASSED_REASON


def test_a_dropped_link_is_asked_only_when_strong_in_two_children_under_one_nhs_number():
    from linkage.link.outclassed import asked_outclassed

    edges = pd.DataFrame({"unique_id_l": ["s1", "s2", "s3", "s4", "s5"],
                          "unique_id_r": ["g1", "g2", "g3", "g4", "g5"],
                          "match_weight": [14.0, 2.0, 14.0, 14.0, 14.0]})
    outclassed = {frozenset(p) for p in zip(edges["unique_id_l"], edges["unique_id_r"]) if p[0] != "s5"}
    children = {"s1": "A", "g1": "B", "s2": "A2", "g2": "B2", "s3": "A3", "g3": "A3", "s4": "A4", "g4": "B4",
                "s5": "A5", "g5": "B5"}
    ids = {"s1": {"upn": "U1", "nhs": None}, "g1": {"upn": None, "nhs": "N1"},
           "s4": {"upn": None, "nhs": "N4"}, "g4": {"upn": None, "nhs": "N5"}}
    # s1-g1 asked; s2-g2 weak; s3-g3 one child after all; s4-g4 two NHS numbers; s5-g5 never dropped.
    assert list(asked_outclassed(edges, outclassed, children, ids)) == [True, False, False, False, False]
