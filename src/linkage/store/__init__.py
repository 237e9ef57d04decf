"""The one seam to the database: only this package touches DuckDB directly."""

from linkage.store.db import Store, open_store, registered, table_exists
from linkage.store.keys import load_or_create_key

__all__ = ["Store", "open_store", "load_or_create_key", "registered", "table_exists"]
