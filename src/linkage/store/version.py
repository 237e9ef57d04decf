"""Schema stamps: which schema (and which linkage) last wrote a database.

Newer code upgrades an older database in one transaction and stamps it; older code meets a
newer stamp and refuses in one line, changing nothing, rather than misreading tables it
does not know. A database from before the stamps counts as version 0.
"""

from __future__ import annotations

from linkage import __version__
from linkage.errors import StoreError

__all__ = ["STATE_VERSION", "STORE_VERSION", "check_not_newer", "__version__"]

# Bump with every change to store.schema's DDL (tests/test_schema_version.py pins each to its DDL).
STORE_VERSION = 1
# Bump with every change to store.state.schema (its SCHEMA or its upgrades).
STATE_VERSION = 3       # 2: users and clients name their identity provider's subject; 3: revoked_at


def check_not_newer(what: str, found: tuple[int, str] | None, known: int) -> None:
    """Refuse a stamp (version, written by) newer than ``known``, the schema this code writes."""
    if found is not None and int(found[0]) > known:
        raise StoreError(f"{what} was written by linkage {found[1]} (schema {int(found[0])}); this is linkage "
                         f"{__version__} (schema {known}): upgrade linkage to use it (nothing was changed)")
