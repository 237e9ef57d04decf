"""A register that states every middle name: its silence is evidence of a child without one.

Twins given a name and its short form (Leon and Leo), each held only by sources the other is
not, leave the guard no co-twin in view and no two names: the school's Leon and the GP's "Leo
Jack" read as one boy with a nickname (250k ``linkage synth`` realistic, sessions 20 to 30). What
tells them apart is the second given name: the GP gives one, and the school, which writes every
middle name its pupils have, gives none. A register's silence is read as "no middle name" only
where the data show that it writes them: of its records whose forename, surname and date of birth
another register's record also holds (nearly all one child), with a second given name there, at
least ``MIDDLE_STATED_LEAST`` give one too. A register that leaves them out now and then (an MIS
with patchy middle names, a list with no such column) is never read so, and nothing changes.

Pure SQL; rows are the engine's input rows (``features.input_sql``).
"""

from __future__ import annotations

from linkage.link.features import register_sql
from linkage.link.namesql import middle_name

__all__ = ["MIDDLE_STATED_FEWEST", "MIDDLE_STATED_LEAST", "given_more_sql", "middle_counts_sql", "middle_reading_sql",
           "middle_registers_sql", "silent_sql"]

# Of a register's records whose child another register gives a second given name, the share that
# give one too for the register's silence to count (set on ``linkage synth``, whose schools write
# every middle name and whose GP list gives it in seven records of ten: see docs/benchmarks.md).
MIDDLE_STATED_LEAST = 0.95
# And how many such records it must have, for that share to say anything.
MIDDLE_STATED_FEWEST = 20


def given_more_sql(t: str) -> str:
    """``t`` gives a second given name: a first middle name, or a forename of two words, each of more
    than one letter (a GP's "L.R." for Leroy is initials, not a forename and a middle name)."""
    return (f"coalesce(length({middle_name(f'{t}.middle_names')}) > 1 OR ({t}.forename_full <> {t}.forename "
            f"AND length({t}.forename) > 1 AND length({t}.forename_full) > length({t}.forename) + 1), false)")


def silent_sql(t: str, registers: str) -> str:
    """``t`` gives one given name and no middle name, in a register that states them (``registers``:
    a relation of ``middle_reading_sql``)."""
    return (f"coalesce({t}.forename_full = {t}.forename AND coalesce({middle_name(f'{t}.middle_names')}, '') = '' "
            f"AND {register_sql(t)} IN (SELECT register FROM {registers}), false)")


def _stated_sql(input_table: str, select: str, having: str = "") -> str:
    """Each register's records whose forename, surname and date of birth another register's record
    with a second given name holds (``x``, with ``x.more``: it gives one too), grouped by register."""
    return f"""
WITH given AS (
  SELECT {register_sql('i')} AS register, forename, surname, dob, {given_more_sql('i')} AS more
  FROM {input_table} i WHERE forename IS NOT NULL AND surname IS NOT NULL AND dob IS NOT NULL),
told AS (SELECT DISTINCT register, forename, surname, dob FROM given WHERE more)
SELECT {select} FROM given x
WHERE EXISTS (SELECT 1 FROM told y WHERE y.forename = x.forename AND y.surname = x.surname AND y.dob = x.dob
              AND y.register <> x.register)
GROUP BY x.register{having}"""


def middle_registers_sql(input_table: str) -> str:
    """(register): the registers of ``input_table`` that state every middle name (module docstring)."""
    return _stated_sql(input_table, "x.register", f"""
HAVING count(*) >= {MIDDLE_STATED_FEWEST} AND avg(CAST(x.more AS DOUBLE)) >= {MIDDLE_STATED_LEAST}""")


def middle_counts_sql(input_table: str) -> str:
    """(register, stated_of, stated): ``middle_registers_sql``'s two counts, each register's records
    its reading is of and how many give a second given name. A key's records count apart from every
    other key's (``registercounts``)."""
    return _stated_sql(input_table, "x.register, count(*) AS stated_of, count(*) FILTER (WHERE x.more) AS stated")


def middle_reading_sql(counts: str) -> str:
    """(register): ``middle_registers_sql`` read from ``counts`` (``middle_counts_sql``'s columns,
    summed over every key)."""
    return (f"SELECT register FROM {counts} WHERE stated_of >= {MIDDLE_STATED_FEWEST} "
            f"AND CAST(stated AS DOUBLE) / stated_of >= {MIDDLE_STATED_LEAST}")
