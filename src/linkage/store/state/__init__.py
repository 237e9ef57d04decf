"""Service state (organisations, clients, consents, pseudonyms, relationships, reviews).

``ServiceState(home)`` opens SQLite in the data directory, or PostgreSQL when
``LINKAGE_STATE_URL`` names one, so several servers on several machines share it.
"""

from linkage.store.state.base import Dialect, Result, Row, ServiceState, is_postgres_url

__all__ = ["Dialect", "Result", "Row", "ServiceState", "is_postgres_url"]
