"""Joined views over linked records, shared by the CLI and the API."""

from linkage.views.cme import cme_children, cme_sql

__all__ = ["cme_children", "cme_sql"]
