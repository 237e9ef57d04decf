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

import pandas as pd

from linkage.link.guards import GUARD_REASON, date_slip_sql, split_name_sql, transposed_sql
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


def guard_reasons(store, queue: pd.DataFrame) -> pd.Series:
    """``queue``'s reasons with the twin guard's said as its two records' dates of birth are
    (``record_key_l``, ``record_key_r``, ``reason``): transposed and one slip read as the guard reads
    them (``transposed_sql``, ``date_slip_sql`` over the ISO text). Words only: the same pairs are queued."""
    mine = queue["reason"] == GUARD_REASON
    if not mine.any():
        return queue["reason"]
    ls, rs = list(queue.loc[mine, "record_key_l"]), list(queue.loc[mine, "record_key_r"])
    apart = dict(((l, r), how) for l, r, how in store.rows(f"""
WITH born AS (
  SELECT r.record_key, any_value(r.date_of_birth) AS dob FROM {t('records')} r JOIN {t('extracts')} e USING (extract_id)
  WHERE e.superseded_by IS NULL AND r.replaced_by IS NULL AND r.record_key IN (SELECT unnest(?)) GROUP BY r.record_key),
p AS (SELECT unnest(?) AS l, unnest(?) AS r)
SELECT p.l, p.r, CASE WHEN {transposed_sql('a', 'b')} THEN 'transposed'
  WHEN {date_slip_sql('a', 'b', 'CAST({t}.dob AS VARCHAR)')} THEN 'slip' ELSE 'apart' END
FROM p JOIN born a ON a.record_key = p.l JOIN born b ON b.record_key = p.r WHERE a.dob <> b.dob""",
                                                          [sorted({*ls, *rs}), ls, rs]))
    out = queue["reason"].copy()
    for i, l, r in zip(queue.index[mine], ls, rs):
        if (l, r) in apart:
            out[i] = _GUARD_APART[apart[(l, r)]]
    return out
