"""Names kept in another script link to their Latin spellings (issue 11, non-Latin names).

Arabic script writes no short vowels, so a name kept in it normalises to consonants only and
meets its Latin spelling through the consonant skeleton. Many Arabic names have only one or two
consonants (علي Ali: ``l``; عمر Omar: ``mr``; عائشة Aisha: ``sh``), shared with unrelated names
(Ali, Ella, Leo, Lily), so the twin guard reads such a short skeleton as one name only on other
evidence: one date of birth, sexes that do not disagree, and no co-twin of those consonants.
"""

from __future__ import annotations

import re
import unicodedata

import duckdb
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from linkage.link.features import record_features
from linkage.link.names import abjad_key, consonant_skeleton
from linkage.link.spec import PREDICTION_RULES
from linkage.validation.names import normalise_name
from test_twin_evidence import guarded, rec

# Every letter of the Arabic script blocks (Arabic, Supplement, Extended-A, presentation forms).
ARABIC_LETTERS = sorted(ch for lo, hi in ((0x0600, 0x06FF), (0x0750, 0x077F), (0x08A0, 0x08FF), (0xFB50, 0xFDFF),
                                          (0xFE70, 0xFEFF))
                        for ch in map(chr, range(lo, hi + 1))
                        if unicodedata.category(ch).startswith("L") and unicodedata.name(ch, "").startswith("ARABIC"))


@settings(max_examples=300, deadline=None)
@given(st.text(st.sampled_from(ARABIC_LETTERS), min_size=1, max_size=8))
def test_an_arabic_script_name_normalises_without_a_vowel(name):
    # An abjad writes no vowels: a vowel out of the transliteration (ى as "a", ے as "e") would
    # hide that the name came from Arabic script (abjad_key reads only vowelless names).
    norm = normalise_name(name)
    assert norm is None or not re.search(r"[aeiou]", norm)


@pytest.mark.parametrize("script,latin", [
    ("علي", "ali"), ("عائشة", "aisha"), ("عمر", "omar"), ("عيسى", "isa"), ("موسى", "musa"), ("مصطفى", "mustafa"),
    ("ليلى", "layla"), ("هدى", "huda"), ("يحيى", "yahya"), ("مصطفیٰ", "mustafa"), ("عیسیٰ", "isa"),
    ("محمد", "muhammad"), ("فاطمة", "fatima"), ("إبراهيم", "ibrahim"), ("یوسف", "yusuf"), ("گل", "gul")])
def test_an_arabic_script_name_has_its_latin_spellings_consonants(script, latin):
    assert abjad_key(normalise_name(script)) == consonant_skeleton(latin)


def _people(*pairs, sex="M", dob="2015-04-07"):
    out = []
    for key, name, *extra in pairs:
        ident = "K" + key[-1] * 6      # identifiers more than one typed error apart
        r = rec(key, normalise_name(name), upn=ident if key.startswith("education") else None,
                nhs=ident if key.startswith("health") else None, dob=extra[1] if len(extra) > 1 else dob)
        r["sex"] = extra[0] if extra else sex
        out.append(r)
    return out


@pytest.mark.parametrize("latin,script", [("Ali", "علي"), ("Aisha", "عائشة"), ("Omar", "عمر"), ("Isa", "عيسى"),
                                          ("Musa", "موسى"), ("Huda", "هدى"), ("Mustafa", "مصطفى")])
def test_a_short_arabic_script_name_is_one_child_with_its_latin_spelling(latin, script):
    g = guarded(_people(("education:1", latin), ("health:1", script)))
    assert list(g.values()) == [False]


def test_sexes_that_disagree_keep_a_short_skeleton_apart():
    g = guarded(_people(("education:1", "Ali", "M"), ("health:1", "علي", "F")))
    assert list(g.values()) == [True]


def test_a_birthday_slip_keeps_a_short_skeleton_apart():
    g = guarded(_people(("education:1", "Ali", "M", "2015-04-07"), ("health:1", "علي", "M", "2015-07-04")))
    assert list(g.values()) == [True]


def test_a_co_twin_of_the_same_consonants_is_a_second_child():
    # The school holds Ali and Leo, twins (both "l"): the GP's علي could be either.
    g = guarded(_people(("education:1", "Ali"), ("education:2", "Leo"), ("health:1", "علي")))
    assert g[frozenset(("education:1", "health:1"))] and g[frozenset(("education:2", "health:1"))]


def test_a_co_twin_of_other_consonants_does_not_hide_the_link():
    # Ali's twin is Hassan: the GP's علي is Ali, not Hassan.
    g = guarded(_people(("education:1", "Ali"), ("education:2", "Hassan"), ("health:1", "علي")))
    assert not g[frozenset(("education:1", "health:1"))] and g[frozenset(("education:2", "health:1"))]


def test_latin_names_of_one_short_skeleton_stay_apart():
    # Ali and Leo share "l" but neither is written without vowels: two children.
    g = guarded(_people(("education:1", "Ali"), ("health:2", "Leo")))
    assert list(g.values()) == [True]


@pytest.mark.parametrize("written,latin", [
    ("राहुल", "rahul"), ("प्रिया", "priya"), ("ப்ரியா", "priya"), ("আয়েশা", "ayesa"), ("અમિત", "amit"),
    ("Ирина", "irina"), ("Ιωάννης", "ioannis"), ("Zoë", "zoe")])
def test_vowel_signs_of_indic_scripts_are_spelt(written, latin):
    # Devanagari, Tamil, Bengali and Gujarati write most vowels as marks on a consonant, not as
    # letters: dropping them left राहुल as "rhl". Accents on Latin and Greek letters still go.
    assert normalise_name(written) == latin


@given(st.text(st.characters(categories=("Mn", "Mc", "Me")), max_size=6))
def test_marks_never_become_digits(marks):
    # Vowel signs are spelt now, but no mark becomes a number (Cyrillic number signs are marks
    # that anyascii writes as 100000).
    assert not re.search(r"[0-9]", normalise_name("ann" + marks) or "")


def test_blocking_compares_an_arabic_script_record_with_its_latin_spelling():
    # Surname in the script too (احمد: hmd, Ahmed: ahmed) and a move: no initial, sound,
    # surname or postcode in common, only the consonants and the date of birth.
    dob = pd.Timestamp("2015-04-07").date()
    rows = [record_features(forename_std=normalise_name(f), surname_std=normalise_name(s), date_of_birth=dob,
                            postcode=p, sex="M")
            for f, s, p in (("Ali", "Ahmed", "FY5 7TJ"), ("علي", "احمد", "LS6 3NU"))]
    con = duckdb.connect()
    con.register("l_df", pd.DataFrame([rows[0]]))
    con.register("r_df", pd.DataFrame([rows[1]]))
    compared = [r.get_blocking_rule("duckdb").blocking_rule_sql for r in PREDICTION_RULES if not isinstance(r, str)]
    compared += [r for r in PREDICTION_RULES if isinstance(r, str)]
    hits = [sql for sql in compared if con.execute(f"SELECT count(*) FROM l_df l, r_df r WHERE {sql}").fetchone()[0]]
    assert hits


# Diminutives outside English (``names.nicknames_intl.csv``): the independent generator's Kuba
# (Jakub) and Ola (Aleksandra) were left apart from their own records every time.
@pytest.mark.parametrize("short,full", [("kuba", "jakub"), ("ola", "aleksandra"), ("kasia", "katarzyna"),
                                        ("misha", "mikhail"), ("pepe", "jose"), ("beppe", "giuseppe")])
def test_a_diminutive_in_another_language_is_one_name(short, full):
    from linkage.link.names import forename_keys

    assert set(forename_keys(short)[0]) & set(forename_keys(full)[0])
    # One name: a typed diminutive with no co-twin is not guarded (like Alex and Alexander).
    g = guarded([rec("education:1", full, upn="A1"), rec("health:1", short, nhs="N1")])
    assert g == {frozenset(("education:1", "health:1")): False}
