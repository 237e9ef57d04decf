"""Wall time and peak resident memory of each stage of a linkage run, for the benchmarks.

``profile()`` wraps the functions a run goes through (input features, Splink's scoring,
the twin guard, clustering, the second pass, the saves) so that each call adds its wall
time to its stage. The highest resident set seen while a stage ran (nested stages count for
their parents too) is the kernel's high-water mark (``VmHWM``), read and cleared at each
stage's start and end: no thread of ours runs beside the code measured, as none runs beside a
user's (a sampler thread reading ``/proc/self/status`` every 20 ms did, taking the GIL 50 times a
second; at 1M its cost was within the noise: docs/benchmarks.md "Session 32: pipe"), and a peak
shorter than 20 ms is seen. Where the mark cannot be cleared, and for a process tree (Spark's
JVM and workers, which no mark of ours counts), the sampler is used.
Nothing in ``linkage`` knows it is being measured.
"""

from __future__ import annotations

import functools
import importlib
import os
import resource
import sys
import threading
import time
from contextlib import contextmanager

__all__ = ["Profile", "peak_mib", "profile"]

# (module, attribute path, stage): the call sites a run goes through, in order.
_TARGETS = (
    ("linkage.link.engine", "LinkEngine._build_input", "features: Splink input, co-twins, hashes"),
    ("linkage.link.inputcache", "build", "features: input cache read / derive"),
    ("linkage.link.engine", "LinkEngine._name_keys", "features: name keys"),
    ("linkage.connectors.ingest", "_read", "ingest: read and validate"),
    ("linkage.link.engine", "LinkEngine.settle", "features: input cache write, waited for"),
    ("linkage.link.engine", "LinkEngine.train", "training"),
    ("linkage.link.engine", "LinkEngine._estimate_u", "training: u estimation"),
    ("linkage.link.engine", "LinkEngine._em", "training: EM sessions"),
    ("linkage.link.engine", "LinkEngine._tf", "scoring: term frequencies"),
    ("linkage.link.engine", "LinkEngine.predict_full", "scoring: predict (full)"),
    ("linkage.link.engine", "LinkEngine.predict_incremental", "scoring: predict (delta)"),
    ("linkage.link.engine", "LinkEngine._blocked_pairs", "scoring: blocked pairs"),
    ("linkage.link.engine", "LinkEngine._edges", "scoring: twin guard + edges to Python"),
    ("linkage.link.run", "reach", "delta: reach"),
    ("linkage.link.run", "scoped_edges", "delta: scoped edges"),
    ("linkage.link.firstpass", "scoped_edges", "delta: scoped edges"),
    ("linkage.link.engine", "LinkEngine.identifiers", "clustering: identifiers"),
    ("linkage.link.engine", "LinkEngine.second_upn_pairs", "clustering: second UPN pairs"),
    ("linkage.link.firstpass", "constrained_clusters", "clustering: constrained"),
    ("linkage.link.firstpass", "refuse_ambiguous", "clustering: refuse ambiguous (rounds)"),
    ("linkage.link.firstpass", "ambiguous_records", "clustering: ambiguity"),
    ("linkage.link.engine", "LinkEngine.second_children", "clustering and vet: sibling fits as well"),
    ("linkage.link.engine", "LinkEngine.record_facts", "clustering: bridge facts"),
    ("linkage.link.firstpass", "bridges", "clustering: bridges"),
    ("linkage.link.firstpass", "guarded_slips", "clustering: guarded slips"),
    ("linkage.link.engine", "LinkEngine.cluster_pass", "second pass (evidence.py)"),
    ("linkage.link.engine", "LinkEngine._clusters_table", "second pass: clusters table"),
    ("linkage.link.engine", "LinkEngine._candidates", "second pass: candidates (candidates_sql)"),
    ("linkage.link.engine", "LinkEngine._reached_rows", "second pass: reached rows (a month's)"),
    ("linkage.link.engine_pass", "decide", "second pass: decide"),
    ("linkage.link.engine_pass", "partner_cohorts", "second pass: partner cohorts"),
    ("linkage.link.engine_pass", "link_unique", "second pass: unique"),
    ("linkage.link.engine_pass", "family_pairs", "second pass: family pairs"),
    ("linkage.link.engine_pass", "shared_identifiers", "second pass: shared identifiers"),
    ("linkage.link.engine_pass", "household_pairs", "second pass: household pairs"),
    ("linkage.link.engine_pass", "decoy_pairs", "second pass: decoys"),
    ("linkage.link.run", "vet_joins", "second pass: vet joins"),
    ("linkage.link.engine_pass", "reach_pairs", "second pass: reach (middle name, home, swap keys)"),
    ("linkage.link.engine_pass", "changed_pairs", "second pass: a former surname on record"),
    ("linkage.link.engine_pass", "movedin_pairs", "second pass: a recent move to a new home"),
    ("linkage.link.engine_pass", "reissued_pairs", "second pass: second UPN (re-issued, held elsewhere)"),
    ("linkage.link.engine_pass", "romanised_pairs", "second pass: a name romanised two ways"),
    ("linkage.link.engine_pass", "slipped_pairs", "second pass: surname and birthday each a slip apart"),
    ("linkage.link.engine_pass", "transposed_pairs", "second pass: a birthday's day and month transposed"),
    ("linkage.link.engine_pass", "retyped_pairs", "second pass: forename, surname and birthday each a slip apart"),
    ("linkage.link.engine_pass", "scripthome_pairs", "second pass: a name from another script typed, at one home"),
    ("linkage.link.engine_pass", "middleday_pairs", "second pass: one middle name, born a day apart"),
    ("linkage.link.engine_pass", "heldtwice_pairs", "second pass: one identifier on two records of one source"),
    ("linkage.link.run", "resolve_aliases", "identity: previous ids"),
    ("linkage.link.run", "assign_ids", "identity: assign"),
    ("linkage.link.run", "context", "delta: kept context"),
    ("linkage.link.engine", "LinkEngine.unrelated_names", "review queue: unrelated names"),
    ("linkage.link.run", "complementary_guarded", "review queue: complementary guarded"),
    ("linkage.link.engine", "LinkEngine.one_child", "review queue: one child"),
    ("linkage.link.run", "undecided", "review queue: undecided"),
    ("linkage.link.run", "build_queue", "review queue: build"),
    ("linkage.link.engine", "LinkEngine.term_frequencies", "saving: term frequencies"),
    ("linkage.link.run", "stage_records", "saving: stage hashes"),
    ("linkage.link.run", "stage_identity", "saving: stage identity"),
    ("linkage.store.db", "Store.transaction", "transaction"),
    ("linkage.store.db", "Store.insert_df", "saving: insert frames"),
    ("linkage.link.run", "save_records", "saving: hashes"),
    ("linkage.link.run", "save_identity", "saving: identity"),
)


# Transactions are timed by the module that opened them: ingest's and the input cache's are
# not the run's save.
_TRANSACTIONS = {"linkage.link.run": "saving: transaction", "linkage.link.inputcache": "features: input cache transaction",
                 "linkage.connectors.ingest": "ingest: transaction"}


def _rss_kib() -> int:
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


_PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024
_CLEARED_KIB = [0]      # the highest mark read before a clear: clearing resets ru_maxrss too


def _high_water_kib() -> int:
    """This process's peak resident set since the mark was last cleared (``VmHWM``), then cleared
    (``clear_refs`` 5, Linux 4.0 and later)."""
    with open("/proc/self/status", encoding="ascii") as fh:
        kib = next((int(line.split()[1]) for line in fh if line.startswith("VmHWM:")), 0)
    with open("/proc/self/clear_refs", "w", encoding="ascii") as fh:
        fh.write("5")
    _CLEARED_KIB[0] = max(_CLEARED_KIB[0], kib)
    return kib


def _can_clear() -> bool:
    try:
        _high_water_kib()
    except OSError:
        return False
    return True


def peak_mib() -> float:
    """This process's peak resident memory so far: ``ru_maxrss``, or the highest mark a profile
    read before clearing it (which resets ``ru_maxrss``), whichever is higher."""
    return max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, _CLEARED_KIB[0]) / 1024


def tree_rss_kib() -> int:
    """Resident memory of this process and all its descendants: Spark's JVM and its Python
    workers are children of the driver, and ``ru_maxrss`` counts none of them."""
    parent: dict[int, int] = {}
    rss: dict[int, int] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", encoding="ascii", errors="replace") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid = int(entry.name)
        parent[pid], rss[pid] = int(fields[1]), int(fields[21]) * _PAGE_KIB
    me, total = os.getpid(), 0
    for pid, kib in rss.items():
        p = pid
        while p > 1 and p != me:
            p = parent.get(p, 0)
        if p == me:
            total += kib
    return total


class Profile:
    def __init__(self, rss=_rss_kib, every: float = 0.02, watermark: bool = False) -> None:
        """``watermark``: peaks from the kernel's high-water mark, no sampler thread; else ``rss``
        sampled every ``every`` seconds."""
        self._rss, self._every, self._watermark = rss, every, watermark
        self.seconds: dict[str, float] = {}
        self.cpu: dict[str, float] = {}
        self.peak_kib: dict[str, int] = {}
        self.calls: dict[str, int] = {}
        self._active: list[str] = []
        self._wrapped: set[tuple[str, str]] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        if watermark:
            _high_water_kib()       # a stage's peak is its own, not the imports' before it
        else:
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()

    def _fold(self) -> None:
        """The mark since the last fold, to every stage active all that time (under ``_lock``)."""
        if self._watermark:
            kib = _high_water_kib()
            for name in self._active:
                if kib > self.peak_kib.get(name, 0):
                    self.peak_kib[name] = kib

    def _sample(self) -> None:
        while not self._stop.wait(self._every):
            rss = self._rss()
            with self._lock:
                for name in self._active:
                    if rss > self.peak_kib.get(name, 0):
                        self.peak_kib[name] = rss

    def _enter(self, name: str) -> tuple[float, float]:
        with self._lock:
            self._fold()
            self._active.append(name)
            self.seconds.setdefault(name, 0.0)
            self.calls.setdefault(name, 0)
        return time.perf_counter(), time.process_time()

    def _leave(self, name: str, t0: tuple[float, float]) -> None:
        rss = 0 if self._watermark else self._rss()
        with self._lock:
            self._fold()
            self._active.remove(name)
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - t0[0]
            # The whole process's CPU (every thread: DuckDB's workers, a write beside) while in it.
            self.cpu[name] = self.cpu.get(name, 0.0) + time.process_time() - t0[1]
            self.calls[name] = self.calls.get(name, 0) + 1
            self.peak_kib[name] = max(self.peak_kib.get(name, 0), rss)

    @contextmanager
    def stage(self, name: str):
        t0 = self._enter(name)
        try:
            yield
        finally:
            self._leave(name, t0)

    def wrap(self, fn, name: str, cm: bool = False):
        prof = self
        if cm:   # a transaction: the time inside the with-block and its commit, named by who opened it
            @contextmanager
            def managed(where: str, *a, **kw):
                whole = _TRANSACTIONS.get(where, f"transaction ({where})")
                body, commit = f"{whole}: body", f"{whole}: commit"
                with prof.stage(whole):
                    try:
                        with fn(*a, **kw) as value:
                            t0 = prof._enter(body)
                            try:
                                yield value
                            finally:
                                prof._leave(body, t0)
                                t1 = prof._enter(commit)     # fn's exit commits (or rolls back)
                    finally:
                        if commit in prof._active:
                            prof._leave(commit, t1)

            @functools.wraps(fn)
            def opened(*a, **kw):
                return managed(sys._getframe(1).f_globals.get("__name__", "?"), *a, **kw)
            return opened

        @functools.wraps(fn)
        def timed(*a, **kw):
            with prof.stage(name):
                return fn(*a, **kw)
        return timed

    def report(self) -> dict:
        self._stop.set()
        with self._lock:
            self._fold()
        return {k: {"s": round(self.seconds[k], 1), "cpu_s": round(self.cpu.get(k, 0.0), 1), "peak_mib": round(self.peak_kib.get(k, 0) / 1024),
                    "calls": self.calls[k]} for k in self.seconds}


    def instrument(self, modules: tuple[str, ...] = ("linkage",)) -> None:
        """Wrap every stage of ``_TARGETS`` in a module under ``modules`` that exists in this tree
        (importing it) and is not wrapped yet."""
        for module, path, name in _TARGETS:
            if not module.startswith(modules) or (module, path) in self._wrapped:
                continue
            try:
                mod = importlib.import_module(module)
            except ImportError:
                continue
            owner, attr = mod, path
            if "." in path:
                cls, attr = path.split(".")
                owner = getattr(mod, cls, None)
            fn = getattr(owner, attr, None) if owner is not None else None
            if fn is None:
                continue
            setattr(owner, attr, self.wrap(fn, name, cm=attr == "transaction"))
            self._wrapped.add((module, path))


# What `linkage ingest` imports: its stages, wrapped without the link's modules (Splink and the
# rest), which a user's ingest, a process of its own, never loads.
INGEST = ("linkage.connectors", "linkage.store")


def profile(tree: bool = False, modules: tuple[str, ...] = ("linkage",)) -> Profile:
    """Instrument every stage in ``_TARGETS`` under ``modules`` (``Profile.instrument``; the rest
    can be instrumented later); returns the collector. ``tree`` counts the memory of child
    processes too (Spark), sampled less often."""
    prof = Profile(tree_rss_kib, 0.25) if tree else Profile(watermark=True) if _can_clear() else Profile()
    prof.instrument(modules)
    return prof


def print_profile(title: str, stages: dict) -> None:
    print(f"\n{title}: stage, wall s, CPU s (user+sys, the whole process), peak RSS MiB while in it, calls")
    for name, v in stages.items():
        print(f"  {name:44}{v['s']:>8.1f}{v.get('cpu_s', float('nan')):>8.1f}{v['peak_mib']:>9}{v['calls']:>6}")
