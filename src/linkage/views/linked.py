"""What a link run left in the store, as the command line reads it: each record's child, the open
review queue, the records as exported, and a child identifier's history."""

from __future__ import annotations

from linkage.store import Store
from linkage.store.schema import CURRENT_RECORDS_SQL, t

__all__ = ["child_history", "exported_ids", "issued", "linked_children", "open_queue_pairs"]


def linked_children(store: Store) -> dict[str, str]:
    """Record key -> the child it was linked to by the last run."""
    return dict(store.rows(f"SELECT record_key, child_id FROM {t('identity')}"))


def open_queue_pairs(store: Store) -> list[tuple[str, str]]:
    """The record keys of each pair open in the review queue."""
    return store.rows(f"SELECT record_key_l, record_key_r FROM {t('review_queue')} WHERE status = 'open'")


def exported_ids(store: Store) -> list[tuple]:
    """(source, source record id, child id or None) of every current record, and of every record of a
    superseded extract that a run linked (a leaver keeps its child). A superseded record no run linked
    (a file read under a wrong mapping, then again under the right one) never will be: it is left out,
    so that "not yet linked" counts only what the next `linkage link` links."""
    return store.rows(f"SELECT DISTINCT r.source, r.source_record_id, i.child_id FROM {t('records')} r "
                      f"LEFT JOIN {t('identity')} i USING (record_key) WHERE i.child_id IS NOT NULL "
                      f"OR r.record_key IN (SELECT record_key FROM ({CURRENT_RECORDS_SQL})) ORDER BY 1, 2")


def issued(store: Store, child_id: str) -> bool:
    """Whether ``child_id`` was ever issued here."""
    return bool(store.rows(f"SELECT status FROM {t('child_ids')} WHERE child_id = ?", [child_id]))


def child_history(store: Store, child_id: str, current: str) -> list[tuple]:
    """(run, change, child, other child, record, reason) of every identity change naming ``child_id``
    or the identifier now standing for it."""
    return store.rows(f"SELECT run_id, change, child_id, other_child_id, record_key, reason "
                      f"FROM {t('identity_history')} WHERE child_id IN (?, ?) OR other_child_id IN (?, ?) "
                      "ORDER BY run_id, change", [child_id, current, child_id, current])
