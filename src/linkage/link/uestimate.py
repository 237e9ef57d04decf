"""Splink's u estimation by random sampling, counted in one pass in the store's DuckDB.

Splink's ``estimate_u_using_random_sampling`` joins the sample with itself once per comparison
(eight times over two million pairs) and evaluates each comparison's levels as written. Here
every comparison's level is found for each pair in one join, and each Damerau-Levenshtein
level ``damerau_levenshtein(a, b) <= 1`` is first narrowed by what it implies (byte lengths at
most one apart; of equal length, at most two bytes differ), which DuckDB tests in a fraction of
the distance's cost: on random pairs nearly every level falls through to "different", so the
distance was most of the work. The pairs, the levels and the counts are Splink's, and the u
values are set by Splink's own functions from those counts: the model is the same to the bit
(``tests/test_uestimate.py``).

The prior (``matching_pairs``) likewise: Splink's ``estimate_probability_two_random_records_match``
builds every pair its deterministic rules block and counts them; here the pairs are counted from
how many records share each value, as many as Splink's count, for a few group counts.
"""

from __future__ import annotations

import re
from copy import deepcopy
from itertools import combinations

import duckdb
from splink.internals.constants import LEVEL_NOT_OBSERVED_TEXT
from splink.internals.m_u_records_to_parameters import (
    append_u_probability_to_comparison_level_trained_probabilities, m_u_records_to_lookup_dict)
from splink.internals.unique_id_concat import _composite_unique_id_from_nodes_sql

__all__ = ["estimate_u", "matching_pairs", "model_narrowed", "model_widened", "narrowed", "rule_columns", "widened"]

_DESCRIPTION = "estimate u by random sampling"     # Splink's own, so the model says the same
_DL1 = re.compile(r'damerau_levenshtein\(\s*("\w+"|\w+)\s*,\s*("\w+"|\w+)\s*\)\s*<=\s*1(?![\w.])')


def narrowed(sql: str) -> str:
    """``sql`` with each ``damerau_levenshtein(a, b) <= 1`` of two columns preceded by tests it
    implies: DuckDB's distance counts bytes, one edit changes the length by at most one byte,
    and between strings of one length it is a substitution (one byte differs) or a swap of two
    neighbours (two); ``hamming`` refuses empty strings, so they are let through. In a CASE
    condition DuckDB tests an AND's right side only where its left holds; a NULL side makes
    both forms not hold."""
    def guard(m: re.Match) -> str:
        a, b = m.group(1), m.group(2)
        return (f"(CASE WHEN strlen({a}) <> strlen({b}) THEN abs(strlen({a}) - strlen({b})) <= 1 "
                f"WHEN strlen({a}) = 0 THEN true ELSE hamming({a}, {b}) <= 2 END AND {m.group(0)})")
    return _DL1.sub(guard, sql)


_NARROWED = re.compile(r'\(CASE WHEN strlen\(("\w+"|\w+)\) <> strlen\(("\w+"|\w+)\) THEN abs\(strlen\(\1\) - strlen\(\2\)\) <= 1 '
                       r'WHEN strlen\(\1\) = 0 THEN true ELSE hamming\(\1, \2\) <= 2 END AND '
                       r'(damerau_levenshtein\(\s*\1\s*,\s*\2\s*\)\s*<=\s*1)\)')


def widened(sql: str) -> str:
    """``narrowed`` undone: the condition as written."""
    return _NARROWED.sub(lambda m: m.group(3), sql)


def _levels_mapped(model: dict, fn) -> dict:
    out = deepcopy(model)
    for comparison in out.get("comparisons", []):
        for level in comparison["comparison_levels"]:
            level["sql_condition"] = fn(level["sql_condition"])
    return out


def model_narrowed(model: dict) -> dict:
    """A model (settings dict) with every level ``narrowed``: what Splink is given to run."""
    return _levels_mapped(model, narrowed)


def model_widened(model: dict) -> dict:
    """``model_narrowed`` undone: the model as stored and read by the lookup."""
    return _levels_mapped(model, widened)


def estimate_u(con: duckdb.DuckDBPyConnection, settings_obj, sample: str) -> None:
    """Set the u probabilities of ``settings_obj`` (a linker's, in DuckDB's dialect) from every
    pair of the table ``sample``, as ``estimate_u_using_random_sampling`` with the whole sample
    and one chunk would: each pair once (the smaller composite key on the left), no term
    frequencies, a level no pair reached "not observed"."""
    counting = deepcopy(settings_obj)
    for comparison in counting.comparisons:
        for level in comparison.comparison_levels:
            level._tf_adjustment_column = None
    uid = counting.column_info_settings.unique_id_input_columns
    columns: list[str] = []
    for comparison in counting.comparisons:
        columns += [c for c in comparison._columns_to_select_for_blocking() if c not in columns]
    cases = [narrowed(c._case_statement) for c in counting.comparisons]
    gammas = [c._gamma_column_name for c in counting.comparisons]
    sql = f"""WITH s AS (SELECT *, {_composite_unique_id_from_nodes_sql(uid)} AS __u_key FROM {sample}),
p AS (SELECT {', '.join(columns)} FROM s AS l JOIN s AS r ON l.__u_key < r.__u_key)
SELECT {', '.join(f'histogram({g})' for g in gammas)} FROM (SELECT {', '.join(cases)} FROM p)"""
    histograms = con.execute(sql).fetchone()
    for comparison, counts in zip(settings_obj.comparisons, histograms):
        levels = comparison._comparison_levels_excluding_null
        counted = {int(cl.comparison_vector_value): float((counts or {}).get(cl.comparison_vector_value, 0))
                   for cl in levels}
        total = sum(counted.values())
        records = [{"output_column_name": comparison.output_column_name, "comparison_vector_value": cvv,
                    "m_probability": None,
                    "u_probability": n / total if n else LEVEL_NOT_OBSERVED_TEXT} for cvv, n in counted.items()]
        lookup = m_u_records_to_lookup_dict(records)
        for level in levels:
            append_u_probability_to_comparison_level_trained_probabilities(
                level, lookup, comparison.output_column_name, _DESCRIPTION)


_EQUAL = re.compile(r'l\.("?)(\w+)\1\s*=\s*r\.\1\2\1')


def rule_columns(rule: str) -> tuple[str, ...] | None:
    """The columns a blocking rule of equalities only (``l.a = r.a AND l.b = r.b``) holds equal;
    None for any other rule."""
    columns = []
    for term in re.split(r"\s+AND\s+", rule.strip(), flags=re.IGNORECASE):
        m = _EQUAL.fullmatch(term.strip())
        if m is None:
            return None
        columns.append(m.group(2))
    return tuple(dict.fromkeys(columns))


def matching_pairs(con: duckdb.DuckDBPyConnection, table: str, rules: list[str]) -> int | None:
    """How many pairs of ``table``'s records (each unordered pair once, as a link-and-dedupe model
    pairs them) at least one of ``rules`` holds for: Splink's cumulative count of its
    deterministic rules, without building a pair. The pairs every rule of a subset holds for
    share the values of all their columns (none NULL: a NULL equals nothing), so each subset's
    pairs are the sum of n(n-1)/2 over its groups, and the union is their sum with signs
    alternating by the subset's size. None when a rule is not equalities of one column each side."""
    sets = [rule_columns(rule) for rule in rules]
    if not sets or any(s is None for s in sets):
        return None
    parts = []
    for size in range(1, len(sets) + 1):
        for subset in combinations(sets, size):
            cols = list(dict.fromkeys(c for s in subset for c in s))
            quoted = ", ".join(f'"{c}"' for c in cols)
            parts.append(f"SELECT {(-1) ** (size + 1)} AS sign, coalesce(sum(n * (n - 1) // 2), 0) AS pairs FROM "
                         f"(SELECT count(*) AS n FROM {table} WHERE "
                         + " AND ".join(f'"{c}" IS NOT NULL' for c in cols) + f" GROUP BY {quoted})")
    return int(con.execute(f"SELECT sum(sign * pairs) FROM ({' UNION ALL '.join(parts)})").fetchone()[0])
