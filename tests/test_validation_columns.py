"""``validation.columns``: a value Arrow calls plain is one the field's own rule accepts and
stores unchanged, whatever the string; and the common valid forms are called plain."""

from __future__ import annotations

import random
from datetime import date

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from linkage.connectors.base import _Problems, name_value
from linkage.connectors.columnar import _record_id
from linkage.connectors.education import EducationConnector
from linkage.validation.columns import (
    plain_addresses,
    plain_names,
    plain_record_ids,
    plain_valid_nhs_numbers,
    plain_valid_postcodes,
    plain_valid_upns,
)
from linkage.validation.identifiers import UPN_LETTERS, nhs_check_digit, upn_check_letter


def _field(canon: str):
    def rule(value: str):
        p = _Problems(set())
        out = EducationConnector().field_value(p, canon, "", value, date(2026, 11, 1))
        return out if not (p.errors or p.warnings) else None
    return rule


def _name(value: str):
    p = _Problems(set())
    out = name_value(p, "", value, True)
    return out if not (p.errors or p.warnings) else None


CASES = {"nhs_number": (plain_valid_nhs_numbers, _field("nhs_number")),
         "upn": (plain_valid_upns, _field("upn")),
         "postcode": (plain_valid_postcodes, _field("postcode")),
         "address": (plain_addresses, _field("address")),
         "record id": (plain_record_ids, _record_id),
         "name": (plain_names, _name)}


def _assert_plain_means_accepted_unchanged(values: list[str]) -> None:
    for name, (plain, rule) in CASES.items():
        for value, sure in zip(values, plain(pa.array(values, pa.string())).to_pylist()):
            if sure:
                assert rule(value) == value, (name, value)


def _valid_nhs(rng: random.Random) -> str:
    while True:
        first = "".join(rng.choice("0123456789") for _ in range(9))
        if (check := nhs_check_digit(first)) is not None and len(set(first + str(check))) > 1:
            return first + str(check)


def _valid_upn(rng: random.Random) -> str:
    body = "".join(rng.choice("0123456789") for _ in range(11)) + rng.choice("0123456789" + UPN_LETTERS)
    return upn_check_letter(body) + body


def test_the_common_valid_forms_are_plain_and_accepted_unchanged():
    rng = random.Random(5)
    nhs = [_valid_nhs(rng) for _ in range(3000)]
    upns = [_valid_upn(rng) for _ in range(3000)]
    postcodes = ["SW1A 1AA", "M1 1AE", "B33 8TH", "CR2 6XH", "DN55 1PT", "GIR 0AA", "EC1A 1BB"]
    ids = ["P000000001", "990002/00000030", "LA00000006", "a-b_c.d:e"]
    addresses = ["Flat 79, Barker Avenue", "819 Higgins Course", "1", "Drayton Road", "Mrsx Lane 4", "Mr.Smith 2"]
    names = ["Ayaan", "Vyas", "O'Neil", "Smith-Jones", "Dr", "Mr", "x" * 100]
    for values, plain in ((nhs, plain_valid_nhs_numbers), (upns, plain_valid_upns),
                          (postcodes, plain_valid_postcodes), (ids, plain_record_ids), (addresses, plain_addresses),
                          (names, plain_names)):
        assert all(plain(pa.array(values)).to_pylist()), plain.__name__
    _assert_plain_means_accepted_unchanged(nhs + upns + postcodes + ids + addresses + names)


def test_near_misses_are_left_to_the_rule():
    rng = random.Random(6)
    wrong = []
    for _ in range(3000):
        nhs, upn = list(_valid_nhs(rng)), list(_valid_upn(rng))
        nhs[rng.randrange(10)] = rng.choice("0123456789")
        upn[rng.randrange(13)] = rng.choice("0123456789" + UPN_LETTERS)
        wrong += ["".join(nhs), "".join(upn)]
    wrong += ["1111111111", "0000000000", "943 476 5919", "9434765919 ", " 9434765919", "sw1a 1aa", "SW1A1AA",
              " SW1A 1AA", "SW1A 1AA\n", "ZZ99 3VZ", "BFPO 12", "=SUM(A1)", "+44", "-1", "@x", " P1", "P1 ",
              "ＰＯ１", "",
              "Mr Smith 1 Road", "mr. x", "DR.. House 2", "MISS  Lane", "1  Road", "1 Road ", "Flat\t2", "Dr",
              "Master Bedroom 3", "Mrs Lane 4",
              "x" * 101, "-Ann", "'Ann", "Mr Smith", "Ann ", "Zoë", "==", "Ann\n"]
    _assert_plain_means_accepted_unchanged(wrong)
    assert plain_valid_nhs_numbers(pa.array(["1111111111", "0000000000"])).to_pylist() == [False, False]


_CHARS = st.sampled_from(list("0123456789") + list(UPN_LETTERS) + list("IOSabz -/=+@\t\n.") + ["é", "١", "０"]
                         + ["mr ", "Mrs.", "dr. ", "MASTER ", "ms", "\u00a0", "'"])


@settings(max_examples=400, deadline=None)
@given(st.lists(st.lists(_CHARS, max_size=14).map("".join), min_size=1, max_size=40))
def test_a_plain_value_is_one_the_rule_accepts_unchanged(values):
    _assert_plain_means_accepted_unchanged(values)
