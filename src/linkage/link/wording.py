"""What a queued pair's two records agree on, in the words of its reason.

The second pass's rules (``evidence``, ``changed``, ``decoys``, ``household``, ``movedin``) read
candidates whose forenames are one name in any of several ways and whose dates of birth may be a
slip apart; a reason that says "same forename and birthday" for Sarah and Zara born two days
apart sends a reviewer looking for an agreement that is not there. So the pass says how the
forenames agree (``forename_how_sql``, one column of the candidates) and every rule opens its
reason with ``agreement``: "same forename and birthday" only where both are written the same.
The twin guard's reason likewise says "same date of birth" only where the two dates are the same
(``guard_reasons``): the guard also reads day and month transposed, and one slip, as one date.
"""

from __future__ import annotations

from datetime import date

import pandas as pd

from linkage.link.guards import GUARD_REASON, split_name_sql
from linkage.store.schema import t

__all__ = ["FORENAME_WORDS", "agreement", "forename_how_sql", "guard_reasons"]

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


# The twin guard's reason where the two dates of birth are not written the same (``birthday_sql``
# reads them as one: transposed, one slip): what the records show, not "same date of birth".
_GUARD_APART = {
    "transposed": "possible twin or sibling: date of birth with day and month transposed, same family, "
                  "different forename",
    "slip": "possible twin or sibling: date of birth one slip apart, same family, different forename",
    "apart": "possible twin or sibling: different dates of birth, same family, different forename",
}


def _dates(a: date, b: date) -> str:
    """How two unequal dates of birth differ: day and month transposed, one typed character or two
    adjacent ones swapped in the ISO text (``date_slip_sql``), or otherwise."""
    if a.year == b.year and a.day == b.month and a.month == b.day:
        return "transposed"
    x, y = a.isoformat(), b.isoformat()
    at = [i for i in range(len(x)) if x[i] != y[i]]
    one = len(at) == 1 or (len(at) == 2 and at[1] == at[0] + 1 and x[at[0]] == y[at[1]] and x[at[1]] == y[at[0]])
    return "slip" if one else "apart"


def guard_reasons(store, queue: pd.DataFrame) -> pd.Series:
    """``queue``'s reasons with the twin guard's said as its two records' dates of birth are
    (``record_key_l``, ``record_key_r``, ``reason``). Words only: the same pairs are queued."""
    mine = queue["reason"] == GUARD_REASON
    if not mine.any():
        return queue["reason"]
    keys = sorted(set(queue.loc[mine, "record_key_l"]) | set(queue.loc[mine, "record_key_r"]))
    born = dict(store.rows(
        f"SELECT r.record_key, any_value(r.date_of_birth) FROM {t('records')} r JOIN {t('extracts')} e "
        "USING (extract_id) WHERE e.superseded_by IS NULL AND r.replaced_by IS NULL "
        "AND r.record_key IN (SELECT unnest(?)) GROUP BY r.record_key", [keys]))
    out = queue["reason"].copy()
    for i, a, b in zip(queue.index[mine], queue.loc[mine, "record_key_l"], queue.loc[mine, "record_key_r"]):
        da, db = born.get(a), born.get(b)
        if da is not None and db is not None and da != db:
            out[i] = _GUARD_APART[_dates(da, db)]
    return out
