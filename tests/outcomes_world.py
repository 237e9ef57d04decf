"""A handful of children in a real store, with every outcome worked out by hand (test_outcomes_measures)."""

from __future__ import annotations

from datetime import date

import pandas as pd

from linkage.store import Store

AS_AT = date(2026, 10, 1)
D = date.fromisoformat

SCHOOLS = [("100001", "mainstream", False), ("100002", "mainstream", False), ("140001", "pupil_referral_unit", True),
           ("140002", "ap_academy", True)]
# child -> (date of birth, UPN)
CHILDREN = {"A": ("2011-05-01", "A100"), "B": ("2014-03-01", "B100"), "C": ("2009-01-15", "C100"),
            "D": ("2012-02-02", "D100"), "E": ("2012-06-06", "E100")}
# education records: key, child, urn, entry, leaving, status, [(term, possible, authorised, unauthorised)], sen
EDU = [
    ("A-M1", "A", "100001", "2023-09-01", "2025-01-10", "C", [("2023/24 Summer", 100, 10, 10),
                                                          ("2024/25 Autumn", 100, 10, 30)], "K"),
    ("A-P1", "A", "140001", "2025-01-13", "2025-06-30", "C", [("2024/25 Spring", 100, 20, 30),
                                                          ("2024/25 Summer", 100, 20, 10)], "E"),
    ("A-M2", "A", "100002", "2025-07-01", None, "C", [("2025/26 Autumn", 100, 5, 5), ("2025/26 Spring", 100, 10, 10)],
     None),
    ("B-M1", "B", "100001", "2022-09-01", None, "M", [("2025/26 Spring", 100, 5, 0)], "N"),
    ("B-P2", "B", "140002", "2025-10-06", "2025-11-28", "S", [("2025/26 Autumn", 40, 5, 5)], None),
    ("C-P1", "C", "140001", "2024-09-02", "2025-07-18", "C", [("2024/25 Autumn", 100, 30, 30)], None),
    ("D-P1", "D", "140001", "2026-09-07", None, "C", [], None),
    ("E-M1", "E", "100001", "2020-09-01", None, "C", [("2025/26 Autumn", 100, 0, 0)], None),
]
EXCLUSIONS = [("A-M1", "SUSP", "2024-11-01"), ("A-M2", "SUSP", "2025-08-15"), ("B-M1", "PERM", "2026-09-01")]
REFERRALS = [("A", "2024-06-01"), ("A", "2025-12-01")]
NCCIS = [("C100", "540", "2025-08-01", "2025-08-05", "2025-12-31"), ("C100", "210", "2026-01-05", "2026-01-05",
                                                                     "2026-08-31")]


def build(home) -> Store:
    store = Store(home)
    # Columns named: the extracts table grows (file_sha256), a positional insert would break.
    store.execute("INSERT INTO store.extracts (extract_id, source, file_name, sha256, mapping, extract_date, "
                  "ingested_at, rows_read, accepted, quarantined, superseded_by, amends, blank_rows, warned, forced) "
                  "VALUES (1, 'education', 'e.csv', 'a', 'm', DATE '2026-09-30', "
                  "now()::TIMESTAMP, 1, 1, 0, NULL, NULL, 0, 0, false), (2, 'social_care', 's.csv', 'b', 'm', "
                  "DATE '2026-09-30', now()::TIMESTAMP, 1, 1, 0, NULL, NULL, 0, 0, false)")
    recs, ids, enrol, att, sen, excl = [], [], [], [], [], []
    for key, child, urn, entry, leaving, status, terms, provision in EDU:
        rk = f"education:{key}"
        dob, upn = CHILDREN[child]
        recs.append({"record_key": rk, "extract_id": 1, "source": "education", "source_record_id": key,
                     "forename": child, "surname": "Test", "date_of_birth": D(dob), "upn": upn,
                     "extract_date": D("2026-09-30")})
        ids.append({"record_key": rk, "child_id": f"child-{child}", "run_id": 1})
        enrol.append({"record_key": rk, "extract_id": 1, "urn": urn, "entry_date": D(entry),
                      "leaving_date": D(leaving) if leaving else None, "enrol_status": status})
        att += [{"record_key": rk, "extract_id": 1, "term": t, "sessions_possible": p, "sessions_authorised": a,
                 "sessions_unauthorised": u} for t, p, a, u in terms]
        if provision:
            sen.append({"record_key": rk, "extract_id": 1, "provision": provision})
    for key, cat, start in EXCLUSIONS:
        excl.append({"record_key": f"education:{key}", "extract_id": 1, "category": cat, "start_date": D(start)})
    refs = []
    for child, day in REFERRALS:
        rk = f"social_care:{child}-{day}"
        recs.append({"record_key": rk, "extract_id": 2, "source": "social_care", "source_record_id": rk,
                     "forename": child, "surname": "Test", "date_of_birth": D(CHILDREN[child][0]),
                     "extract_date": D("2026-09-30")})
        ids.append({"record_key": rk, "child_id": f"child-{child}", "run_id": 1})
        refs.append({"record_key": rk, "extract_id": 2, "referral_date": D(day)})
    for table, rows in (("records", recs), ("identity", ids), ("edu_enrolment", enrol), ("edu_attendance", att),
                        ("edu_sen", sen), ("edu_exclusion", excl), ("sc_referral", refs)):
        store.insert_df(f"store.{table}", pd.DataFrame(rows))
    store.insert_df("store.ref_establishment", pd.DataFrame(
        [{"urn": u, "name": u, "type_name": s, "setting": s, "is_ap": ap, "load_id": 1} for u, s, ap in SCHOOLS]))
    from linkage.outcomes.nccis import store_activity
    store_activity(store, [{"young_persons_id": f"YP{i}", "upn": upn, "activity_code": code,
                            "start_date": D(s), "date_ascertained": D(a), "due_to_lapse_date": D(d)}
                           for i, (upn, code, s, a, d) in enumerate(NCCIS)], file_name="nccis.csv")
    return store
