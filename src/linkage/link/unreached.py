"""Candidates no key of the second pass meets: a forename typed with a slip or in another form, and
a birthday recorded wrong at one home.

The second pass (``evidence.candidates_sql``) finds a child split by a new surname and a move
through the keys two records of one child still share: the forename's sound code, its canonical
form, its consonants, or the home. Two kinds of one child share none of them once the surname and
the postcode have both changed (the third is the family pairs' own limit):

* **A forename typed with one slip** (Jacob / Jaxob, Willow / Wikow, Oscar / Osca): the slip
  changes the sound code and the consonants, and the canonical form of a misspelling is itself.
  A slip makes a spelling that few other children hold, so the pairs sought are a *rare*
  forename (held by at most ``RARE`` records, ``guards.RARE``, or by ``SLIP_RATIO`` times fewer
  than the other) one typed character (an edit,
  a transposition) from a forename on the *same* date of birth, or two in a name of six letters
  or more (Reuben / Reyen: a record typed twice, or both records once; ``typo_pairs_sql``). Two real
  names one letter apart (Leo / Leon, Mia / Mila) are both common and are not paired here:
  they are two children's names, and the second pass's other keys already meet them where
  they sound alike.
* **Another form of the forename** (Sally / Sarah, Meg / Megan, Olly / Oliver): the two share a
  nickname key, but each has its own canonical form and no sound code in common. Every key of
  the forename is a key of the pass (``name_keys_sql``), not only the canonical one.
* **A date of birth recorded wrong** at one home, in one family, under one forename (Isabella
  Palmer / Isabella Plmer at one postcode, born 15 October and 10 May): the family pairs of
  ``complement.family_sql`` (children no source holds both of) look within a month of the
  birthday, and within ``HOME_DAYS`` when the home *and* the family agree
  (``home_and_family_sql``); queued, never linked.

What the pass does with such a candidate is unchanged: it is judged on both children's evidence
and by the expected namesakes (``evidence.coincidences``: the commoner side's forename counts) and
queued; a nickname pair (one name) may be linked on two pieces of cluster evidence, as any pair of
one name; a slip is not one name and is never linked. This module only lets the pass see them.
"""

from __future__ import annotations

from linkage.link.guards import RARE

__all__ = ["COUNT_TABLE", "HOME_DAYS", "LETTERS_PER_SLIP", "SLIP_RATIO", "TYPO_SHORTEST", "counts_sql",
           "home_and_family_sql", "name_keys_sql", "slip_sql", "typo_pairs_sql"]

# A slip in a forename shorter than this leaves too little of the name to tell one from another.
TYPO_SHORTEST = 4
# Letters of the longer forename per typed slip allowed (one slip up to five letters, two up to eight).
LETTERS_PER_SLIP = 3
# A spelling held by this many times fewer records than a forename a slip away is a slip of it (a
# slip of a common name recurs as the population grows: three Jaxobs among 250,000 records, where
# Jacob is held by hundreds); two real names a letter apart are held by comparable numbers.
SLIP_RATIO = 20
# Most days between two birthdays recorded for one child at one home in one family (``home_and_family_sql``).
HOME_DAYS = 366
# The name of the forename counts' table (``counts_sql``) inside ``evidence.candidates_sql``.
COUNT_TABLE = "forename_count"


def counts_sql(input_table: str) -> str:
    """How many records of ``input_table`` hold each forename (the body of a CTE named ``COUNT_TABLE``)."""
    return f"SELECT forename, count(*) AS n FROM {input_table} WHERE forename IS NOT NULL GROUP BY forename"


def _held(row: str) -> str:
    """How many records hold row's forename: its ``held`` column (``COUNT_TABLE`` joined once,
    not a subquery per pair: the second pass weighs millions of pairs at 1M)."""
    return f"{row}.held"


def slip_sql(l: str, r: str) -> str:
    """The forenames of rows ``l`` and ``r`` (each with ``held``, ``_held``) are one name typed with a slip or two: one of them is
    rare (held by at most ``RARE`` records, or ``SLIP_RATIO`` times fewer than the other), the
    longer has at least ``TYPO_SHORTEST`` letters, and they are at most one edit apart per
    ``LETTERS_PER_SLIP`` letters of the longer (pure SQL)."""
    longer = f"greatest(length({l}.forename), length({r}.forename))"
    few, many = f"least({_held(l)}, {_held(r)})", f"greatest({_held(l)}, {_held(r)})"
    return (f"({l}.forename <> {r}.forename AND {longer} >= {TYPO_SHORTEST} "
            f"AND damerau_levenshtein({l}.forename, {r}.forename) <= greatest(1, {longer} // {LETTERS_PER_SLIP}) "
            f"AND ({few} <= {RARE} OR {few} * {SLIP_RATIO} <= {many}))")


def name_keys_sql(inp: str, cols: str) -> str:
    """Each record of ``inp`` under every key of its forename (nicknames, other spellings) but the
    canonical one (a branch of its own), with its month of birth: one ``UNION ALL`` branch for
    ``evidence``'s keyed rows (``cols``, ``k``, ``d``)."""
    keys = "list_filter(forename_keys, x -> x IS DISTINCT FROM forename_canon)"
    return (f"SELECT {cols}, 'c:' || unnest({keys}) AS k, date_trunc('month', dob) AS d FROM {inp} "
            "WHERE forename_keys IS NOT NULL")


def _deletions(name: str, depth: int) -> str:
    """The spellings ``name`` leaves with up to ``depth`` (1 or 2) of its characters deleted, itself
    included (pure SQL list)."""
    one = f"list_transform(range(1, length({name}) + 1), i -> substr({name}, 1, i - 1) || substr({name}, i + 1))"
    if depth == 1:
        return f"list_concat([{name}], {one})"
    two = (f"flatten(list_transform({one}, v -> list_transform(range(1, length(v) + 1), "
           "j -> substr(v, 1, j - 1) || substr(v, j + 1))))")
    return f"list_distinct(list_concat([{name}], {one}, {two}))"


def _deletion_keys(where: str) -> str:
    """Rows (forename, held, dk) of ``COUNT_TABLE``: each forename under every spelling it leaves
    with one character deleted, or two in a forename of six letters or more (a pair of forenames
    ``slip_sql`` admits, one slip per ``LETTERS_PER_SLIP`` letters of the longer, always shares
    one: the symmetric-deletion neighbourhood), with how many records hold it (``held``)."""
    return (f"SELECT forename, n AS held, unnest(CASE WHEN length(forename) >= 6 THEN "
            f"{_deletions('forename', 2)} ELSE {_deletions('forename', 1)} END) AS dk "
            f"FROM {COUNT_TABLE} WHERE length(forename) >= {TYPO_SHORTEST - 1}{' AND ' + where if where else ''}")


def typo_pairs_sql(ik: str, may_pair: str) -> str:
    """Pairs (least, greatest) of record numbers ``n`` of ``ik`` (forename, dob, and what
    ``may_pair`` reads about rows ``a`` and ``b``) born on the same day whose forenames are one
    name typed with a slip (``slip_sql``; pure SQL). The slips are found among the distinct
    forenames, not the records: a forename that could be a slip of the commonest one meets every
    forename by a spelling both leave after deletions (``_deletion_keys``), and only then are the
    two names' records met on their birthday. Keying every record (each under some twenty
    spellings, a million records at 1M) cost most of the second pass; the distinct forenames are
    far fewer, and the pairs found are the same (``tests/test_second_pass_fast.py``). Only the
    forenames ``ik`` holds are keyed (how many hold each still counted over the population): a
    month's few thousand records' names, not the million's, every one under some twenty spellings.
    Each two names are met once, from the rarer (``fa``: fewer holders, or the first in order of a
    tie), which is always a ``rare`` one when the two are a slip: met from both, a name of a few
    hundred holders paired its every record with each of its slips' (4M rows at 1M records)."""
    held = f"forename IN (SELECT forename FROM {ik})"
    rare = f"n <= greatest({RARE}, (SELECT max(n) FROM {COUNT_TABLE}) // {SLIP_RATIO}) AND {held}"
    few, many = "least(x.held, y.held)", "greatest(x.held, y.held)"
    longer = "greatest(length(x.forename), length(y.forename))"
    return f"""
SELECT least(a.n, b.n), greatest(a.n, b.n)
FROM (SELECT DISTINCT x.forename AS fa, y.forename AS fb
      FROM ({_deletion_keys(rare)}) x JOIN ({_deletion_keys(held)}) y ON x.dk = y.dk
      WHERE (x.held < y.held OR (x.held = y.held AND x.forename < y.forename)) AND {longer} >= {TYPO_SHORTEST}
        AND ({few} <= {RARE} OR {few} * {SLIP_RATIO} <= {many})
        AND damerau_levenshtein(x.forename, y.forename) <= greatest(1, {longer} // {LETTERS_PER_SLIP})) s
JOIN {ik} a ON a.forename = s.fa JOIN {ik} b ON b.forename = s.fb AND b.dob = a.dob
WHERE {may_pair}"""


def home_and_family_sql(met: str, l: str, r: str) -> str:
    """Records ``l`` and ``r``, met in ``complement.family_sql`` under one of their families
    (``met.family``: a surname, or ``home <postcode>``), meet at one home, and their surnames are one family
    (a surname in common, or one spelt alike: Palmer / Plmer), born within ``HOME_DAYS``: a date of
    birth recorded wrong (a registration date, a slip in two places). Brothers and sisters at one
    home do not share a forename, and twins share the birthday (pure SQL)."""
    return (f"(starts_with({met}.family, 'home ') AND abs(datediff('day', {l}.dob, {r}.dob)) <= {HOME_DAYS} "
            f"AND (list_has_any({l}.surname_all, {r}.surname_all) "
            f"OR jaro_winkler_similarity({l}.surname, {r}.surname) >= 0.9))")
