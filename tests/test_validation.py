"""Validators and normalisers, with hypothesis for the normalisers."""

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from linkage.validation import (
    DateError,
    is_valid_nhs_number,
    is_valid_upn,
    normalise_name,
    normalise_postcode,
    parse_date,
    plausible_birth_date,
    upn_check_letter,
)
from linkage.validation.identifiers import UPN_LETTERS, nhs_check_digit


def test_upn_reference_example_is_valid():
    assert is_valid_upn("B801200005001")
    assert upn_check_letter("801200005001") == "B"


@pytest.mark.parametrize("bad", ["A801200005001", "B80120000500", "B8012000050011", "B801200005O01", "", "I801200005001"])
def test_upn_rejects_wrong_check_letter_and_shape(bad):
    assert not is_valid_upn(bad)


@given(st.text("0123456789", min_size=11, max_size=11), st.sampled_from(list("0123456789" + UPN_LETTERS)))
def test_upn_check_letter_roundtrip_including_temporary_upns(digits, last):
    body = digits + last
    assert is_valid_upn(upn_check_letter(body) + body)


@given(st.text("0123456789", min_size=12, max_size=12), st.integers(1, 11), st.integers(1, 9))
def test_upn_single_digit_change_is_caught(body, pos, delta):
    upn = upn_check_letter(body) + body
    changed = upn[:pos] + str((int(upn[pos]) + delta) % 10) + upn[pos + 1:]
    assert not is_valid_upn(changed)


def test_nhs_reference_example_is_valid():
    assert is_valid_nhs_number("9434765919")
    assert is_valid_nhs_number("943 476 5919")
    assert not is_valid_nhs_number("9434765918")
    assert not is_valid_nhs_number("1111111111")


@given(st.text("0123456789", min_size=9, max_size=9), st.integers(0, 8), st.integers(1, 9))
def test_nhs_single_digit_errors_are_caught(first, pos, delta):
    check = nhs_check_digit(first)
    if check is None or len(set(first)) == 1:
        return
    number = first + str(check)
    assert is_valid_nhs_number(number) or len(set(number)) == 1
    changed = number[:pos] + str((int(number[pos]) + delta) % 10) + number[pos + 1:]
    assert not is_valid_nhs_number(changed)


@pytest.mark.parametrize("raw,expected", [
    ("sw1a1aa", "SW1A 1AA"), ("SW1A 1AA", "SW1A 1AA"), (" m1  1ae ", "M1 1AE"), ("b33 8th", "B33 8TH"),
    ("cr2 6xh", "CR2 6XH"), ("dn55 1pt", "DN55 1PT"), ("W1A0AX", "W1A 0AX"), ("EC1A 1BB", "EC1A 1BB"),
])
def test_postcode_normalised(raw, expected):
    assert normalise_postcode(raw) == expected


@pytest.mark.parametrize("bad", ["", "12345", "SW1A", "SW1A 1AAA", "QQ1 1QQ1", "1AA 1AA", "SW1A 1CI"])
def test_postcode_rejected(bad):
    assert normalise_postcode(bad) is None


@given(st.text(max_size=12))
def test_postcode_normalisation_is_idempotent(text):
    once = normalise_postcode(text)
    if once is not None:
        assert normalise_postcode(once) == once
        assert once.count(" ") == 1 and len(once.split(" ")[1]) == 3


@pytest.mark.parametrize("raw", ["2015-03-14", "14/03/2015", "14-03-2015", "14.03.2015", "20150314",
                                 "14-Mar-2015", "14 March 2015", "2015-03-14T00:00:00", "2015/03/14", "14/3/2015",
                                 # database and spreadsheet exports: no leading zero, a time with fractions
                                 "2015-3-14", "2015/3/14 00:00:00", "2015-03-14 00:00:00.000",
                                 "14/03/2015 00:00:00.000"])
def test_dates_in_extract_formats(raw):
    assert parse_date(raw) == date(2015, 3, 14)


@pytest.mark.parametrize("raw", ["31/02/2015", "2015-13-01", "03/14/15", "yesterday", "14/03/15", "=TODAY()"])
def test_broken_dates_raise(raw):
    with pytest.raises(DateError):
        parse_date(raw)


def test_birth_date_plausible_for_children_only():
    on = date(2026, 10, 1)
    assert plausible_birth_date(date(2015, 3, 14), on) is None
    assert plausible_birth_date(date(2001, 10, 1), on) is None
    assert "over 25" in plausible_birth_date(date(1990, 1, 1), on)
    assert "future" in plausible_birth_date(date(2027, 1, 1), on)


@pytest.mark.parametrize("raw,expected", [
    ("  Zoë ", "zoe"), ("O'Brien", "obrien"), ("Smith-Jones", "smith jones"), ("SMITH  JONES", "smith jones"),
    ("Mr John", "john"), ("Miss", "miss"), ("Renée", "renee"), ("D’Arcy", "darcy"), ("---", None),
])
def test_names_normalised(raw, expected):
    assert normalise_name(raw) == expected


@given(st.text(max_size=40))
def test_name_normalisation_is_idempotent_and_ascii(text):
    once = normalise_name(text)
    if once is not None:
        assert normalise_name(once) == once
        assert once == once.strip() and "  " not in once and once.isascii()
