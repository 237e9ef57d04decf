"""Joined views over linked records, shared by the CLI and the API.

``cme_children`` and ``cme_sql`` are imported on first use: ``cme`` pulls in the reference
registers and the connectors, which ``linkage status`` and the other views do not need.
"""

from linkage.lazyexports import lazy_exports

__all__ = ["cme_children", "cme_sql"]

__getattr__, __dir__ = lazy_exports(__name__, {"cme_children": "cme", "cme_sql": "cme"})
