"""One linkage run: train if needed, predict, cluster, keep identifiers stable.

The heavy work happens in memory; the results are written to the store in
one transaction, so a run killed half-way leaves the previous state intact.
"""

from __future__ import annotations

import gc
import hashlib
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from linkage.config import get_settings
from linkage.connectors.ingest import LINK_RECORDS_SQL
from linkage.errors import LinkageError
from linkage.identity import HistoryEvent, assign_ids
from linkage.link.aliases import resolve_aliases
from linkage.link.backends import LinkBackend
from linkage.link.engine import LinkEngine
from linkage.link.firstpass import among, first_pass
from linkage.link.complement import COMPLEMENT_REASON, complementary_guarded
from linkage.link.crossed import crossed
from linkage.link.delta import (EDGES, FLIPPED, REACH, children, context, earlier_pass, reach, reguard,
                                save_children, save_guards, save_identity, save_pass_pairs, save_records,
                                scoped_edges, stage_children, stage_identity, stage_records, widen)
from linkage.link.guards import GUARD_REASON
from linkage.link.hashkeep import save_state
from linkage.link.outclassed import OUTCLASSED_REASON, asked_outclassed
from linkage.link.swaps import REASON as SWAP_HELD_REASON
from linkage.link.review import ReviewDecisions, build_queue, constraints, undecided
from linkage.link.vet import vet_joins
from linkage.link.wording import guard_reasons
from linkage.store import Store, registered
from linkage.store.schema import t
from linkage.store.sealed import Sealer
from linkage.store.state import ServiceState

__all__ = ["MIN_LABELS", "MIN_TRAINING_RECORDS", "STAGES", "RunResult", "import_model", "open_decisions",
           "run_link", "resolve_aliases"]

REFUSED_REASON = "not linked: would put two different NHS numbers, UPNs or twins in one child"
AMBIGUOUS_REASON = "not linked: matches two different children nearly equally well"
# A run's stages, in order; ``step(stage, detail)`` is called once as each begins.
STAGES = ("preparing records", "training", "scoring", "clustering", "review queue", "saving")
# Fewer reviewer-confirmed matches than this are too few to estimate m probabilities from.
MIN_LABELS = 50

# Below this, unsupervised estimates (random-pair u values above all) are noise.
MIN_TRAINING_RECORDS = 500


@dataclass
class RunResult:
    run_id: int
    mode: str
    records: int
    children: int
    new_ids: int
    merges: int
    splits: int
    review_pairs: int
    scored_records: int
    trained: bool
    decisions_honoured: int = 0
    labels_used: int = 0


def _stack(*frames: pd.DataFrame) -> pd.DataFrame:
    """``frames`` one under another. A column with no value in one frame (a queued pair never
    scored) takes the type the others give it, rather than pandas guessing (a FutureWarning)."""
    kept = [f for f in frames if not f.empty]
    if not kept:
        return frames[0].iloc[0:0]
    types = {c: f[c].dtype for f in kept for c in f.columns if not f[c].isna().all()}
    return pd.concat([f.astype({c: types[c] for c in f.columns if c in types and f[c].isna().all()})
                      for f in kept], ignore_index=True)


# A month's seeds also hold the partners, at the last run's second pass, of records gone or changed.
_STALE_PASSES = """
UNION ALL SELECT record_key_l FROM {pp} WHERE record_key_r IN (SELECT k FROM memory.link_stale)
UNION ALL SELECT record_key_r FROM {pp} WHERE record_key_l IN (SELECT k FROM memory.link_stale)"""


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def _load_model(store: Store) -> tuple[str | None, str | None]:
    row = store.rows(f"SELECT settings_json, model_sha256 FROM {t('model')} ORDER BY created_at DESC LIMIT 1")
    return (row[0][0], row[0][1]) if row else (None, None)


def open_decisions(home: Path) -> ReviewDecisions:
    """The clerical review decisions log of the data directory ``home``."""
    state = ServiceState(home)
    return ReviewDecisions(state, Sealer(home, state=state))


def run_link(store: Store, threshold: float = 0.5, lower: float = 0.2, full: bool = False,
             retrain: bool = False, step: Callable[[str, str], None] = lambda stage, detail: None,
             decisions: ReviewDecisions | None = None, backend: LinkBackend | None = None,
             memory_limit: str | None = None) -> RunResult:
    """``decisions``: the clerical review log to honour (default: the one in ``store.home``);
    ``backend``: where Splink runs (default DuckDB; the caller opens and closes it);
    ``memory_limit``: DuckDB's limit during the run (default ``link_memory_limit``)."""
    settings = get_settings()
    with store.memory_limited(memory_limit or settings.link_memory_limit), _fewer_collections():
        return _run(store, threshold, lower, full, retrain, step, decisions, backend, settings.link_month_search)


@contextmanager
def _fewer_collections():
    """A run builds millions of objects that live to its end (pairs, clusters, identifiers,
    history); Python's cycle collector, by default run every 700 new objects and through every
    older one every hundred runs, traverses them again and again: about a third of assigning a
    million identifiers' CPU. Reference counting still frees everything at once; only cycles wait
    longer, and the thresholds are put back after the run."""
    before = gc.get_threshold()
    gc.set_threshold(max(before[0], 50_000), max(before[1], 20), max(before[2], 20))
    try:
        yield
    finally:
        gc.set_threshold(*before)


def _run(store: Store, threshold: float, lower: float, full: bool, retrain: bool,
         step: Callable[[str, str], None], decisions: ReviewDecisions | None,
         backend: LinkBackend | None, search: bool = False) -> RunResult:
    if not lower < threshold:
        raise LinkageError("the review band's lower bound must be below the match threshold")
    step(STAGES[0], "")
    engine = LinkEngine(store, LINK_RECORDS_SQL, backend=backend, cache=True)
    try:
        return _linked(store, engine, threshold, lower, full, retrain, step, decisions, search)
    except BaseException:
        engine.settle(quiet=True)       # the cache written (or as it was) before the store can close
        raise


def _linked(store: Store, engine: LinkEngine, threshold: float, lower: float, full: bool, retrain: bool,
            step: Callable[[str, str], None], decisions: ReviewDecisions | None, search: bool) -> RunResult:
    n = engine.count()
    if n == 0:
        raise LinkageError("no records to link: ingest an extract first")
    step(STAGES[0], f"{n} records ({engine.derived} derived, the rest as kept from the last run)")
    decisions = decisions or open_decisions(store.home)
    latest = decisions.latest()

    model_json, model_sha = (None, None) if retrain else _load_model(store)
    trained = model_json is None
    if trained and n < MIN_TRAINING_RECORDS:
        raise LinkageError(
            f"only {n} records: too few to train a model without labels (needs {MIN_TRAINING_RECORDS}). "
            "Ingest more, or load a model trained elsewhere with `linkage link --model model.json`.")
    labels = 0
    if trained:
        positives = [(d.record_key_l, d.record_key_r) for d in latest.values() if d.decision == "match"]
        labels = len(positives) if len(positives) >= MIN_LABELS else 0
        step(STAGES[1], f"unsupervised on {n} records" + (f", m from {labels} reviewer-confirmed matches"
                                                           if labels else ""))
        model_json = engine.train(labels=positives if labels else None)
        model_sha = hashlib.sha256(model_json.encode()).hexdigest()
    else:
        step(STAGES[1], "skipped: using the saved model")
    engine.linker(model_json)

    last = store.rows(f"SELECT model_sha256, children FROM {t('runs')} WHERE finished_at IS NOT NULL "
                      "ORDER BY run_id DESC LIMIT 1")
    has_prev = bool(store.scalar(f"SELECT count(*) FROM {t('linked_records')}"))
    incremental = bool(last) and not full and last[0][0] == model_sha and has_prev
    decided = sorted({k for d in latest.values() for k in (d.record_key_l, d.record_key_r)})
    cons = constraints(latest, dict(zip(*(engine.hashes(decided)[c] for c in ("record_key", "content_sha")))))
    # New or changed records (their fields, or what the twin guard reads about them), saved as such.
    stage_records(store, engine.moved is not None)
    if incremental:
        # ... those to score now, and the gone ones.
        store.execute("CREATE OR REPLACE TABLE memory.link_changed AS SELECT record_key AS k FROM memory.hash_delta "
                      "WHERE rescore")
        store.execute("CREATE OR REPLACE TABLE memory.link_stale AS SELECT k FROM memory.link_changed "
                      "UNION ALL SELECT k FROM memory.hash_gone")
        changed = [r[0] for r in store.rows("SELECT k FROM memory.link_changed")]
        step(STAGES[2], f"{len(changed)} new or changed records against {n - len(changed)}")
        new_edges = engine.predict_incremental(changed, lower)
        with registered(store.connection, _new_edges_df=new_edges):
            store.execute(f"""CREATE OR REPLACE TABLE {EDGES} AS
SELECT record_key_l AS unique_id_l, record_key_r AS unique_id_r, match_probability, match_weight, guarded
FROM {t('link_edges')} WHERE record_key_l NOT IN (SELECT k FROM memory.link_stale)
  AND record_key_r NOT IN (SELECT k FROM memory.link_stale)
UNION ALL SELECT unique_id_l, unique_id_r, match_probability, match_weight, guarded FROM _new_edges_df""")
        # Kept pairs whose guard reads otherwise now: guarded again, and their records reached.
        reguard(store, engine.reguard)
        with registered(store.connection, _decided_df=pd.DataFrame({"k": pd.Series(decided, dtype=object)})):
            reached = reach(store, f"""SELECT k FROM memory.link_changed
UNION ALL SELECT record_key FROM memory.hash_delta WHERE NOT rescore
UNION ALL SELECT unique_id_l FROM {FLIPPED} UNION ALL SELECT unique_id_r FROM {FLIPPED}
UNION ALL SELECT record_key_l FROM {t('link_edges')} WHERE record_key_r IN (SELECT k FROM memory.link_stale)
UNION ALL SELECT record_key_r FROM {t('link_edges')} WHERE record_key_l IN (SELECT k FROM memory.link_stale)
{_STALE_PASSES.format(pp=t('pass_pairs')) if search else ""}
UNION ALL SELECT k FROM _decided_df""", threshold, cons.must_link, passes=search)
        # The last run's second-pass pairs in a cohort whose namesake count moved: no clustering
        # needed to find them, so the reach is closed over them before the first pass.
        while search and (more := earlier_pass(store)):
            grown = widen(store, more, threshold, cons.must_link)
            if grown == reached:
                break
            reached = grown
        edges = scoped_edges(store)
        engine.narrow(pd.concat([edges["unique_id_l"], edges["unique_id_r"]]))
        scored = len(changed)
    else:
        step(STAGES[2], f"all {n} records")
        edges = engine.predict_full(lower)
        with registered(store.connection, _full_edges_df=edges):
            store.execute(f"CREATE OR REPLACE TABLE {EDGES} AS SELECT * FROM _full_edges_df")
        store.execute(f"CREATE OR REPLACE TABLE {REACH} AS SELECT record_key AS k FROM memory.link_hash")
        reached = scored = n

    # The first pass (``firstpass``): clusters under every record-level check; with
    # ``link_month_search``, run again over a wider reach until it meets no candidate outside it.
    first = first_pass(store=store, engine=engine, edges=edges, reached=reached, cons=cons, threshold=threshold,
                       incremental=incremental, search=search, progress=lambda detail: step(STAGES[3], detail))
    edges, inside, linkable, cluster_of = first.edges, first.inside, first.linkable, first.cluster_of
    identifiers, refused, refused_must = first.identifiers, first.refused, first.refused_must
    ambiguous_pairs = first.ambiguous_pairs
    swaps_held = among(edges, first.swaps_held)
    # With the search, its last round built the month's population over these very clusters
    # (``outside_candidates``), which the second pass then counts namesakes over.
    # Second pass: a new surname and a move, judged on both children's evidence; linked or queued.
    apart = [*zip(edges.loc[edges["guarded"], "unique_id_l"], edges.loc[edges["guarded"], "unique_id_r"]),
             *cons.cannot_link]
    second = engine.cluster_pass(cluster_of, identifiers, apart, population=incremental and search,
                                 denied=cons.cannot_link)
    # Its joins are links too: through the sibling check, the guard and the NHS numbers, all made.
    vet_joins(second, cluster_of, apart, identifiers, engine.second_children, AMBIGUOUS_REASON, REFUSED_REASON)
    cluster_of = second.apply(cluster_of)
    aliases = resolve_aliases(store)
    raw_previous = dict(store.rows(f"SELECT record_key, child_id FROM {t('identity')} "
                                   f"WHERE record_key IN (SELECT k FROM {REACH})"))
    previous = {k: aliases.get(c, c) for k, c in raw_previous.items()}
    order = dict(store.rows(f"SELECT child_id, created_run FROM {t('child_ids')} WHERE child_id IN "
                            f"(SELECT child_id FROM {t('identity')} WHERE record_key IN (SELECT k FROM {REACH}))"))
    assignment = assign_ids(cluster_of, previous, order)

    # Children kept whole that a reached pair touches: their records and pairs, as they stand.
    kept_clusters, kept_edges = context(store, edges) if incremental else ({}, edges.iloc[0:0])
    if kept_clusters:
        identifiers.update(engine.identifiers("memory.reach_context"))
    around = {**kept_clusters, **cluster_of}
    kept_links = kept_edges[(kept_edges["match_probability"] >= threshold) & ~kept_edges["guarded"].astype(bool)]
    refused_set = set(refused)
    uncertain = (edges["match_probability"] >= lower) & (edges["match_probability"] < threshold)
    guarded = edges["guarded"] & (edges["match_probability"] >= threshold)
    # Twins whose forenames share nothing are kept apart and never asked about.
    unrelated = engine.unrelated_names(edges[edges["guarded"]])
    twins = edges["guarded"] & among(edges, unrelated)
    was_refused = among(edges, refused_set, ordered=True)
    # A strong link dropped as the weaker of two children is neither refused nor uncertain (``outclassed``).
    was_outclassed = asked_outclassed(edges, first.outclassed, cluster_of, identifiers)
    reason = pd.Series("uncertain match", index=edges.index)
    reason[was_outclassed] = OUTCLASSED_REASON
    reason[was_refused] = REFUSED_REASON
    reason[edges["guarded"]] = GUARD_REASON
    was_ambiguous = among(edges, ambiguous_pairs)
    reason[was_ambiguous] = AMBIGUOUS_REASON
    reason[swaps_held] = SWAP_HELD_REASON
    in_band = (uncertain | guarded | was_refused | was_ambiguous | swaps_held | was_outclassed) & ~twins
    band = edges[in_band].assign(reason=reason[in_band]).drop(columns="guarded")
    # Guarded pairs left in two children that no source holds both of: no second child in view.
    band = _stack(complementary_guarded(edges[edges["guarded"] & inside], around), band)
    band = band[undecided(band, around, _stack(linkable, kept_links), identifiers,
                          two_children=(GUARD_REASON, AMBIGUOUS_REASON, COMPLEMENT_REASON),
                          one_child=engine.one_child(band, around),
                          asks_conflict=(REFUSED_REASON, OUTCLASSED_REASON))]
    # A sibling's record no scored pair joins to the ambiguous one is queued beside it all the same.
    unscored = ambiguous_pairs - {frozenset(p) for p in zip(edges.loc[was_ambiguous, "unique_id_l"],
                                                             edges.loc[was_ambiguous, "unique_id_r"])}
    second.queue.extend((*sorted(p), AMBIGUOUS_REASON) for p in sorted(unscored, key=sorted))
    if second.queue:
        band = _stack(second.queue_frame(edges), band)
    # One namesake's record against the other's, when both sources hold both children: not asked.
    band = band[~crossed(band, edges, around, identifiers, lower)]
    # Any other reason a pair is queued for says more: those rows come last, and the last one wins.
    mine = band["reason"] == OUTCLASSED_REASON
    band = _stack(band[mine], band[~mine])
    queue = build_queue(band, edges, cons, refused_must, around)
    queue["reason"] = guard_reasons(store, queue)
    step(STAGES[4], f"{len(queue)} pairs open where the run reached ({len(cons.settled)} settled by a reviewer)")
    tf = engine.term_frequencies()
    step(STAGES[5], f"{len(cluster_of)} records")
    stage_identity(store, assignment.record_to_child, raw_previous, assignment.aliases)
    if incremental:         # the children count moved by those the delta reaches, not counted anew
        stage_children(store)
    engine.settle()             # the input cache, written beside the run, first: its failure saves nothing
    with store.transaction():
        run_id = store.next_id(t("runs"), "run_id")
        now = _now()
        if trained:
            store.execute(f"INSERT INTO {t('model')} VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                          [model_sha, now, model_json])
        # Pairs: those of changed and removed records deleted, theirs appended (all, in a full run).
        if incremental:
            store.execute(f"DELETE FROM {t('link_edges')} WHERE record_key_l IN (SELECT k FROM memory.link_stale) "
                          "OR record_key_r IN (SELECT k FROM memory.link_stale)")
            fresh = new_edges.assign(guarded=new_edges["guarded"].astype("boolean").fillna(False).astype(bool))
            store.insert_df(t("link_edges"), fresh.rename(columns={
                "unique_id_l": "record_key_l", "unique_id_r": "record_key_r"}).assign(run_id=run_id))
        else:      # every pair, straight from this run's table (no trip through Python)
            store.execute(f"DELETE FROM {t('link_edges')}")
            store.execute(f"INSERT INTO {t('link_edges')} (record_key_l, record_key_r, match_probability, "
                          f"match_weight, guarded, run_id) SELECT unique_id_l, unique_id_r, match_probability, "
                          f"match_weight, coalesce(CAST(guarded AS BOOLEAN), false), {int(run_id)} FROM {EDGES}")
        save_guards(store, run_id, full=not incremental)
        save_records(store, run_id)
        if (state := engine.hash_state()) is not None:      # what they were hashed under (``hashkeep``)
            save_state(store, *state)
        save_pass_pairs(store, second.pairs, run_id, full=not incremental)
        # Open pairs keep their id and the run they were first queued in; unreached ones stay as they are.
        first = dict(store.rows(f"SELECT pair_id, min(coalesce(first_run, run_id)) FROM {t('review_queue')} "
                                "WHERE pair_id IS NOT NULL GROUP BY pair_id"))
        store.execute(f"DELETE FROM {t('review_queue')} WHERE record_key_l IN (SELECT k FROM {REACH}) "
                      f"OR record_key_r IN (SELECT k FROM {REACH}) OR pair_id IN (SELECT unnest(?))",
                      [list(queue["pair_id"])])
        store.execute(f"UPDATE {t('review_queue')} SET run_id = ?", [run_id])
        store.insert_df(t("review_queue"), queue.assign(
            run_id=run_id, status="open", first_run=[first.get(p, run_id) for p in queue["pair_id"]]))
        store.execute(f"DELETE FROM {t('term_frequencies')}")
        store.execute(f"INSERT INTO {t('term_frequencies')} (column_name, value, tf) SELECT column_name, value, tf "
                      f"FROM {tf}")
        save_children(store, assignment.minted, run_id)
        save_identity(store, run_id)
        if assignment.history:
            store.insert_df(t("identity_history"), pd.DataFrame(assignment.history, columns=list(HistoryEvent._fields))
                            .assign(run_id=run_id, changed_at=now))
        children_now = children(store, last[0][1] if incremental else None)
        open_pairs = int(store.scalar(f"SELECT count(*) FROM {t('review_queue')}"))
        store.execute(
            f"INSERT INTO {t('runs')} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [run_id, now, _now(), "incremental" if incremental else "full", n, children_now,
             len(assignment.minted), assignment.merges, assignment.splits, open_pairs, threshold, model_sha])
    return RunResult(run_id, "incremental" if incremental else "full", n, children_now,
                     len(assignment.minted), assignment.merges, assignment.splits, open_pairs,
                     scored, trained, len(cons.must_link) + len(cons.cannot_link), labels)


def import_model(store: Store, path: Path) -> str:
    """Adopt a saved model (e.g. from another data directory); the next run uses it."""
    import json

    text = Path(path).read_text(encoding="utf-8")
    data = json.loads(text)
    if "comparisons" not in data:
        raise LinkageError(f"{path} is not a Splink model")
    model_json = json.dumps(data, sort_keys=True)
    sha = hashlib.sha256(model_json.encode()).hexdigest()
    with store.transaction():
        store.execute(f"INSERT INTO {t('model')} VALUES (?, ?, ?) ON CONFLICT DO NOTHING", [sha, _now(), model_json])
        store.execute(f"UPDATE {t('model')} SET created_at = ? WHERE model_sha256 = ?", [_now(), sha])
    return sha


def export_model(store: Store, home: Path) -> Path | None:
    model_json, _ = _load_model(store)
    if model_json is None:
        return None
    return LinkEngine.save_model(model_json, home)
