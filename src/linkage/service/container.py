"""Everything a request needs, opened once at start-up and closed at shutdown."""

from __future__ import annotations

import dataclasses
import gc
import threading
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import duckdb

from linkage.access.clients import ClientRegistry
from linkage.access.orgs import OrgRegistry
from linkage.access.ratelimit import RateLimiter
from linkage.access.pseudonyms import Pseudonyms
from linkage.access.relationships import Relationships
from linkage.access.tokens import TokenService
from linkage.audit import ChainedLog, open_audit_log
from linkage.audit.breakglass import BreakGlassReviews
from linkage.audit.signer import signer_from_settings
from linkage.config import Settings
from linkage.outcomes.build import materialise_outcomes
from linkage.consent import ConsentRegister
from linkage.link.figures import LinkFigures, link_figures
from linkage.link.lookup import LookupIndex
from linkage.link.review import ReviewDecisions, ReviewView
from linkage.link.run import resolve_aliases
from linkage.policy import PolicyEngine
from linkage.reference import ReferenceData, reference_from_store, use_reference
from linkage.service.startchecks import check_keys, check_snapshot_order
from linkage.store import Store
from linkage.store.db import create_if_missing
from linkage.store.documents import DocumentMap
from linkage.store.snapshots import checked_snapshot, current_id, record_served, refuse_rollback
from linkage.store.sealed import Sealer
from linkage.store.state import ServiceState
from linkage.views.changes import departures, finished_run_id, materialise_changes
from linkage.views.cme import WorklistDays, previous_membership
from linkage.views.quarantine import materialise_quarantine
from linkage.views.tables import materialise, serve_documents

__all__ = ["Published", "Services", "check_keys", "check_snapshot_order", "load_published"]


class InUse:
    """How many requests hold one served data set, so a retired snapshot is closed only after
    the last request that started on it has finished (not after a fixed time: a slow request
    would fail on closed data)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.count = 0
        self.released = False

    def enter(self) -> bool:
        with self._lock:
            if self.released:
                return False
            self.count += 1
            return True

    def leave(self) -> None:
        with self._lock:
            self.count -= 1

    def release(self, close) -> bool:
        with self._lock:
            if self.count > 0:
                return False
            if not self.released:
                self.released = True
                close()
            return True


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
    audit: ChainedLog
    lookup: LookupIndex | None
    aliases: dict[str, str]
    documents: DocumentMap        # each linked child's document, read without a query (a missing child costs none)
    break_glass: BreakGlassReviews
    token_limits: tuple[RateLimiter, RateLimiter]     # POST /oauth/token: per client id, per address
    relationships: Relationships     # who has a reason to open which child's full record
    lookup_limiter: RateLimiter      # per client: lookups cannot be mined
    review: ReviewView            # the open review queue and its records, as the last run left them
    decisions: ReviewDecisions    # the review decisions log (service state), read live
    cme_days: WorklistDays        # the CME worklist's groundwork, per day
    reference: ReferenceData = field(default_factory=ReferenceData)   # schools and GP practices by code
    # The CME list the run before the latest drew (child -> (reason, absent sessions)); None: no such run.
    cme_previous: dict[str, tuple[str, int | None]] | None = None
    figures: LinkFigures = field(default_factory=LinkFigures)   # the last run's quality figures, at start-up
    run_id: int = 0               # the link run the served data comes from (0: none yet)
    snapshot: str | None = None   # the published snapshot served; None: the live database
    # child -> (identifier, time) for each split or move that brought it records from that identifier
    departures: dict[str, tuple[tuple[str, datetime], ...]] = field(default_factory=dict)
    _local: threading.local = field(default_factory=threading.local, repr=False)
    _use: InUse = field(default_factory=InUse, repr=False)   # requests holding this data now

    @classmethod
    def open(cls, home: Path, settings: Settings, policy_dir: Path | None = None) -> Services:
        state = ServiceState(home)
        try:
            sid = current_id(home)
            refuse_rollback(state, sid)          # never a snapshot older than one already served
            data = load_published(home, settings, sid)
            record_served(state, sid)
        except BaseException:
            state.close()
            raise
        use_reference(data.reference)
        policy = PolicyEngine(policy_dir)
        clients, sealer = ClientRegistry(state, OrgRegistry(state, policy.roles),
                                         lockout_after=settings.lockout_after_failures,
                                         lockout_seconds=settings.lockout_seconds), Sealer(home, state=state)
        token_limits = (RateLimiter(settings.token_client_per_minute, settings.token_client_burst, "token requests"),
                        RateLimiter(settings.token_address_per_minute, settings.token_address_burst,
                                    "token requests"))
        audit = open_audit_log(home, settings.audit_checkpoint_every, signer_from_settings(home, settings),
                               settings.audit_checkpoint_seconds)
        try:
            audit.refuse_another_key()
            audit.refuse_damaged()
        except BaseException:
            audit.close()
            raise
        return cls(home=home, settings=settings, state=state, clients=clients, tokens=TokenService(home, settings),
                   policy=policy, consents=ConsentRegister(state, policy, sealer, clients.orgs.identify),
                   pseudonyms=Pseudonyms(home, state), audit=audit,
                   break_glass=BreakGlassReviews(state, sealer), token_limits=token_limits,
                   relationships=Relationships(state, settings.relationship_days),
                   lookup_limiter=RateLimiter(settings.lookup_per_minute, settings.lookup_burst, "lookups"),
                   decisions=ReviewDecisions(state, sealer), **data.fields())

    def with_published(self, data: Published) -> Services:
        """The same state, audit log, keys and rate limits, serving ``data``: requests that
        hold this object finish on the old data while new ones get the new."""
        use_reference(data.reference)
        return dataclasses.replace(self, **data.fields(), _local=threading.local(), _use=InUse())

    def enter(self) -> bool:
        """A request starts on this data: it stays open until ``leave``; False once released."""
        return self._use.enter()

    def leave(self) -> None:
        self._use.leave()

    def release_when_idle(self) -> bool:
        """Close this (retired) data if no request holds it; True when closed (or already)."""
        return self._use.release(self.store.close)

    def cursor(self):
        """A DuckDB connection for this thread: reads run in parallel without a lock."""
        cur = getattr(self._local, "cur", None)
        if cur is None:
            cur = self.store.connection.cursor()
            self._local.cur = cur
        return cur

    def former_ids(self, child_id: str) -> tuple[str, ...]:
        """The identifiers merged into this child, so what was granted to them follows the merge."""
        merged = self.__dict__.get("_merged_from")
        if merged is None:
            merged = {}
            for old, new in self.aliases.items():
                merged.setdefault(new, []).append(old)
            self.__dict__["_merged_from"] = merged
        return tuple(merged.get(child_id, ()))

    def split_from(self, child_id: str) -> dict[str, datetime]:
        """Identifiers some of this child's records were under before a split or a move, each with
        the time they left it (following merges both ways): a refusal recorded under one before
        then may have been this child's."""
        if not self.departures:
            return {}
        found: dict[str, datetime] = {}
        todo: list[tuple[str, datetime | None]] = [(child_id, None)]
        while todo:
            cid, bound = todo.pop()
            for one in (cid, *self.former_ids(cid)):
                if bound is not None and (one not in found or found[one] < bound):
                    found[one] = bound
                for old, at in self.departures.get(one, ()):
                    b = at if bound is None else min(bound, at)
                    if old not in found or found[old] < b:
                        found[old] = b
                        todo.append((old, b))
        for one in (child_id, *self.former_ids(child_id)):
            found.pop(one, None)
        return found

    def split_children(self, ids: set[str]) -> set[str]:
        """The children a refusal recorded under one of ``ids`` may speak for through a split."""
        if not self.departures or not ids:
            return set()
        return {c for c in {self.aliases.get(k, k) for k in self.departures} if ids & self.split_from(c).keys()}

    def child_exists(self, child_id: str) -> bool:
        return child_id in self.documents

    def resolve(self, org_id: str, pseudonym: str) -> str | None:
        child = self.pseudonyms.resolve(org_id, pseudonym)
        return self.aliases.get(child, child) if child else None

    def close(self) -> None:
        self.audit.close()
        self.store.close()


@dataclass
class Published:
    """What one published snapshot (or, before any, the live database) gives the servers."""

    store: Store
    lookup: LookupIndex | None
    aliases: dict[str, str]
    documents: DocumentMap
    review: ReviewView
    reference: ReferenceData
    run_id: int
    snapshot: str | None
    cme_previous: dict[str, tuple[str, int | None]] | None
    figures: LinkFigures
    cme_days: WorklistDays
    departures: dict[str, tuple[tuple[str, datetime], ...]]

    def fields(self) -> dict:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}


def load_published(home: Path, settings: Settings, sid: str | None = None) -> Published:
    """Load snapshot ``sid`` (default: the one ``current`` names) into memory, checked first;
    with nothing ever published, the live database. Raises SnapshotError for a snapshot
    that fails its checks."""
    home = Path(home)
    key = settings.db_key.get_secret_value() if settings.db_key else None
    sid = sid or current_id(home)
    snapshot = checked_snapshot(home, sid, key)
    if snapshot is None:
        create_if_missing(home, key, settings.memory_limit)   # first run: one server makes it, the others wait
    # Read-only: the server never writes the linked data, and several worker processes (or
    # servers) may share the file. Before anything is published: the live database.
    store = Store(home, key=key, memory_limit=settings.memory_limit, threads=settings.threads, read_only=True,
                  file=snapshot)
    try:
        return _materialise(store, sid, settings)
    except BaseException:
        store.close()
        raise


def _materialise(store: Store, sid: str | None, settings: Settings) -> Published:
    try:
        review = ReviewView.load(store)
    except duckdb.Error:      # a store last written before the queue kept ids: nothing to review yet
        review = ReviewView.empty()
    try:
        lookup = LookupIndex(store)
    except LookupError:
        lookup = None
    # Now (a second or two), not on the first data manager's visit; the waterfall reads the lookup's
    # Linker's settings (the same model): a second Linker cost 0.1 CPU s of each start.
    review.warm(lookup.linker_for(review.model_json) if lookup else None)
    materialise(store.connection)
    documents = serve_documents(store.connection)
    # The data manager's quarantine and the identity changes organisations follow,
    # as they stood when the snapshot was published (the answers say so: ``as_of``, ``up_to_run``).
    materialise_quarantine(store.connection)
    materialise_changes(store.connection)
    parted = departures(store.connection, memory=True)
    # Schools and GP practices by code, for the views' names and AP settings (also as
    # memory.ref_* for SQL); empty until `linkage reference load` has run.
    reference = reference_from_store(store.connection, to_memory=True)
    # AP placements and their outcome measures as at today, for GET /v1/outcomes.
    materialise_outcomes(store.connection)
    aliases = resolve_aliases(store)
    run_id = finished_run_id(store.connection)
    cme_previous = previous_membership(store.connection, aliases)
    figures = link_figures(store, settings.review_lower)
    cme_days = WorklistDays(store.connection)
    cme_days.day(date.today())       # today's, ready before the first CME officer asks
    # Everything a request reads is in memory now: letting go of the file lets next
    # month's `linkage ingest` and `linkage link` run while this keeps serving.
    store.detach()
    gc.collect()
    gc.freeze()     # the loaded heap (millions of lookup rows) is never walked again
    return Published(store, lookup, aliases, documents, review, reference, run_id, sid, cme_previous, figures,
                     cme_days, parted)
