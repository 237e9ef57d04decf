"""SQL that turns stored records into Splink's input: pure functions, no I/O."""

from __future__ import annotations

__all__ = ["FEATURE_COLUMNS", "NAME_KEYS_COLUMNS", "NAME_KEYS_LISTS", "content_sha_sql", "input_sql", "key_names", "name_keys_frame",
           "name_keys_rows", "normalise_address", "permanent_upn", "record_features", "register_sql"]

import re
from datetime import date
from typing import Any

from linkage.link.names import abjad_key, consonant_skeleton, forename_keys, name_family, near_keys, sound_key
from linkage.link.namesql import middle_name
from linkage.validation.postcode import NOT_A_PLACE_PREFIXES, postcode_for_linking

# No-fixed-abode (ZZ99) and BFPO markers are kept on the record but are never linking evidence.
_POSTCODE_SQL = "CASE WHEN " + " OR ".join(
    f"starts_with(r.postcode, '{p}')" for p in NOT_A_PLACE_PREFIXES) + " THEN NULL ELSE r.postcode END"

# Columns whose change means a record must be re-scored.
FEATURE_COLUMNS = ("forename", "forename_keys", "middle_names", "surname", "former_surname",
                   "dob", "sex", "postcode", "address", "upn", "former_upn", "nhs_number")


def register_sql(t: str) -> str:
    """The list an input row ``t`` is held on: its register, or its source where it names none."""
    return f"coalesce({t}.register, {t}.source_dataset)"


def content_sha_sql(row: str) -> str:
    """A hash of the input row ``row``'s compared fields: what a reviewer's decision is bound to."""
    cols = ", ".join(f"coalesce(CAST({row}.{c} AS VARCHAR), '')" for c in FEATURE_COLUMNS)
    return f"md5(concat_ws('|', {cols}))"


# The columns of the name keys table that ``input_sql`` joins (``name_keys_rows`` fills it).
# ``name`` holds each forename's first word (for keys) and the whole forename run together
# (for the sound and skeleton: Hsiao Ling, Xiaoling). ``near``: the keys of the names one typed
# character away, for a name the tables do not know (``names.near_keys``); ``family``: every form
# of the name (``names.name_family``).
NAME_KEYS_COLUMNS = ("name", "keys", "canon", "sound", "skeleton", "abjad", "near", "family")
# The list columns of the name keys table.
NAME_KEYS_LISTS = ("keys", "near", "family")


def name_keys_rows(names: list[str]) -> list[tuple]:
    return [(n, *forename_keys(n), sound_key(n), consonant_skeleton(n), abjad_key(n), near_keys(n), name_family(n))
            for n in names]


def name_keys_frame(names: list[str]):
    """``name_keys_rows`` as a DataFrame whose text columns stay text when all are empty."""
    import pandas as pd

    frame = pd.DataFrame(name_keys_rows(names), columns=list(NAME_KEYS_COLUMNS))
    for col in ("name", "canon", "sound", "skeleton", "abjad"):
        frame[col] = frame[col].astype("string")
    return frame


def key_names(forename_std: str | None) -> list[str]:
    """The names a forename needs in the name keys table: its first word and the whole, run together."""
    if not forename_std:
        return []
    return list(dict.fromkeys([forename_std.split(" ")[0], forename_std.replace(" ", "")]))


def input_sql(records_sql: str, name_keys_table: str) -> str:
    """One row per current record with the derived columns the model compares."""
    return f"""
WITH r AS ({records_sql}),
base AS (
  SELECT
    r.record_key AS unique_id,
    r.source AS source_dataset,
    r.register AS register,
    split_part(r.forename_std, ' ', 1) AS forename,
    replace(r.forename_std, ' ', '') AS forename_full,
    -- The given name with the first middle name run on: one compound name split in two (Xiao Ling).
    CASE WHEN coalesce(r.middle_names_std, '') <> ''
         THEN replace(r.forename_std, ' ', '') || {middle_name('r.middle_names_std')} END AS forename_join,
    r.middle_names_std AS middle_names,
    r.surname_std AS surname,
    r.former_surname_std AS former_surname,
    split_part(r.preferred_forename_std, ' ', 1) AS preferred_forename,
    r.date_of_birth AS dob,
    r.sex AS sex,
    {_POSTCODE_SQL} AS postcode,
    nullif(trim(regexp_replace(lower(regexp_replace(r.address, '[^A-Za-z0-9 ]', '', 'g')), '\\s+', ' ', 'g')), '')
      AS address,
    CASE WHEN regexp_matches(r.upn, '[A-Z]$') THEN NULL ELSE r.upn END AS upn,
    r.former_upn AS former_upn,
    r.nhs_number AS nhs_number
  FROM r
)
SELECT
  b.*,
  coalesce(k.canon, b.forename) AS forename_canon,
  s.sound AS forename_dm,
  s.skeleton AS forename_skel,
  s.abjad AS forename_abjad,
  coalesce(CAST(k.near AS VARCHAR[]), []::VARCHAR[]) AS forename_near,
  CASE WHEN b.forename IS NOT NULL THEN coalesce(CAST(k.family AS VARCHAR[]), [b.forename]) END AS forename_family,
  list_distinct(list_concat(coalesce(k.keys, [b.forename]),
                            coalesce(p.keys, CASE WHEN b.preferred_forename IS NULL THEN []
                                                  ELSE [b.preferred_forename] END))) AS forename_keys,
  list_distinct(list_concat(string_split(b.surname, ' '),
                            coalesce(string_split(b.former_surname, ' '), []))) AS surname_all,
  substr(b.surname, 1, 1) AS surname_initial,
  substr(b.forename, 1, 1) AS forename_initial,
  CAST(b.dob AS VARCHAR) AS dob_str,
  year(b.dob) AS dob_year,
  split_part(b.postcode, ' ', 1) AS postcode_district
FROM base b
LEFT JOIN {name_keys_table} k ON k.name = b.forename
LEFT JOIN {name_keys_table} p ON p.name = b.preferred_forename
LEFT JOIN {name_keys_table} s ON s.name = b.forename_full
"""


def permanent_upn(upn: str | None) -> str | None:
    """A temporary UPN (its last character a letter) is a school's placeholder, not an identity."""
    return None if upn is None or upn[-1:].isalpha() else upn


def _distinct(values: list) -> list:
    return sorted({v for v in values if v is not None})


def normalise_address(address: str | None) -> str | None:
    """The address as the model compares it (``input_sql``'s expression, in Python)."""
    if address is None:
        return None
    return re.sub(r"\s+", " ", re.sub(r"[^A-Za-z0-9 ]", "", address).lower()).strip(" ") or None


def record_features(*, forename_std: str | None, surname_std: str | None, date_of_birth: date | None,
                    middle_names_std: str | None = None, former_surname_std: str | None = None,
                    preferred_forename_std: str | None = None, sex: str | None = None,
                    postcode: str | None = None, address: str | None = None, upn: str | None = None,
                    former_upn: str | None = None, nhs_number: str | None = None) -> dict[str, Any]:
    """``input_sql`` for one record, in Python: what a lookup query is compared with.

    Lists come out sorted (``list_distinct`` leaves SQL's order undefined); a test checks
    every column against the SQL.
    """
    first = lambda s: s.split(" ")[0] if s is not None else None  # noqa: E731 (split_part(s, ' ', 1))
    forename, preferred = first(forename_std), first(preferred_forename_std)
    full = forename_std.replace(" ", "") if forename_std is not None else None
    join = full + middle_names_std.split(" ")[0] if full is not None and middle_names_std else None
    keys, canon = forename_keys(forename) if forename is not None else (None, None)
    postcode = postcode_for_linking(postcode)
    pkeys = forename_keys(preferred)[0] if preferred is not None else None
    address = normalise_address(address)
    return {
        "forename": forename, "forename_full": full, "forename_join": join, "middle_names": middle_names_std,
        "surname": surname_std,
        "former_surname": former_surname_std, "preferred_forename": preferred, "dob": date_of_birth,
        "sex": sex, "postcode": postcode, "address": address, "upn": permanent_upn(upn), "former_upn": former_upn,
        "nhs_number": nhs_number, "register": None,        # a query is on no list
        "forename_canon": canon if canon is not None else forename,
        "forename_dm": sound_key(full), "forename_skel": consonant_skeleton(full), "forename_abjad": abjad_key(full),
        "forename_near": near_keys(forename) if forename is not None else [],
        "forename_family": name_family(forename) if forename is not None else None,
        "forename_keys": _distinct((keys if keys is not None else [forename])
                                   + (pkeys if pkeys is not None else [] if preferred is None else [preferred])),
        "surname_all": _distinct((surname_std.split(" ") if surname_std is not None else [])
                                 + (former_surname_std.split(" ") if former_surname_std is not None else [])),
        "surname_initial": surname_std[:1] if surname_std is not None else None,
        "forename_initial": forename[:1] if forename is not None else None,
        "dob_str": date_of_birth.isoformat() if date_of_birth is not None else None,
        "dob_year": date_of_birth.year if date_of_birth is not None else None,
        "postcode_district": first(postcode),
    }
