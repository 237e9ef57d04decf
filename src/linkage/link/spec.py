"""The linkage model for children's records, as Splink settings.

Names from other scripts: transliteration variants share a forename key (``names.py``), and
a double metaphone code (``forename_dm``) is a blocking key and a weak forename level.

Why it separates twins: siblings share surname and address, so those two
fields are not independent evidence. They are compared jointly (a
"household" comparison) so the model learns how often a shared household
happens by chance; a forename that is not the same name, a nickname of it, a
typo of it, or swapped with the surname then outweighs a shared birthday.
"""

from __future__ import annotations

from typing import Any

from splink import SettingsCreator, block_on

from linkage.link.namesql import middle_name

__all__ = ["FALLBACK_SESSIONS", "PREDICTION_RULES", "TRAINING_SESSIONS", "DETERMINISTIC_RULES", "settings"]


# The two records' middle names as Splink names its columns.
_L, _R = '"middle_names_l"', '"middle_names_r"'


def _level(sql: str, label: str, **extra: Any) -> dict[str, Any]:
    return {"sql_condition": sql, "label_for_charts": label, **extra}


def _null(*cols: str) -> dict[str, Any]:
    cond = " OR ".join(f'"{c}_l" IS NULL OR "{c}_r" IS NULL' for c in cols)
    return _level(cond, "null", is_null_level=True)


def _tf(col: str) -> dict[str, Any]:
    return {"tf_adjustment_column": col, "tf_adjustment_weight": 1.0}


SWAPPED = '("forename_l" = "surname_r" AND "surname_l" = "forename_r")'
FUZZY_SWAPPED = ('(jaro_winkler_similarity("forename_l", "surname_r") >= 0.88 '
                 'AND jaro_winkler_similarity("surname_l", "forename_r") >= 0.88)')

# A record kept in Arabic script transliterates to consonants only (mhmd): compare it with
# the other spelling's consonants (names.consonant_skeleton).
ABJAD = '("forename_abjad_l" = "forename_skel_r" OR "forename_skel_l" = "forename_abjad_r")'

FORENAME = {
    "output_column_name": "forename",
    "comparison_description": "forename with nicknames, typos and swaps",
    "comparison_levels": [
        _null("forename"),
        _level('"forename_l" = "forename_r"', "exact", **_tf("forename")),
        _level('"forename_full_l" = "forename_full_r"', "one name, in one word or two"),
        _level('list_has_any("forename_keys_l", "forename_keys_r")', "nickname"),
        _level(SWAPPED, "forename and surname swapped"),
        _level(FUZZY_SWAPPED, "swapped, with a typo"),
        _level('jaro_winkler_similarity("forename_l", "forename_r") >= 0.92', "jw >= 0.92"),
        _level('damerau_levenshtein("forename_l", "forename_r") <= 1', "one edit"),
        # Double metaphone: spellings of a name from another script that no table lists.
        _level('"forename_dm_l" = "forename_dm_r"', "sounds alike"),
        _level(ABJAD, "same consonants (a name written in Arabic script)"),
        _level(f'"forename_l" = {middle_name(_R)} OR {middle_name(_L)} = "forename_r"', "middle name used"),
        _level("ELSE", "different"),
    ],
}

_S_EXACT = '"surname_l" = "surname_r"'
_S_NEAR = (f'(list_has_any("surname_all_l", "surname_all_r") OR {FUZZY_SWAPPED} '
           'OR jaro_winkler_similarity("surname_l", "surname_r") >= 0.9)')
_P_EXACT = '"postcode_l" = "postcode_r"'
_P_DIST = '"postcode_district_l" = "postcode_district_r"'
_P_NEAR = 'damerau_levenshtein("postcode_l", "postcode_r") <= 1'

HOUSEHOLD = {
    "output_column_name": "household",
    "comparison_description": "surname and postcode together, since families share both",
    "comparison_levels": [
        _null("surname"),
        _level(f"{_S_EXACT} AND {_P_EXACT}", "same surname, same postcode", **_tf("surname")),
        _level(f"{_S_EXACT} AND {_P_DIST}", "same surname, same district", **_tf("surname")),
        _level(_S_EXACT, "same surname, elsewhere", **_tf("surname")),
        _level(f"{_S_NEAR} AND {_P_EXACT}", "related surname, same postcode"),
        _level(f"({_S_EXACT} OR {_S_NEAR}) AND {_P_NEAR}", "same or related surname, postcode one edit"),
        _level(_S_NEAR, "related surname"),
        _level(_P_EXACT, "different surname, same postcode"),
        _level("ELSE", "different"),
    ],
}

DOB = {
    "output_column_name": "dob",
    "comparison_description": "date of birth allowing day/month transposition and typos",
    "comparison_levels": [
        _null("dob"),
        _level('"dob_l" = "dob_r"', "exact"),
        _level('year("dob_l") = year("dob_r") AND day("dob_l") = month("dob_r") '
               'AND month("dob_l") = day("dob_r")', "day and month transposed"),
        _level('damerau_levenshtein("dob_str_l", "dob_str_r") <= 1', "one character"),
        _level('abs(date_diff(\'day\', "dob_l", "dob_r")) <= 31', "within a month"),
        _level("ELSE", "different"),
    ],
}

def address(postcode_is_area: bool = False) -> dict[str, Any]:
    """First line of the address.

    A UK postcode unit covers about fifteen households, so where it agrees the
    household comparison has already counted the address; counting it again would
    double the evidence that pulls siblings together. Where postcodes cover whole
    areas (``postcode_is_area``, e.g. Australian data such as FEBRL) the address is
    independent evidence and is always counted.
    """
    neutral = [] if postcode_is_area else [
        _level(_P_EXACT, "postcode agrees: no extra evidence", m_probability=0.5, u_probability=0.5,
               fix_m_probability=True, fix_u_probability=True)]
    return {
        "output_column_name": "address",
        "comparison_description": "first line of the address",
        "comparison_levels": [
            _null("address"),
            *neutral,
            _level('"address_l" = "address_r"', "exact"),
            _level('jaro_winkler_similarity("address_l", "address_r") >= 0.9', "jw >= 0.9"),
            _level("ELSE", "different"),
        ],
    }

UPN = {
    "output_column_name": "upn",
    "comparison_levels": [
        _null("upn"),
        _level('"upn_l" = "upn_r"', "exact"),
        _level('"upn_l" = "former_upn_r" OR "former_upn_l" = "upn_r"', "former UPN"),
        _level('damerau_levenshtein("upn_l", "upn_r") <= 1', "one edit"),
        _level("ELSE", "different"),
    ],
}

NHS = {
    "output_column_name": "nhs_number",
    "comparison_levels": [
        _null("nhs_number"),
        _level('"nhs_number_l" = "nhs_number_r"', "exact"),
        # Twins' NHS numbers are consecutive, so differ in two places (the check digit moves).
        _level('damerau_levenshtein("nhs_number_l", "nhs_number_r") <= 1', "one edit"),
        _level("ELSE", "different"),
    ],
}

# Independent of surname and address, so it still speaks when both changed (a new family
# name and a move): the commonest miss on a real extract.
MIDDLE = {
    "output_column_name": "middle_name",
    "comparison_description": "first middle name",
    "comparison_levels": [
        _null("middle_names"),
        _level(f"{middle_name(_L)} = {middle_name(_R)}", "exact"),
        _level(f"jaro_winkler_similarity({middle_name(_L)}, {middle_name(_R)}) >= 0.9", "jw >= 0.9"),
        _level("ELSE", "different"),
    ],
}

SEX = {
    "output_column_name": "sex",
    "comparison_levels": [
        _level('"sex_l" IS NULL OR "sex_r" IS NULL OR "sex_l" = \'U\' OR "sex_r" = \'U\'',
               "null", is_null_level=True),
        _level('"sex_l" = "sex_r"', "exact"),
        _level("ELSE", "different"),
    ],
}

# Two rules pair far more strangers than matches: a birthday and a surname initial (the
# country's children born on one day, by letter), and a family's home (every brother and
# sister). Each is kept for the pairs only it finds, so each is narrowed to those pairs that
# still have something of the child in common: a forename that is one name, one sound, one
# initial or one typo apart (or the surname itself: twins, whose guard needs the pair); in a
# home, that or a birthday within a slip. A forename or birthday missing on either side is no
# evidence against (FEBRL4 has pairs with no forename and a birthday far off). Scoring the rest
# cost most of the predict and never gave an edge (docs/benchmarks.md, "Blocking rules narrowed").
FORENAME_ALIKE = ("(l.forename IS NULL OR r.forename IS NULL "
                  "OR list_has_any(l.forename_keys, r.forename_keys) OR l.forename_dm = r.forename_dm "
                  "OR l.forename_initial = r.forename_initial "
                  "OR jaro_winkler_similarity(l.forename, r.forename) >= 0.8)")
SURNAME_ALIKE = ("(l.surname = r.surname OR list_has_any(l.surname_all, r.surname_all) "
                 "OR jaro_winkler_similarity(l.surname, r.surname) >= 0.9)")
DOB_ALIKE = ("(l.dob IS NULL OR r.dob IS NULL OR damerau_levenshtein(l.dob_str, r.dob_str) <= 1 "
             "OR abs(date_diff('day', l.dob, r.dob)) <= 31 "
             "OR (year(l.dob) = year(r.dob) AND day(l.dob) = month(r.dob) AND month(l.dob) = day(r.dob)))")

PREDICTION_RULES = [
    block_on("upn"),
    block_on("nhs_number"),
    "l.former_upn = r.upn",
    "l.upn = r.former_upn",
    block_on("dob", "postcode_district"),
    # (A birthday and a forename initial, 293,065 pairs at 250k, gave no edge that another
    # rule did not: dropped.)
    f"l.dob = r.dob AND l.surname_initial = r.surname_initial AND ({FORENAME_ALIKE} OR {SURNAME_ALIKE})",
    block_on("forename_canon", "surname"),
    block_on("forename_canon", "postcode"),
    block_on("forename_canon", "dob_year", "postcode_district"),
    # Transliterations the name tables do not know, and initials that differ (Ekaterina/Yekaterina).
    block_on("forename_dm", "dob"),
    block_on("forename_dm", "surname"),
    # A name kept in Arabic script shares only its consonants with its Latin spelling, not its
    # initial or sound (علي, ly / Ali: l, AL), and its surname may be in the script too.
    block_on("forename_skel", "dob"),
    # A forename typo the code absorbs (Robyyn/Robyn) with a date-of-birth slip: the home finds it.
    block_on("forename_dm", "postcode"),
    # A forename slip with a date-of-birth slip: the family is all that is left to find it by.
    f"l.surname = r.surname AND l.postcode = r.postcode AND ({FORENAME_ALIKE} OR {DOB_ALIKE})",
    "l.forename = r.surname AND l.surname = r.forename",
]

DETERMINISTIC_RULES = [
    "l.upn = r.upn",
    "l.nhs_number = r.nhs_number",
    "l.forename = r.forename AND l.surname = r.surname AND l.dob = r.dob",
]

# Error rates are learnt where an identifier anchors the pair: records sharing a
# UPN or NHS number are the same child, and twins never share one. Blocking on
# date of birth alone would teach the model that twins are typo'd duplicates.
# The last session is bounded by birth year so its pairs grow linearly with the population.
TRAINING_SESSIONS = [block_on("upn"), block_on("nhs_number"), block_on("forename_canon", "surname", "dob_year")]
FALLBACK_SESSIONS = [block_on("dob", "postcode")]


def settings(link_type: str = "link_and_dedupe", postcode_is_area: bool = False) -> SettingsCreator:
    return SettingsCreator(
        link_type=link_type,
        probability_two_random_records_match=1e-4,
        unique_id_column_name="unique_id",
        comparisons=[FORENAME, HOUSEHOLD, address(postcode_is_area), DOB, MIDDLE, UPN, NHS, SEX],
        blocking_rules_to_generate_predictions=PREDICTION_RULES,
        retain_intermediate_calculation_columns=False,
        retain_matching_columns=False,
        additional_columns_to_retain=[],
    )
