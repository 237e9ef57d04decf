"""Everything a request needs, opened once at start-up and closed at shutdown."""

from __future__ import annotations

import gc
import threading
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from linkage.access.clients import ClientRegistry
from linkage.access.pseudonyms import Pseudonyms
from linkage.access.tokens import TokenService
from linkage.audit import AuditLog
from linkage.audit.breakglass import BreakGlassReviews
from linkage.config import Settings
from linkage.consent import ConsentRegister
from linkage.link.lookup import LookupIndex
from linkage.link.review import ReviewDecisions, ReviewView
from linkage.link.run import resolve_aliases
from linkage.policy import PolicyEngine
from linkage.store import Store
from linkage.store.sealed import Sealer
from linkage.store.state import ServiceState
from linkage.views.tables import materialise

__all__ = ["Services"]


@dataclass
class Services:
    home: Path
    settings: Settings
    store: Store
    state: ServiceState
    clients: ClientRegistry
    tokens: TokenService
    policy: PolicyEngine
    consents: ConsentRegister
    pseudonyms: Pseudonyms
    audit: AuditLog
    lookup: LookupIndex | None
    aliases: dict[str, str]
    children: frozenset[str]      # every linked child, so a missing one costs no query
    break_glass: BreakGlassReviews
    review: ReviewView            # the open review queue and its records, as the last run left them
    decisions: ReviewDecisions    # the review decisions log (service state), read live
    _local: threading.local = field(default_factory=threading.local, repr=False)

    @classmethod
    def open(cls, home: Path, settings: Settings, policy_dir: Path | None = None) -> Services:
        key = settings.db_key.get_secret_value() if settings.db_key else None
        if not (Path(home) / "linkage.duckdb").exists():
            Store(home, key=key, memory_limit=settings.memory_limit).close()   # first run: create it
        # Read-only: the server never writes the linked data, and several worker
        # processes may share the file.
        store = Store(home, key=key, memory_limit=settings.memory_limit, threads=settings.threads,
                      read_only=True)
        state = ServiceState(home)
        policy = PolicyEngine(policy_dir)
        try:
            review = ReviewView.load(store)
        except duckdb.Error:      # a store last written before the queue kept ids: nothing to review yet
            review = ReviewView.empty()
        try:
            lookup = LookupIndex(store)
        except LookupError:
            lookup = None
        materialise(store.connection)
        children = frozenset(r[0] for r in store.rows("SELECT child_id FROM memory.serve_child"))
        aliases = resolve_aliases(store)
        # Everything a request reads is in memory now: letting go of the file lets next
        # month's `linkage ingest` and `linkage link` run while this keeps serving.
        store.detach()
        gc.collect()
        gc.freeze()     # the start-up heap (millions of lookup rows) is never walked again
        return cls(home, settings, store, state, ClientRegistry(state), TokenService(home, settings), policy,
                   ConsentRegister(state, policy.categories), Pseudonyms(home, state),
                   AuditLog(home, settings.audit_checkpoint_every), lookup, aliases, children,
                   BreakGlassReviews(state, Sealer(home)), review, ReviewDecisions(state, Sealer(home)))

    def cursor(self):
        """A DuckDB connection for this thread: reads run in parallel without a lock."""
        cur = getattr(self._local, "cur", None)
        if cur is None:
            cur = self.store.connection.cursor()
            self._local.cur = cur
        return cur

    def child_exists(self, child_id: str) -> bool:
        return child_id in self.children

    def resolve(self, agency: str, pseudonym: str) -> str | None:
        child = self.pseudonyms.resolve(agency, pseudonym)
        return self.aliases.get(child, child) if child else None

    def close(self) -> None:
        self.audit.close()
        self.store.close()
