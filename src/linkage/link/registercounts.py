"""Each register's counts for the two register readings, kept beside the input cache.

The readings (``middles``: does a register state every middle name; ``heldonce``: does it hold each
child once) compare a numerator with a denominator counted over every record, two joins of the whole
population that a month would otherwise run again for its 1% of records. Every count is a sum over
keys (forename, surname, date of birth): a record counts only with records of its own key. So the
counts are kept, one row a register, and a month moves them by its keys alone: the counts of those
keys' cached rows before the cache is brought up to date are taken off, and those after are added.
The sums are integers: the same as counting everything again, exactly.

Written in the input cache's transaction (``inputcache``), so the counts always describe the cached
rows; a cache written whole (a first link, a changed derivation code), or one found not to describe
its extracts, counts everything again.

Pure SQL over input rows (``features.input_sql``) and a ``Store``'s ``execute``.
"""

from __future__ import annotations

import hashlib

from linkage.link.heldonce import held_once_counts_sql, held_once_reading_sql
from linkage.link.middles import middle_counts_sql, middle_reading_sql

__all__ = ["CODE", "COLUMNS", "READS", "counts_sql", "keys_sql", "moved_sql", "readings"]

# The counts a register row holds (``middles.middle_counts_sql`` and ``heldonce.held_once_counts_sql``).
COLUMNS = ("stated_of", "stated", "pairs", "shared")
# The input columns they read (``features.register_sql``, ``middles.given_more_sql``, the identifiers).
READS = ("register", "source_dataset", "unique_id", "forename", "forename_full", "middle_names", "surname", "dob",
         "nhs_number", "upn")


def counts_sql(rows: str) -> str:
    """(register, ``COLUMNS``): the counts of the input rows ``rows``; a register appears when any
    count is above zero. Over a month's keys' rows (``keys_sql``), what those keys add."""
    sums = ", ".join(f"CAST(coalesce({c}, 0) AS BIGINT) AS {c}" for c in COLUMNS)
    return (f"SELECT register, {sums} FROM ({middle_counts_sql(rows)}) "
            f"FULL JOIN ({held_once_counts_sql(rows)}) USING (register)")


def keys_sql(*relations: str) -> str:
    """(forename, surname, dob): the distinct keys of the input rows of ``relations`` (records gone,
    changed or new), the only keys whose counts a month moves."""
    union = " UNION ALL ".join(f"SELECT forename, surname, dob FROM {r}" for r in relations)
    return (f"SELECT DISTINCT forename, surname, dob FROM ({union}) "
            "WHERE forename IS NOT NULL AND surname IS NOT NULL AND dob IS NOT NULL")


def moved_sql(counts: str, before: str, after: str) -> str:
    """``counts`` less ``before`` plus ``after`` (three relations of ``counts_sql``'s columns),
    registers left with no count dropped, as ``counts_sql`` over everything leaves them out."""
    sums = ", ".join(f"CAST(sum({c}) AS BIGINT) AS {c}" for c in COLUMNS)
    negated = ", ".join(f"-{c}" for c in COLUMNS)
    return (f"SELECT register, {sums} FROM (SELECT register, {', '.join(COLUMNS)} FROM {counts} UNION ALL SELECT register, {negated} "
            f"FROM {before} UNION ALL SELECT * FROM {after}) GROUP BY register "
            f"HAVING {' OR '.join(f'sum({c}) <> 0' for c in COLUMNS)}")


def readings(counts: str) -> tuple[str, str]:
    """The two readings of ``counts``: (register) of the registers that state every middle name
    (``middles``), and of those that hold each child once (``heldonce``)."""
    return middle_reading_sql(counts), held_once_reading_sql(counts)


# The code that counts: kept in each register row, and counts of other code are counted again.
CODE = hashlib.sha256(counts_sql("r").encode()).hexdigest()[:16]
