"""The pseudonymous child identifier: minted per cluster, stable across runs."""

from linkage.identity.assign import Assignment, HistoryEvent, assign_ids
from linkage.identity.ids import check_char, is_valid_child_id, mint_child_id

__all__ = ["Assignment", "HistoryEvent", "assign_ids", "check_char", "is_valid_child_id", "mint_child_id"]
