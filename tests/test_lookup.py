"""The lookup's fast scorer gives exactly what Splink's score_pairs gives."""

from __future__ import annotations

import pytest

from conftest import EXTRACT_DATE
from linkage.connectors import ingest_file
from linkage.link import run_link
from linkage.link.lookup import LookupIndex, LookupQuery
from linkage.store import Store


@pytest.fixture(scope="module")
def index(tmp_path_factory, synth_month1):
    store = Store(tmp_path_factory.mktemp("lookup") / "data", memory_limit="2GB")
    for source in ("education", "social_care", "health"):
        ingest_file(store, source, synth_month1 / f"{source}.csv", extract_date=EXTRACT_DATE)
    run_link(store)
    yield store, LookupIndex(store)
    store.close()


def test_fast_scores_equal_splink_score_pairs(index):
    store, idx = index
    rows = store.rows("SELECT forename, surname, date_of_birth, postcode, upn, nhs_number FROM store.records "
                      "USING SAMPLE 60 ROWS (reservoir, 7)")
    compared = 0
    for f, s, dob, pc, upn, nhs in rows:
        for q in (LookupQuery(f, s, dob, pc), LookupQuery(f[:-1] + "y", s.upper(), dob, None, upn, nhs),
                  LookupQuery(s, f, dob, pc)):
            fast = {c.child_id: c for c in idx.search(q, limit=100, min_probability=0.0)}
            ref = {c.child_id: c for c in idx.search(q, limit=100, min_probability=0.0, reference=True)}
            assert fast.keys() == ref.keys()
            for cid, c in fast.items():
                assert c.match_probability == pytest.approx(ref[cid].match_probability, abs=1e-6)
                assert (c.agreed, c.disagreed) == (ref[cid].agreed, ref[cid].disagreed)
                compared += 1
    assert compared > 200


def test_lookup_finds_the_child_despite_a_surname_typo(index):
    store, idx = index
    f, s, dob, pc, child = store.rows(
        "SELECT r.forename, r.surname, r.date_of_birth, r.postcode, i.child_id FROM store.records r "
        "JOIN store.identity i USING (record_key) WHERE r.source = 'education' ORDER BY r.record_key LIMIT 1")[0]
    best = idx.search(LookupQuery(f, s + "e", dob, pc))[0]
    assert best.child_id == child and best.match_probability > 0.5 and best.agreed["dob"] == "exact"


def test_query_features_equal_the_features_sql(index):
    """The query row gets exactly the features linked records get (no NULL read as '')."""
    from linkage.link.features import input_sql

    store, idx = index
    cur = idx._cursor()
    rows = store.rows("SELECT forename, surname, date_of_birth, postcode, upn, nhs_number FROM store.records "
                      "USING SAMPLE 40 ROWS (reservoir, 3)")
    for f, s, dob, pc, upn, nhs in rows:
        idx._query_table(cur, LookupQuery(f, s, dob, pc, upn, nhs))
        got = cur.execute("SELECT * FROM lk_q").fetchall()
        want = cur.execute(input_sql("SELECT * FROM lk_raw", "lk_names")).fetchall()
        norm = [[tuple(sorted(x) if isinstance(x, list) else x for x in r) for r in rows_]
                for rows_ in (got, want)]
        assert norm[0] == norm[1]
    assert cur.execute("SELECT preferred_forename FROM lk_q").fetchone()[0] is None
