"""The twin guard: a safeguarding rule that no model weight can override.

Two records sharing a date of birth, and a related surname (equal, a shared
part, or a typo of it) or a postcode, but with forenames that are not the same
name, a nickname, a typo or a swap, are presumed to be twins or siblings. Unless a UPN or NHS number agrees (allowing one typed error), the pair is never linked
automatically; it goes to clerical review instead.
"""

from __future__ import annotations

__all__ = ["GUARD_REASON", "twin_guard_sql"]

GUARD_REASON = "possible twin or sibling: same date of birth and family, different forename"


def _forename_equivalent(l: str, r: str) -> str:
    return (f"({l}.forename = {r}.forename OR list_has_any({l}.forename_keys, {r}.forename_keys) "
            f"OR ({l}.forename = {r}.surname AND {l}.surname = {r}.forename) "
            f"OR jaro_winkler_similarity({l}.forename, {r}.forename) >= 0.92 "
            f"OR damerau_levenshtein({l}.forename, {r}.forename) <= 1)")


def twin_guard_sql(edges_table: str, input_table: str) -> str:
    """Edges with a boolean ``guarded`` column; pure SQL, no I/O."""
    return f"""
SELECT e.*,
  coalesce(l.dob = r.dob
   AND (list_has_any(l.surname_all, r.surname_all)
        OR jaro_winkler_similarity(l.surname, r.surname) >= 0.85
        OR l.postcode = r.postcode)
   AND NOT {_forename_equivalent('l', 'r')}
   AND NOT coalesce(damerau_levenshtein(l.upn, r.upn) <= 1, false)
   AND NOT coalesce(damerau_levenshtein(l.nhs_number, r.nhs_number) <= 1, false), false) AS guarded
FROM {edges_table} e
JOIN {input_table} l ON l.unique_id = e.unique_id_l
JOIN {input_table} r ON r.unique_id = e.unique_id_r
"""
