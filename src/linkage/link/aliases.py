"""Retired child identifiers and the ones now standing for them (a merge retires one).

Read by the run (which assigns identifiers) and by the review (a child named by an identifier
since retired): below both, so that neither imports the other to reach it.
"""

from __future__ import annotations

from linkage.store import Store
from linkage.store.schema import t

__all__ = ["resolve_aliases"]


def resolve_aliases(store: Store) -> dict[str, str]:
    """Every retired identifier -> the identifier that now stands for it."""
    alias = dict(store.rows(f"SELECT child_id, alias_of FROM {t('child_ids')} WHERE alias_of IS NOT NULL"))
    resolved = {}
    for cid in alias:
        seen, cur = set(), cid
        while cur in alias and cur not in seen:
            seen.add(cur)
            cur = alias[cur]
        resolved[cid] = cur
    return resolved
