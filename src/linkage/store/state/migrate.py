"""Moving one server's embedded state into a shared database, once, before it serves.

Every row of every service table is copied, in one transaction, into a target whose
tables are empty; review decisions keep their numbers. Tables set aside by earlier
upgrades (``*_v0``, ``consents_unverified``) stay in the old file.
"""

from __future__ import annotations

from linkage.errors import LinkageError
from linkage.store.state.base import ServiceState

__all__ = ["TABLES", "copy_state"]

# In foreign-key order.
TABLES = ("organisations", "users", "user_subjects", "email_match_closed", "clients", "consents", "consent_holds", "consent_hold_lifts", "break_glass", "pseudonyms", "review_decisions", "relationships")


def copy_state(source: ServiceState, target: ServiceState, tables: tuple[str, ...] = TABLES) -> dict[str, int]:
    """Rows copied per table; refuses a target that already holds any."""
    counts: dict[str, int] = {}
    with target.transaction():
        for table in tables:
            cols = sorted(source.columns(table))
            if not cols:
                continue
            missing = set(cols) - target.columns(table)
            if missing:
                raise LinkageError(f"the target's {table} table has no column {', '.join(sorted(missing))}")
            if target.scalar(f"SELECT count(*) FROM {table}"):
                raise LinkageError(f"the target already holds {table}: migrate into an empty database")
            rows = [tuple(r) for r in source.execute(f"SELECT {', '.join(cols)} FROM {table}")]
            target.executemany(target.dialect.copy_insert(table, cols), rows)
            for statement, params in target.dialect.after_copy(table, cols):
                target.execute(statement, params)
            counts[table] = len(rows)
    return counts
