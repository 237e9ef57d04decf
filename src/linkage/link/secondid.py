"""One child under a second identifier: the band pairs a reviewer must still see though their
children hold different UPNs or NHS numbers.

The queue drops a pair whose two children hold different identifiers of one kind when each
record has a stronger link inside its own child, or when the twin guard fired (twins Ella and
Bella, each under her own UPN: ``review.undecided``). A school that enrols a child who has moved
sometimes issues a new UPN instead of taking the old one over, so one child stands as two
children on two school rolls, each record linked strongly to its own. What twins never share
and one child always does: the forename (the same string: twins are Leon and Leo, Ella and
Bella, so a nickname or one typed letter is no second UPN's allowance) **and** a first middle
name both records hold, neither record with a co-twin of another forename in its own extract, with the
surname, one date of birth and no conflicting sex. Such pairs stay in the queue (a reviewer
decides; nothing is linked here) unless the two children hold different NHS numbers: a GP does
not issue a second one when a child changes school, and namesakes born the same day with the
same middle name exist (at 250,000 realistic records, 13 such pairs under two NHS numbers and
two surnames were all two children).

A forename or surname **typed** in one of the two school records (Chalrotte / Charlotte, Omar
Mcclena / Mcclean) is allowed only with what twins lack: the two children hold no source in
common but the pair's own. Twins are each on a GP list (and mostly on the same school rolls); a
second UPN leaves the child's GP record, and every other agency's, with one of the two
(``typed_pairs``). The forenames must be one name typed (``NAME_JW``, one edit, or a nickname key
in common), the surnames too (``NAME_JW``), and the first middle name and the date of birth the
same (at 250,000 realistic records, 6 such pairs, all one child; twins Leon and Leo, each with a
GP record, stay out).
"""

from __future__ import annotations

from collections.abc import Mapping

import duckdb
import pandas as pd

from linkage.link.complement import sources_of
from linkage.link.guards import near_sql, sexes_differ_sql
from linkage.link.namesql import middle_name
from linkage.store import registered

__all__ = ["NAME_JW", "one_child_pairs", "one_child_sql", "second_upn_sql", "typed_pairs", "typed_sql", "unrelated_sql"]

# Two forenames this alike (Jaro-Winkler) are one name typed twice (Chalrotte / Charlotte).
NAME_JW = 0.8


def one_child_sql(pairs: str, input_table: str, cotwin_table: str | None = None) -> str:
    """The pairs of ``pairs`` (unique_id_l, unique_id_r) whose records share the forename (the
    same string: a nickname or a typed letter is how twins Leon and Leo, Ella and Bella differ)
    and a first middle name, the surname, the date of birth and the sex, neither record with a
    co-twin of another forename in ``cotwin_table`` (its own source holds a sibling born that
    day: a second UPN under the same name is still a co-twin there, and allowed) (pure SQL)."""
    twin = ("NOT coalesce(list_bool_or(list_transform((SELECT c.cotwins FROM {t} c WHERE c.unique_id = {s}.unique_id), "
            "x -> x.f <> {s}.forename)), false)")
    alone = (f"AND {twin.format(t=cotwin_table, s='l')} AND {twin.format(t=cotwin_table, s='r')}"
             if cotwin_table else "")
    return f"""
SELECT e.unique_id_l, e.unique_id_r FROM {pairs} e
JOIN {input_table} l ON l.unique_id = e.unique_id_l
JOIN {input_table} r ON r.unique_id = e.unique_id_r
WHERE l.forename = r.forename
  AND coalesce({middle_name('l.middle_names')}, '') <> ''
  AND {middle_name('l.middle_names')} = {middle_name('r.middle_names')}
  AND (l.surname = r.surname OR list_has_any(l.surname_all, r.surname_all))
  AND l.dob = r.dob
  AND NOT {sexes_differ_sql('l', 'r')}
  {alone}"""


def typed_sql(pairs: str, input_table: str) -> str:
    """The pairs of ``pairs`` whose forenames, and surnames, are one name (possibly typed), with one
    first middle name and date of birth and no conflicting sex (pure SQL); ``typed_pairs`` then
    asks that no source but the pair's own holds both children."""
    return f"""
SELECT e.unique_id_l, e.unique_id_r, l.source_dataset, r.source_dataset FROM {pairs} e
JOIN {input_table} l ON l.unique_id = e.unique_id_l
JOIN {input_table} r ON r.unique_id = e.unique_id_r
WHERE (jaro_winkler_similarity(l.forename, r.forename) >= {NAME_JW} OR damerau_levenshtein(l.forename, r.forename) <= 1
       OR coalesce(list_has_any(l.forename_keys, r.forename_keys), false))
  AND coalesce({middle_name('l.middle_names')}, '') <> ''
  AND {middle_name('l.middle_names')} = {middle_name('r.middle_names')}
  AND (l.surname = r.surname OR list_has_any(l.surname_all, r.surname_all)
       OR jaro_winkler_similarity(l.surname, r.surname) >= {NAME_JW})
  AND l.dob = r.dob
  AND NOT {sexes_differ_sql('l', 'r')}"""


def typed_pairs(con: duckdb.DuckDBPyConnection, pairs: str, input_table: str,
                cluster_of: Mapping[str, str]) -> set[frozenset]:
    """``typed_sql``'s pairs whose two children hold no source in common but the pair's own."""
    rows = [(a, b, sa, sb) for a, b, sa, sb in con.execute(typed_sql(pairs, input_table)).fetchall()
            if a in cluster_of and b in cluster_of and cluster_of[a] != cluster_of[b]]
    held = sources_of(dict(cluster_of), {cluster_of[k] for a, b, *_ in rows for k in (a, b)})
    return {frozenset((a, b)) for a, b, sa, sb in rows
            if held[cluster_of[a]] & held[cluster_of[b]] <= {sa, sb}}


def one_child_pairs(con: duckdb.DuckDBPyConnection, pairs: pd.DataFrame, input_table: str,
                    cotwin_table: str | None = None, cluster_of: Mapping[str, str] | None = None) -> set[frozenset]:
    """``one_child_sql`` over ``pairs`` (unique_id_l, unique_id_r) as record-key sets; with
    ``cluster_of`` (record -> child), ``typed_pairs`` too."""
    if pairs.empty:
        return set()
    with registered(con, _one_child_df=pairs[["unique_id_l", "unique_id_r"]]):
        same = {frozenset(r) for r in con.execute(one_child_sql("_one_child_df", input_table, cotwin_table)).fetchall()}
        if cluster_of is not None:
            same |= typed_pairs(con, "_one_child_df", input_table, cluster_of)
        return same


def second_upn_sql(rows: str, cotwins: str, on_roll: str | None = None) -> str:
    """(l, r): pairs of ``rows`` (input rows) under two UPNs whose forename, surname, date of birth
    and address agree exactly, no other field against them, and no twin on either side: one pupil,
    even if the schools gave two UPNs (``cluster.constrained_clusters``' ``soft_upn``). A co-twin
    (``cotwins``: ``guards.cotwins_from_pairs_sql`` rows) under the same forename and no other
    middle name is the second roll's record itself (one pupil on two school rolls is two records of
    one source); one under a forename spelt like it or one name with it (Isha beside Isla) is a twin
    whose record a slip may have written under this name, as is one under another middle name.
    A co-twin of another name altogether (Harry beside Ashleigh) is not: no slip writes Harry as
    Ashleigh, and the two Ashleighs are one pupil (250k realistic, seed 42: 51 more such pairs,
    every one one pupil).

    Nor two UPNs on roll at once since one day (``on_roll``: upn, ``on_roll_since``, the entry
    dates of its holders' current single enrolments, ``LINK_RECORDS_SQL``), whichever of their
    holders the pair is (a twin's social-care record under her UPN is no second UPN of her
    sister's): a second UPN replaces the first (the old school's record left, or off the census),
    while twins enrol together. At the independent 100k set the only children
    left under two UPNs were three such pairs of twins; at 250k ``linkage synth`` realistic none of
    1,708 (all one child) was on roll twice since one day."""
    twin = (f"coalesce(list_bool_or(list_transform((SELECT c.cotwins FROM {cotwins} c "
            "WHERE c.unique_id = {s}.unique_id), x -> (x.f <> {s}.forename AND ("
            + near_sql("x.f", "{s}.forename") + " OR list_has_any(x.k, {s}.forename_keys))) "
            f"OR (coalesce(x.m, '') <> '' AND x.m <> coalesce({middle_name('{s}.middle_names')}, '')))), false)")
    roll = (f"AND NOT coalesce(list_has_any((SELECT o.on_roll_since FROM {on_roll} o WHERE o.upn = l.upn), "
            f"(SELECT o.on_roll_since FROM {on_roll} o WHERE o.upn = r.upn)), false)" if on_roll else "")
    return f"""
SELECT l.unique_id, r.unique_id FROM {rows} l
JOIN {rows} r ON l.forename = r.forename AND l.surname = r.surname AND l.dob = r.dob
  AND l.unique_id < r.unique_id
WHERE l.upn <> r.upn
  AND (l.postcode = r.postcode OR l.address = r.address)
  AND NOT coalesce(l.nhs_number <> r.nhs_number, false)
  AND NOT coalesce(l.sex <> r.sex AND l.sex <> 'U' AND r.sex <> 'U', false)
  AND NOT coalesce({middle_name('l.middle_names')} <> {middle_name('r.middle_names')}, false)
  {roll}
  AND NOT {twin.format(s='l')} AND NOT {twin.format(s='r')}
ORDER BY 1, 2"""


def unrelated_sql(l: str, r: str) -> str:
    """Two records' forenames share nothing (pure SQL): not alike (Jaro-Winkler < 0.75, first words
    or the whole forenames run together: Tzu Hao, Zihao), not one name, not swapped with a surname,
    not a middle name used, not even the same initial, not one sound or one set of consonants."""
    return f"""jaro_winkler_similarity({l}.forename, {r}.forename) < 0.75
  AND jaro_winkler_similarity({l}.forename_full, {r}.forename_full) < 0.75
  AND substr({l}.forename, 1, 1) <> substr({r}.forename, 1, 1)
  AND NOT list_has_any({l}.forename_keys, {r}.forename_keys)
  AND jaro_winkler_similarity({l}.forename, {r}.surname) < 0.75 AND jaro_winkler_similarity({l}.surname, {r}.forename) < 0.75
  AND NOT coalesce({l}.forename = {middle_name(f'{r}.middle_names')}, false)
  AND NOT coalesce({r}.forename = {middle_name(f'{l}.middle_names')}, false)
  AND NOT coalesce({l}.forename_full = {r}.forename_full OR {l}.forename_dm = {r}.forename_dm
                   OR {l}.forename_abjad = {r}.forename_skel OR {l}.forename_skel = {r}.forename_abjad, false)"""
