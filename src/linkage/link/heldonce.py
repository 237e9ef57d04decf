"""A register that holds each child once: two of its records are two children, identifiers or not.

Twins given one forename, both only on a GP list, neither with an NHS number and neither with its
middle name there (``linkage synth`` realistic, 250k at seed 7: Vidhi and Vidhi Walker, one home):
no identifier, name or middle name tells them apart, and the model joins them on everything else.
What does is that one list holds both. A school census holds a pupil twice (a move between two
schools, a second UPN), so that is read only where the data show the register does not: of its
pairs of records under one forename, surname and date of birth that both hold an identifier of one
kind (NHS number, else UPN), at most ``HELD_TWICE_MOST`` share it. A pair of such a register's
records of which one holds neither identifier is then kept apart by the twin guard, as two records
with two different NHS numbers are by clustering.

Pure SQL; rows are the engine's input rows (``features.input_sql``).
"""

from __future__ import annotations

from linkage.link.features import register_sql

__all__ = ["HELD_TWICE_FEWEST", "HELD_TWICE_MOST", "held_once_counts_sql", "held_once_reading_sql",
           "held_once_registers_sql", "held_once_sql", "unnumbered_sql"]

# The share of a register's same-name, same-birthday pairs holding one identifier (one child twice)
# at most which it is read as holding each child once, and the pairs it must have to be read at all.
HELD_TWICE_MOST = 0.02
HELD_TWICE_FEWEST = 20


def unnumbered_sql(t: str, registers: str) -> str:
    """``t`` holds no NHS number and no UPN, in a register of ``registers`` (``held_once_reading_sql``)."""
    return (f"coalesce({t}.nhs_number IS NULL AND {t}.upn IS NULL "
            f"AND {register_sql(t)} IN (SELECT register FROM {registers}), false)")


def held_once_sql(l: str, r: str, registers: str) -> str:
    """``l`` and ``r`` are two records of one register that holds each child once, one of them
    without an identifier (with both, the identifiers decide)."""
    return (f"coalesce({register_sql(l)} = {register_sql(r)} AND ({unnumbered_sql(l, registers)} "
            f"OR {unnumbered_sql(r, registers)}), false)")


def _pairs_sql(input_table: str, select: str, having: str = "") -> str:
    """Each register's pairs of records under one forename, surname and date of birth holding an
    identifier of one kind (``one``: they share it), grouped by register."""
    return f"""
WITH keyed AS (
  SELECT {register_sql('i')} AS register, unique_id, forename, surname, dob, nhs_number, upn FROM {input_table} i
  WHERE forename IS NOT NULL AND surname IS NOT NULL AND dob IS NOT NULL
    AND (nhs_number IS NOT NULL OR upn IS NOT NULL)),
pairs AS (
  SELECT x.register, CASE WHEN x.nhs_number IS NOT NULL AND y.nhs_number IS NOT NULL
                          THEN x.nhs_number = y.nhs_number ELSE x.upn = y.upn END AS one
  FROM keyed x JOIN keyed y ON x.register = y.register AND x.forename = y.forename AND x.surname = y.surname
   AND x.dob = y.dob AND x.unique_id < y.unique_id
  WHERE (x.nhs_number IS NOT NULL AND y.nhs_number IS NOT NULL) OR (x.upn IS NOT NULL AND y.upn IS NOT NULL))
SELECT {select} FROM pairs GROUP BY register{having}"""


def held_once_registers_sql(input_table: str) -> str:
    """(register): the registers of ``input_table`` that hold each child once (module docstring)."""
    return _pairs_sql(input_table, "register", f"""
HAVING count(*) >= {HELD_TWICE_FEWEST} AND avg(CAST(one AS DOUBLE)) <= {HELD_TWICE_MOST}""")


def held_once_counts_sql(input_table: str) -> str:
    """(register, pairs, shared): ``held_once_registers_sql``'s two counts, each register's pairs and
    how many share their identifier (a pair is of one key: ``registercounts``)."""
    return _pairs_sql(input_table, "register, count(*) AS pairs, count(*) FILTER (WHERE one) AS shared")


def held_once_reading_sql(counts: str) -> str:
    """(register): ``held_once_registers_sql`` read from ``counts`` (``held_once_counts_sql``'s columns,
    summed over every key)."""
    return (f"SELECT register FROM {counts} WHERE pairs >= {HELD_TWICE_FEWEST} "
            f"AND CAST(shared AS DOUBLE) / pairs <= {HELD_TWICE_MOST}")
