"""What a queued pair's two records agree on, in the words of its reason.

The second pass's rules (``evidence``, ``changed``, ``decoys``, ``household``, ``movedin``) read
candidates whose forenames are one name in any of several ways and whose dates of birth may be a
slip apart; a reason that says "same forename and birthday" for Sarah and Zara born two days
apart sends a reviewer looking for an agreement that is not there. So the pass says how the
forenames agree (``forename_how_sql``, one column of the candidates) and every rule opens its
reason with ``agreement``: "same forename and birthday" only where both are written the same.
"""

from __future__ import annotations

from linkage.link.guards import split_name_sql

__all__ = ["FORENAME_WORDS", "agreement", "forename_how_sql"]

# How two forenames agree, most exact first (``forename_how_sql``'s codes), in a reviewer's words.
FORENAME_WORDS = {
    "same": "same forename",
    "forms": "forenames are forms of one name",
    "whole": "one forename written as one word and as two",
    "sound": "forenames sound alike",
    "consonants": "forenames have the same consonants",
    "spelt": "forenames spelt alike",
}


def forename_how_sql(l: str, r: str) -> str:
    """How rows ``l`` and ``r``'s forenames agree, as a ``FORENAME_WORDS`` code: the same, one of
    the other's keys (a nickname, another form, the first of two words, a preferred name), one
    name whole and split, one sound code, one skeleton of consonants, or else a spelling alike.
    Rows need forename, forename_keys, forename_full, forename_join, forename_dm, forename_skel
    and forename_abjad. Pure SQL."""
    return (f"CASE WHEN {l}.forename = {r}.forename THEN 'same' "
            f"WHEN coalesce(list_has_any({l}.forename_keys, {r}.forename_keys), false) THEN 'forms' "
            f"WHEN coalesce({l}.forename_full = {r}.forename_full, false) OR {split_name_sql(l, r)} THEN 'whole' "
            f"WHEN coalesce({l}.forename_dm = {r}.forename_dm, false) THEN 'sound' "
            f"WHEN coalesce({l}.forename_skel = {r}.forename_skel OR {l}.forename_abjad = {r}.forename_skel "
            f"OR {l}.forename_skel = {r}.forename_abjad, false) THEN 'consonants' "
            f"ELSE 'spelt' END")


def agreement(row: dict) -> str:
    """What ``row``'s two records agree on (``forename_how``, ``dob_exact``, ``swapped``): "same
    forename and birthday" only when both are written the same, else each said as it is."""
    exact = bool(row["dob_exact"])
    if row.get("swapped"):
        return "forename and surname swapped" + ("" if exact else ", date of birth one slip apart")
    how = row["forename_how"]
    if how == "same" and exact:
        return "same forename and birthday"
    return f"{FORENAME_WORDS[how]}, {'same birthday' if exact else 'date of birth one slip apart'}"
