"""Each outcome measure against a handful of children worked out by hand (tests/outcomes_world.py)."""

from __future__ import annotations

from datetime import date

import pytest

import outcomes_world as world
from linkage.outcomes.measures import Options, placement_measures_sql
from linkage.outcomes.sources import store_sources

# child -> the measures worked out by hand from outcomes_world (None: cannot be known yet).
EXPECTED = {
    "child-A": dict(urn="140001", placement_type="long", cohort="2024/25", dual_registered=False, age_band="11 to 13",
                    sen_status="SEN support", social_care="known to social care", suspensions_before=1,
                    attendance_before=0.7, attendance_during=0.6, attendance_after=0.85, suspended_1term=1,
                    suspended_1year=1, excluded_1term=0, excluded_1year=0, reintegrated=1,
                    reintegration_sustained=1, ehc_started=1, missing_after=0, referral_1year=1,
                    post16_sustained=None, next_place="mainstream school"),
    # Dual registered, 53 days: short; kept on the mainstream roll throughout.
    "child-B": dict(urn="140002", placement_type="short", cohort="2025/26", dual_registered=True, age_band="11 to 13",
                    sen_status="no SEN", social_care="not known to social care", suspensions_before=0,
                    attendance_before=None, attendance_during=0.75, attendance_after=0.95, suspended_1term=0,
                    suspended_1year=None, excluded_1term=0, excluded_1year=None, reintegrated=1,
                    reintegration_sustained=1, ehc_started=0, missing_after=0, referral_1year=None,
                    post16_sustained=None, next_place="mainstream school"),
    # 16 on leaving: NEET then an apprenticeship, so not sustained over the two terms after.
    "child-C": dict(urn="140001", placement_type="long", cohort="2024/25", age_band="14 to 15", attendance_during=0.4,
                    attendance_after=None, reintegrated=0, reintegration_sustained=0, missing_after=None,
                    post16_sustained=0, next_place="not in education, employment or training"),
    "child-D": dict(placement_type="new", cohort="2026/27", attendance_during=None, reintegrated=None,
                    suspended_1term=None, next_place="still placed"),
}


@pytest.fixture(scope="module")
def measures(tmp_path_factory):
    store = world.build(tmp_path_factory.mktemp("outcomes"))
    try:
        df = store.df(placement_measures_sql(store_sources(store.connection), Options(world.AS_AT)))
    finally:
        store.close()
    return {r["child_id"]: r for r in df.astype(object).where(df.notna(), None).to_dict("records")}


def test_only_ap_enrolments_are_placements(measures):
    assert sorted(measures) == ["child-A", "child-B", "child-C", "child-D"]     # E never placed


@pytest.mark.parametrize("child", sorted(EXPECTED))
def test_measures_match_hand_computation(measures, child):
    row = measures[child]
    for name, want in EXPECTED[child].items():
        got = row[name]
        if isinstance(want, float):
            assert got == pytest.approx(want), name
        else:
            assert got == want, f"{child} {name}: {got!r} != {want!r}"


def test_windows_not_closed_are_unknown_then_known(tmp_path):
    """B's one-year windows close on 28 Nov 2026: unknown on 1 Oct, known (and right) a year on."""
    store = world.build(tmp_path)
    try:
        df = store.df(placement_measures_sql(store_sources(store.connection), Options(date(2027, 1, 1))))
    finally:
        store.close()
    b = df[df.child_id == "child-B"].iloc[0]
    assert b.excluded_1year == 1 and b.suspended_1year == 0     # the permanent exclusion on 1 Sep 2026


def test_reintegration_window_is_a_setting(tmp_path):
    """A returned to mainstream the next day: within any window; a window of 1 week still counts it."""
    store = world.build(tmp_path)
    try:
        df = store.df(placement_measures_sql(store_sources(store.connection), Options(world.AS_AT, 1)))
    finally:
        store.close()
    assert df.set_index("child_id").loc["child-A", "reintegrated"] == 1
    with pytest.raises(ValueError):
        Options(world.AS_AT, 0)
