"""Every move the outcomes release relies on is a real population publishing the same figures.

The release (``linkage.outcomes.release``) hides each small figure and proves it cannot be pinned
by a *move*: a population differing from the true one by a recode or swap, in which every shown
figure reads the same, every hidden one is still at least 1, and the small figure differs. Here
hypothesis draws larger populations than the integer-programming attack can solve (up to 150
placements, every breakdown and several measures at once), applies every recorded move to the
placement rows, recounts every figure row by row, and checks those three facts, and that each
small figure has, for every reader at risk, a move using none of that reader's pupils.
"""

from __future__ import annotations

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from linkage.outcomes.disclosure import CIN
from linkage.outcomes.release import Release

URNS = {"140001": "pupil_referral_unit", "140002": "pupil_referral_unit", "140003": "ap_academy",
        "140004": "hospital_school"}
SMALL = CIN.suppress_up_to

placement = st.tuples(st.sampled_from(sorted(URNS)), st.sampled_from(["short", "long", "new"]),
                      st.sampled_from(["2023/24", "2024/25", "2025/26"]), st.sampled_from(["no SEN", "EHC plan"]),
                      st.sampled_from(["11-13", "14-15"]), st.sampled_from([1, 0, None]),
                      st.sampled_from([1, 0, None]), st.sampled_from(["still placed", "mainstream school"]),
                      st.sampled_from([0.9, None]))


def frame(rows) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=["urn", "placement_type", "cohort", "sen_status", "age_band", "excluded_1year",
                                     "reintegrated", "next_place", "attendance_before"])
    df["setting"] = df.urn.map(URNS)
    df["social_care"] = "not known to social care"
    return df


def recount(release: Release, records) -> dict:
    """Every figure's count, row by row, over coded records."""
    out: dict = {}
    for rec in records:
        for k, w in release._contrib(rec, release.all_patterns).items():
            out[k] = out.get(k, 0) + w
    return out


def moved(release: Release, rows: list, move) -> list:
    rows = list(rows)
    for old, new in move:
        if old is not None:
            i = next(i for i, r in enumerate(rows) if tuple(r) == tuple(old))
            del rows[i]
        rows.append(list(new))
    return rows


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.lists(placement, min_size=1, max_size=150))
def test_every_move_publishes_the_same_figures_and_covers_every_small_one(rows):
    df = frame(rows)
    r = Release(df, CIN)
    coded = [[r.codes[a][str(v)] for a, v in zip(r.attrs, rec)] for rec in r.frame[r.attrs].itertuples(index=False)]
    urn_of_row = list(r.frame["urn"])
    assert {k: v for k, v in recount(r, coded).items() if v} == r.values     # the recount is the truth
    changes = []
    for urns, move in r.moves:
        for old, _ in move:     # the move uses pupils of the settings it names
            if old is not None:
                assert any(tuple(c) == tuple(old) and u in urns for c, u in zip(coded, urn_of_row))
        after = recount(r, moved(r, coded, move))
        diff = {k for k in set(after) | set(r.values) if after.get(k, 0) != r.values.get(k, 0)}
        for k in diff:
            assert k in r.hidden, "a move changed a shown figure"
            assert after.get(k, 0) >= 1, "a move took a hidden figure to 0"
        changes.append((urns, diff))
    owners = {}
    for k, u, n in r.own:
        owners.setdefault(k, {})[u] = n
    for k, v in r.values.items():
        mine = owners.get(k, {})
        readers = {u for u in URNS if 1 <= v - mine.get(u, 0) <= SMALL}
        for u in readers:
            assert k in r.hidden
            assert any(k in diff and u not in urns for urns, diff in changes), (k, v, u)
