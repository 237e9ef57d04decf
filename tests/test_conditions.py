"""Level conditions evaluated in Python agree with DuckDB, NULLs and all."""

from __future__ import annotations

from datetime import date

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from linkage.link import spec
from linkage.link.conditions import UnsupportedCondition, compile_condition, condition_columns, null_on_the_left

LEVELS = [lv["sql_condition"] for comp in (spec.FORENAME, spec.HOUSEHOLD, spec.address(), spec.DOB, spec.UPN,
                                           spec.NHS, spec.SEX)
          for lv in comp["comparison_levels"] if lv["sql_condition"] != "ELSE"]
TYPES = {"forename_keys": "VARCHAR[]", "surname_all": "VARCHAR[]", "dob": "DATE"}
COLUMNS = sorted(set().union(*(condition_columns(c) for c in LEVELS)))
INDEX = {c: i for i, c in enumerate(COLUMNS)}
# Each level compiled once (a pure function of its SQL), for the examples below to evaluate; they
# paid sqlglot's parse and Python's compile of every level again on each of hundreds of examples.
COMPILED = [compile_condition(c, INDEX) for c in LEVELS]
NULL_ON_THE_LEFT = [(c, f, null_on_the_left(c)) for c, f in zip(LEVELS, COMPILED)]

# Small alphabets, so values often agree or differ by one edit; 'é' checks byte-wise distances.
text = st.text(alphabet="abé -", max_size=6)
dates = st.dates(min_value=date(2005, 1, 1), max_value=date(2006, 12, 31))


def _value(column: str):
    if column == "dob":
        return st.none() | dates
    if column in TYPES:
        return st.none() | st.lists(st.none() | text, max_size=3)
    if column == "sex":
        return st.none() | st.sampled_from(["M", "F", "U"])
    return st.none() | text


row = st.fixed_dictionaries({c: _value(c) for c in COLUMNS})


@pytest.fixture(scope="module")
def con():
    con = duckdb.connect()
    yield con
    con.close()


@settings(max_examples=300, deadline=None)
@given(left=row, right=row)
def test_every_level_of_the_model_agrees_with_duckdb(con, left, right):
    cols = ", ".join(f'CAST(? AS {TYPES.get(c, "VARCHAR")}) AS "{c}_{s}"' for s in "lr" for c in COLUMNS)
    params = [left[c] for c in COLUMNS] + [right[c] for c in COLUMNS]
    conds = ", ".join(f"({c})" for c in LEVELS)
    want = con.execute(f"SELECT {conds} FROM (SELECT {cols})", params).fetchone()
    l, r = tuple(left[c] for c in COLUMNS), tuple(right[c] for c in COLUMNS)
    got = tuple(f(l, r) for f in COMPILED)
    assert got == want


def test_dob_strings_and_transposition(con):
    f = compile_condition('damerau_levenshtein("dob_str_l", "dob_str_r") <= 1', {"dob_str": 0})
    assert f(("2012-03-04",), ("2012-03-05",)) is True and f(("2012-03-04",), ("2012-04-03",)) is False
    g = compile_condition("abs(date_diff('day', \"dob_l\", \"dob_r\")) <= 31", {"dob": 0})
    assert g((date(2012, 1, 1),), (date(2012, 2, 1),)) is True and g((date(2012, 1, 1),), (None,)) is None


@pytest.mark.parametrize("sql", ['regexp_matches("forename_l", \'a\')', '"nope_l" = "forename_r"',
                                 "date_diff('month', \"dob_l\", \"dob_r\") < 1", "forename_l = ("])
def test_unsupported_sql_is_refused_not_guessed(sql):
    with pytest.raises(UnsupportedCondition):
        compile_condition(sql, {"forename": 0, "dob": 1})


@settings(max_examples=200, deadline=None)
@given(left=row, right=row)
def test_a_null_that_settles_a_level_on_the_left_alone_makes_it_true_whatever_the_right(left, right):
    """The scorer does not judge a comparison whose null level a query's NULL settles: that NULL
    must make the level true against every row, as DuckDB (above) would say."""
    settled = 0
    for sql, condition, columns in NULL_ON_THE_LEFT:
        for column in columns:
            l = tuple(None if c == column else left[c] for c in COLUMNS)
            assert condition(l, tuple(right[c] for c in COLUMNS)) is True, sql
            settled += 1
    assert settled >= 7         # every comparison of the model has such a null level


@pytest.mark.parametrize("sql, columns", [
    ('"a_l" IS NULL OR "a_r" IS NULL', {"a"}),
    ('("a_l" IS NULL OR ("b_l" IS NULL)) OR "a_l" = \'U\'', {"a", "b"}),
    ('"a_l" IS NULL AND "b_l" IS NULL', set()),           # needs both
    ('NOT ("a_l" IS NOT NULL)', set()),                   # not read through NOT
    ('"a_r" IS NULL', set()),                             # the right side is each row's own
    ('coalesce("a_l", "b_l") IS NULL', set()),
])
def test_only_an_or_of_left_is_nulls_settles(sql, columns):
    assert null_on_the_left(sql) == columns
