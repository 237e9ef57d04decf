"""``linkage link`` and what reads a run's result: publish, export-ids, evaluate, resolve, findings, changes."""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from linkage.cli.common import DataDir, Replace, _fail, _failures, _publish, _reading, _store, console
from linkage.cli.output import Format, FormatOption, emit, emit_json
from linkage.config import get_settings
from linkage.errors import LinkageError


def link(full: Annotated[bool, typer.Option(help="Re-score every record, not just new ones.")] = False,
         retrain: Annotated[bool, typer.Option(help="Train a new model first.")] = False,
         threshold: Annotated[Optional[float], typer.Option(help="Match probability to link at.")] = None,
         model: Annotated[Optional[Path], typer.Option(help="Use this saved model (JSON) instead of training.")] = None,
         engine: Annotated[Optional[str], typer.Option(
             help="Where Splink runs: duckdb or spark (default LINKAGE_ENGINE). See docs/spark.md.")] = None,
         data_dir_: DataDir = None) -> None:
    """Train (if no model yet), predict, cluster and keep child identifiers stable."""
    from linkage.link import run_link
    from linkage.link.backends import ENGINES, make_backend
    from linkage.link.run import STAGES, export_model, import_model
    from linkage.views.cme import record_membership

    s = get_settings()
    engine = engine or s.engine
    if engine not in ENGINES:
        _fail(LinkageError(f"unknown engine {engine!r}: one of {', '.join(ENGINES)}"))
    backend = None
    try:
        store = _store(data_dir_)
        backend = make_backend(engine, store.home, s)
        if model is not None:
            import_model(store, model)
        with Progress(SpinnerColumn(), TextColumn("[bold]{task.fields[stage]}[/] {task.description}"), BarColumn(),
                      TextColumn("stage {task.completed:.0f}/{task.total:.0f}"), TimeElapsedColumn(),
                      console=console, transient=not console.is_terminal) as bar:
            task = bar.add_task("", total=len(STAGES), stage="linking")

            def step(stage: str, detail: str) -> None:
                bar.update(task, completed=STAGES.index(stage), stage=stage, description=detail)

            result = run_link(store, threshold or s.match_threshold, s.review_lower, full, retrain, step=step,
                              backend=backend)
            bar.update(task, completed=len(STAGES), stage="done", description="")
        record_membership(store, result.run_id, date.today())      # for "new since the last run"
        model = export_model(store, store.home)
        published = _publish(store, f"run {result.run_id} is saved, but ")
        store.close()
    except LinkageError as exc:
        _fail(exc)
    except Exception as exc:
        explained = backend.explain(exc) if backend is not None else None
        if explained is None:
            raise
        _fail(explained)
    finally:
        if backend is not None:
            backend.close()
    console.print(f"run {result.run_id} ({result.mode}): {result.records} records -> {result.children} children; "
                  f"scored {result.scored_records}; new ids {result.new_ids}, merges {result.merges}, "
                  f"splits {result.splits}; {result.review_pairs} pairs for clerical review"
                  + (f"; {result.decisions_honoured} review decisions honoured" if result.decisions_honoured else ""))
    if result.labels_used:
        console.print(f"m probabilities estimated from {result.labels_used} reviewer-confirmed matches")
    if result.trained:
        console.print(f"model trained and saved to {model}")
    console.print(published)


def publish(data_dir_: DataDir = None) -> None:
    """Publish the linked data as it stands (after `linkage ingest` or `reference load`) for servers
    to switch to; `linkage link` does this itself."""
    with _failures(data_dir_):
        with _reading(data_dir_) as store:
            line = _publish(store)
    console.print(line)


def export_ids(out: Path, force: Replace = False, data_dir_: DataDir = None) -> None:
    """Write source, source_record_id and child_id for every current record, and every record of an
    older extract that a run linked."""
    from linkage.files import check_replaceable
    from linkage.safetext import csv_text, write_private_csv
    from linkage.views.linked import exported_ids

    header = ["source", "source_record_id", "child_id"]
    with _failures(data_dir_):
        if not force:
            check_replaceable(out, csv_text(header, []), "export-ids file")
        store = _store(data_dir_)
        rows = exported_ids(store)
        store.close()
        write_private_csv(out, header, rows)
    unlinked = sum(1 for r in rows if r[2] is None)
    console.print(f"wrote {len(rows)} records to {out}" + (f" ({unlinked} not yet linked: run `linkage link`)"
                                                          if unlinked else ""))


def _ratio(value: float, pairs: int) -> str:
    """A score over no pairs at all is not 1.0: say so rather than flatter the run."""
    return f"{value:.4f}" if pairs else "n/a (no pairs)"


def evaluate(truth: Path,
             twins: Annotated[Optional[Path], typer.Option(help="CSV person_a,person_b: twins never to merge")] = None,
             classes: Annotated[Optional[Path], typer.Option(
                 help="CSV source,source_record_id,class: scores per error class")] = None,
             data_dir_: DataDir = None) -> None:
    """Score the last link run against your own truth file (source,source_record_id,person)."""
    from linkage.link.evaluate import load_classes, load_truth, load_twins, score_by_class, score_clusters
    from linkage.views.linked import linked_children, open_queue_pairs

    with _failures(data_dir_):
        try:
            truth_map = load_truth(truth)
            twin_pairs = load_twins(twins) if twins else []
            class_map = load_classes(classes) if classes else {}
        except KeyError as exc:
            raise LinkageError(f"a truth, twins or classes file lacks the column {exc}; see `linkage evaluate "
                               "--help`") from None
        except (UnicodeDecodeError, csv.Error) as exc:
            raise LinkageError(f"cannot read the truth, twins or classes file as UTF-8 CSV: {exc}") from None
        with _reading(data_dir_) as store:
            predicted = linked_children(store)
            queue = open_queue_pairs(store)
    if not predicted:
        _fail(LinkageError("nothing is linked yet: run `linkage link` first"))
    if truth_map and not any(k in predicted for k in truth_map):
        _fail(LinkageError(f"no record of {truth.name} is linked here: its first key is "
                           f"{next(iter(truth_map))!r}, and linked records look like {next(iter(predicted))!r} "
                           "(the source column names the source you ingested, e.g. education, health)"))
    from linkage.link.evaluate import missed_in_queue

    scores = score_clusters(predicted, truth_map, twin_pairs)
    missed, queued = missed_in_queue(predicted, truth_map, queue)
    unlinked = sum(1 for k in truth_map if k not in predicted)
    table = Table(title=f"linkage against {truth.name}")
    table.add_column("measure")
    table.add_column("value", justify="right")
    for name, value in (("records in the truth file / linked", f"{len(truth_map)} / {len(truth_map) - unlinked}"),
                        ("pairwise precision", _ratio(scores.precision, scores.predicted_pairs)),
                        ("pairwise recall", _ratio(scores.recall, scores.true_pairs)),
                        ("pairwise F1", _ratio(scores.f1, scores.true_pairs and scores.predicted_pairs)),
                        ("twin pairs wrongly merged", f"{scores.twins_merged} of {scores.twin_pairs}"),
                        ("true pairs left apart / of them in the review queue", f"{missed} / {queued}")):
        table.add_row(name, value)
    console.print(table)
    if class_map:
        per = Table(title="by error class (links counted from each record of the class)")
        for col in ("class", "records", "true links", "found", "recall", "precision"):
            per.add_column(col, justify="left" if col == "class" else "right")
        for c in score_by_class(predicted, truth_map, class_map):
            per.add_row(c.name, str(c.records), str(c.true_links), str(c.found), f"{c.recall:.4f}",
                        f"{c.precision:.4f}")
        console.print(per)
    if unlinked:
        console.print(f"{unlinked} records of the truth file are not linked (quarantined, or their file not "
                      "ingested): `linkage quarantine list`")


def resolve(child_id: str, data_dir_: DataDir = None) -> None:
    """The identifier that now stands for CHILD_ID (itself, or its survivor after a merge), with history."""
    from linkage.link import resolve_aliases
    from linkage.identity.ids import typed_child_id
    from linkage.views.linked import child_history, issued

    child_id = typed_child_id(child_id)
    try:
        store = _store(data_dir_)
    except LinkageError as exc:
        _fail(exc)
    if not issued(store, child_id):
        store.close()
        _fail(LinkageError(f"{child_id} was never issued here"))
    current = resolve_aliases(store).get(child_id, child_id)
    console.print(f"{child_id} -> {current}" + (" (merged)" if current != child_id else " (active)"))
    table = Table("run", "change", "child", "other", "record", "reason", title="identity history")
    for run, change, cid, other, rec, reason in child_history(store, child_id, current):
        table.add_row(str(run), change, cid, other or "", rec or "", reason)
    console.print(table)
    store.close()


def findings(fmt: FormatOption = Format.table, data_dir_: DataDir = None) -> None:
    """Data-quality findings from the last run to correct at source (e.g. two UPNs for one pupil)."""
    from linkage.link.findings import upn_findings

    try:
        with _reading(data_dir_) as store:
            found = upn_findings(store)
    except LinkageError as exc:
        _fail(exc)
    if fmt == Format.json:
        emit_json(found)
        return
    emit(["finding", "child", "UPNs", "records"],
         [[f["finding"], f["child_id"], " ".join(f["upns"]), " ".join(f["records"])] for f in found], fmt)


def changes(run: Annotated[Optional[int], typer.Option("--run", min=1, help="Run number; default the last.")] = None,
            kind: Annotated[Optional[str], typer.Option(
                "--change", help="Only created | merged | split | retired | moved.")] = None,
            fmt: FormatOption = Format.table, data_dir_: DataDir = None) -> None:
    """The children a linkage run created, merged, split and retired, and records it moved, with reasons."""
    from linkage.views.changes import KINDS, last_run_id, run_changes, run_info

    try:
        if kind is not None and kind not in KINDS:
            raise LinkageError(f"--change must be one of {', '.join(KINDS)}")
        with _reading(data_dir_) as store:
            run = run or last_run_id(store.connection)
            if run is None:
                raise LinkageError("no linkage run yet: run `linkage link`")
            info = run_info(store.connection, run)
            found = run_changes(store.connection, run)
    except LinkageError as exc:
        _fail(exc)
    if kind:
        found = [c for c in found if c.change == kind]
    header = ["run", "change", "child", "other_child", "record", "reason"]
    rows = [[c.run_id, c.change, c.child_id, c.other_child_id, c.record_key, c.reason] for c in found]
    if fmt != Format.table:
        emit(header, rows, fmt)
        return
    counts: dict[str, int] = {}
    for c in found:
        counts[c.change] = counts.get(c.change, 0) + 1
    emit(header, rows, fmt, title=f"run {info.run_id} ({info.mode}) at {info.finished_at:%Y-%m-%d %H:%M} UTC: "
                                  + (", ".join(f"{n} {k}" for k, n in counts.items()) or "no changes"))

