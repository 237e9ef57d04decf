"""The ``linkage`` command: synth, ingest, reference, link, export-ids, status, vacuum and demo."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from linkage.cli_output import Format, FormatOption, emit, emit_json, make_console
from linkage.config import data_dir, get_settings
from linkage.errors import LinkageError
from linkage.safetext import visible
from linkage.files import private_umask, write_private

class _App(typer.Typer):
    """The command line; a failure no command caught (a damaged block met mid-query) is still one line."""

    def __call__(self, *args, **kwargs):
        try:
            with _failures():
                return super().__call__(*args, **kwargs)
        except typer.Exit as exc:         # raised outside click's own handling
            raise SystemExit(exc.exit_code) from None


app = _App(no_args_is_help=True, add_completion=False,
           help="Link children's records across agencies into one pseudonymous identifier.")
console = make_console()          # terminal width, or unwrapped when piped
err = make_console(stderr=True)


@app.callback()
def _private_files() -> None:
    """Link children's records across agencies into one pseudonymous identifier."""
    # Everything a command creates (data directory, exports, libraries' own files) is 0600/0700.
    private_umask()


DataDir = Annotated[Optional[Path], typer.Option("--data-dir", help="Data directory (default ./.linkage or $LINKAGE_HOME).")]


def _settings():
    """The settings, or a one-line ConfigError (e.g. LINKAGE_DB_KEY too short)."""
    from pydantic import ValidationError

    from linkage.config import settings_error
    from linkage.errors import ConfigError

    try:
        return get_settings()
    except ValidationError as exc:
        raise ConfigError(settings_error(exc)) from None


def _store(home: Optional[Path], create: bool = False):
    """The store; unless ``create`` (a command that stores data), a data directory without a
    database is refused rather than made, so a mistyped --data-dir or LINKAGE_HOME is said, not
    answered with an empty new database ("no linkage run yet") beside the real one."""
    from linkage.store import Store
    from linkage.store.db import DB_FILE

    s = _settings()
    if not create and not (data_dir(home) / DB_FILE).exists():
        raise LinkageError(f"there is no linkage database in {data_dir(home).resolve()}: check --data-dir or "
                           "LINKAGE_HOME (default ./.linkage); `linkage ingest` makes one")
    store = Store(data_dir(home), key=s.db_key.get_secret_value() if s.db_key else None,
                  memory_limit=s.memory_limit, threads=s.threads)
    if store.compacted:
        before, after = store.compacted
        err.print(f"the previous run did not finish; the database was compacted from {before:,} to {after:,} bytes")
    elif store.compact_failed:
        err.print(f"the previous run did not finish, and compacting the database failed: {store.compact_failed}",
                  markup=False, soft_wrap=True)
    return store


@contextmanager
def _reading(home: Optional[Path], create: bool = False):
    """The store, closed however the block ends."""
    store = _store(home, create)
    try:
        yield store
    finally:
        store.close()


def _fail(exc: Exception) -> None:
    # The message can carry what the user typed or a file held: shown as text, never as markup.
    err.print(Text.assemble(("error:", "bold red"), " ", visible(exc)))
    raise typer.Exit(2)


@contextmanager
def _failures(home: Optional[Path] = None) -> Iterator[None]:
    """Every expected failure as one line and exit 2: ours, DuckDB's and the OS's (disk full)."""
    import duckdb

    from linkage.store.db import DB_FILE, explain

    try:
        yield
    except LinkageError as exc:
        _fail(exc)
    except (duckdb.Error, OSError) as exc:
        why = explain(exc, data_dir(home) / DB_FILE if home else None)
        _fail(LinkageError(why or (str(exc).splitlines()[0] if str(exc) else type(exc).__name__)))


@app.command()
def synth(children: Annotated[int, typer.Option(min=1)] = 3000, seed: int = 42,
          out: Annotated[Path, typer.Option()] = Path("synthetic"),
          month: Annotated[int, typer.Option(min=1, help="Month of extracts: 2 is a month after 1.")] = 1,
          ap_trajectories: Annotated[bool, typer.Option(help="Add alternative provision histories and "
                                                             "nccis.csv.")] = True,
          difficulty: Annotated[str, typer.Option(
              help="easy (few error classes) | realistic | hard: rates of second UPNs, temporary UPNs, "
                   "typos, near-identical twins, name changes with moves, other scripts")] = "realistic") -> None:
    """Write synthetic education, social-care and health extracts plus truth.csv and truth_classes.csv."""
    from linkage.synth import DIFFICULTIES, synthesise

    if difficulty not in DIFFICULTIES:
        _fail(LinkageError(f"--difficulty must be one of {', '.join(DIFFICULTIES)}"))
    with console.status("generating synthetic children"):
        manifest = synthesise(children, seed, out, month, difficulty, ap_trajectories)
    console.print(f"wrote {out}/ : {json.dumps(manifest['records'])}, extract date {manifest['extract_date']}")


@app.command()
def ingest(file: Annotated[list[Path], typer.Argument(
               help="The extract; several whole extracts of different sources, each with its --source in the "
                    "same order, are read and stored together (each read while the one before is stored).")],
           source: Annotated[list[str], typer.Option(help="education | social_care | health (one per file)")],
           mapping: Annotated[Optional[Path], typer.Option(help="YAML column mapping")] = None,
           extract_date: Annotated[Optional[str], typer.Option(help="YYYY-MM-DD; default today")] = None,
           table: Annotated[Optional[str], typer.Option(help="table to read from a DuckDB database file")] = None,
           amend: Annotated[bool, typer.Option(
               "--amend", help="Add or correct rows of the current extract (same record ids replace; "
                               "new ids are added; nothing else changes).")] = False,
           force: Annotated[bool, typer.Option(
               "--force", help="Make this the current extract even if the safety catch refuses it "
                               "(empty, mostly quarantined, or far smaller than the current one).")] = False,
           data_dir_: DataDir = None) -> None:
    """Validate and store one extract; bad rows go to quarantine with their reasons.

    A whole extract replaces the source's current one, unless it looks wrong; see --amend and --force.
    Of several files, each commits on its own: one that fails stops there, those before it stored.
    """
    from linkage.connectors import ingest_file, ingest_files
    from linkage.validation import parse_date

    if amend and force:
        _fail(LinkageError("--amend and --force do not go together: an amendment never replaces the extract"))
    if len(source) != len(file):
        _fail(LinkageError(f"{len(file)} files and {len(source)} --source: give one --source for each file, "
                           "in the same order"))
    if len(file) > 1 and (amend or force or mapping or table):
        _fail(LinkageError("--amend, --force, --mapping and --table take one file at a time"))
    with _failures(data_dir_):
        when = parse_date(extract_date) if extract_date else None
        store = _store(data_dir_, create=True)
        try:
            if len(file) > 1:
                with console.status(f"reading and storing {len(file)} extracts"):
                    results = ingest_files(store, list(zip(source, file)), when)
            else:
                with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                              TextColumn("{task.completed:,} rows"), TimeElapsedColumn(),
                              console=console, transient=True, disable=not console.is_terminal) as bar:
                    task = bar.add_task(f"reading {file[0].name}", total=None)
                    results = [ingest_file(store, source[0], file[0], mapping, when, table,
                                           progress=lambda done, total: bar.update(task, completed=done,
                                                                                   total=total),
                                           amend=amend, force=force)]
        finally:
            store.close()
    for path, result in zip(file, results):
        _ingested(path, result, table)


def _ingested(file: Path, result, table: str | None = None) -> None:
    """What ``ingest`` says of one file it stored."""
    if result.already_ingested:
        console.print(f"{file.name} was already ingested as {result.source} extract {result.extract_id} "
                      f"(file {result.existing_file}{', table ' + table if table else ''}, the same "
                      "file and mapping by SHA-256); nothing changed. "
                      "A corrected mapping reads it again.")
    kept = ", ".join(([f"{result.warned} with a field set aside"] if result.warned else [])
                     + ([f"{result.repeated} repeating a record, adding its events"
                         + (f"; {result.past_addresses} earlier addresses kept as address history"
                            if result.past_addresses else "")] if result.repeated else []))
    kept = f" ({kept})" if kept else ""
    console.print(f"{result.source}: read {result.rows_read}, accepted {result.accepted}{kept}, "
                  f"quarantined {result.quarantined}, blank rows skipped {result.blank}", highlight=False,
                  soft_wrap=True)
    if result.read_again and not result.already_ingested:
        console.print(f"{file.name} was stored before as extract {result.read_again[0]} under another mapping: "
                      f"read again as of its extract date {result.read_again[1]}", highlight=False, soft_wrap=True)
    if result.left:
        console.print(f"{result.left:,} record ids of the extract it replaces are not in {file.name}: they "
                      "leave the current data (leavers; or a file that stopped part-way: then ingest the whole "
                      "file again)", highlight=False, soft_wrap=True)
    if result.amendments_kept:
        console.print(f"the {result.amendments_kept} amendment(s) made to it still apply, now to extract "
                      f"{result.extract_id}", highlight=False, soft_wrap=True)
    if not result.current and not result.already_ingested:
        console.print(f"extract {result.extract_id} is older than the current {result.source} extract, which "
                      "stays current (`linkage status`)", highlight=False, soft_wrap=True)
    if result.amends is not None and not result.already_ingested:
        added = result.accepted - result.replaced - result.repeated
        console.print(f"amended extract {result.amends}: replaced {result.replaced} records, added "
                      f"{added}; resolved {result.resolved} quarantine rows")
    for title, rows in (("rows quarantined (first 20)", result.problems_sample),
                        ("fields set aside, records kept (first 20)", result.warnings_sample)):
        if rows:
            t = Table("row", "field", "reason", title=title)
            for line, field, reason in rows:
                t.add_row(str(line), field, reason)
            console.print(t)


@app.command()
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


def _publish(store, failed: str = "") -> str:
    """Publish the store as the snapshot servers serve; one line saying which."""
    from linkage.store.snapshots import publish

    s = get_settings()
    try:
        m = publish(store, s.snapshot_keep)
    except LinkageError as exc:
        raise LinkageError(f"{failed}publishing its snapshot failed: {exc}") from None
    when = (f"within {s.snapshot_poll_seconds:g} s" if s.snapshot_poll_seconds else "on SIGHUP")
    return (f"published snapshot {m.snapshot} (run {m.run_id}, {m.bytes:,} bytes); "
            f"running servers switch to it {when}")


@app.command()
def publish(data_dir_: DataDir = None) -> None:
    """Publish the linked data as it stands (after `linkage ingest` or `reference load`) for servers
    to switch to; `linkage link` does this itself."""
    with _failures(data_dir_):
        with _reading(data_dir_) as store:
            line = _publish(store)
    console.print(line)


@app.command("export-ids")
def export_ids(out: Path, data_dir_: DataDir = None) -> None:
    """Write source, source_record_id and child_id for every current record."""
    from linkage.safetext import write_private_csv
    from linkage.store.schema import t

    with _failures(data_dir_):
        store = _store(data_dir_)
        # Every accepted record, from current and superseded extracts alike.
        rows = store.rows(f"SELECT DISTINCT r.source, r.source_record_id, i.child_id FROM {t('records')} r "
                          f"LEFT JOIN {t('identity')} i USING (record_key) ORDER BY 1, 2")
        store.close()
        write_private_csv(out, ["source", "source_record_id", "child_id"], rows)
    unlinked = sum(1 for r in rows if r[2] is None)
    console.print(f"wrote {len(rows)} records to {out}" + (f" ({unlinked} not yet linked: run `linkage link`)"
                                                          if unlinked else ""))


def _ratio(value: float, pairs: int) -> str:
    """A score over no pairs at all is not 1.0: say so rather than flatter the run."""
    return f"{value:.4f}" if pairs else "n/a (no pairs)"


@app.command()
def evaluate(truth: Path,
             twins: Annotated[Optional[Path], typer.Option(help="CSV person_a,person_b: twins never to merge")] = None,
             classes: Annotated[Optional[Path], typer.Option(
                 help="CSV source,source_record_id,class: scores per error class")] = None,
             data_dir_: DataDir = None) -> None:
    """Score the last link run against your own truth file (source,source_record_id,person)."""
    from linkage.link.evaluate import load_classes, load_truth, load_twins, score_by_class, score_clusters
    from linkage.store.schema import t

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
            predicted = dict(store.rows(f"SELECT record_key, child_id FROM {t('identity')}"))
            queue = store.rows(f"SELECT record_key_l, record_key_r FROM {t('review_queue')} WHERE status = 'open'")
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


@app.command()
def vacuum(data_dir_: DataDir = None) -> None:
    """Compact the database: rewrite it into a fresh encrypted file and swap it in atomically.

    Runs that were killed or failed leave space in the file that DuckDB never returns; the next
    ingest or link compacts automatically, and this does it on demand. Needs no other process using it.
    """
    with _failures(data_dir_):
        store = _store(data_dir_)
        try:
            if store.compacted:
                before, after = store.compacted
            else:
                before, after = store.vacuum()
        finally:
            store.close()
    console.print(f"compacted {store.path}: {before:,} -> {after:,} bytes")


@app.command()
def resolve(child_id: str, data_dir_: DataDir = None) -> None:
    """The identifier that now stands for CHILD_ID (itself, or its survivor after a merge), with history."""
    from linkage.link import resolve_aliases
    from linkage.store.schema import t

    try:
        store = _store(data_dir_)
    except LinkageError as exc:
        _fail(exc)
    known = store.rows(f"SELECT status FROM {t('child_ids')} WHERE child_id = ?", [child_id])
    if not known:
        store.close()
        _fail(LinkageError(f"{child_id} was never issued here"))
    current = resolve_aliases(store).get(child_id, child_id)
    console.print(f"{child_id} -> {current}" + (" (merged)" if current != child_id else " (active)"))
    table = Table("run", "change", "child", "other", "record", "reason", title="identity history")
    for run, change, cid, other, rec, reason in store.rows(
            f"SELECT run_id, change, child_id, other_child_id, record_key, reason FROM {t('identity_history')} "
            "WHERE child_id IN (?, ?) OR other_child_id IN (?, ?) ORDER BY run_id, change",
            [child_id, current, child_id, current]):
        table.add_row(str(run), change, cid, other or "", rec or "", reason)
    console.print(table)
    store.close()


@app.command()
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


@app.command()
def status(fmt: FormatOption = Format.table, data_dir_: DataDir = None) -> None:
    """Sources, counts, the last run, and the quarantine (current extracts only) and review queues."""
    from linkage.views.status import status_summary

    try:
        with _reading(data_dir_) as store:
            summary = status_summary(store.connection)
    except LinkageError as exc:
        _fail(exc)
    header = ["source", "current extract", "extract date", "rows", "accepted", "quarantined", "older extracts"]
    rows = [[s[h.replace(" ", "_")] for h in header] for s in summary["sources"]]
    if fmt == Format.json:
        emit_json(summary)
        return
    emit(header, rows, fmt)
    if fmt == Format.csv:
        return
    r = summary["last_run"]
    if r:
        console.print(f"last run {r['run_id']} at {r['finished_at']:%Y-%m-%d %H:%M} UTC ({r['mode']}): "
                      f"{r['records']} records, {r['children']} children, {r['new_ids']} new ids, "
                      f"{r['merges']} merges, {r['splits']} splits (`linkage changes` lists them)")
    else:
        console.print("no linkage run yet: run `linkage link`")
    q = summary["quarantine"]
    by = ", ".join(f"{n} {sev}" for sev, n in q["by_severity"].items())
    console.print(f"quarantine: {q['rows']} rows in current extracts" + (f" ({by})" if by else "")
                  + f"; clerical review queue: {summary['review_open']} open pairs")


@app.command()
def demo(children: int = 3000, seed: int = 42,
         work_dir: Annotated[Path, typer.Option()] = Path(".demo"),
         difficulty: Annotated[str, typer.Option(help="easy | realistic | hard, as for `linkage synth`")]
         = "realistic") -> None:
    """Synthesise, ingest, link, then score against the truth file."""
    from linkage.connectors import ingest_file
    from linkage.link import load_truth, load_twins, run_link, score_clusters
    from linkage.link.evaluate import missed_in_queue
    from linkage.link.run import export_model
    from linkage.reference import KINDS, load_reference, sample_path
    from linkage.store import Store
    from linkage.synth import synthesise
    from linkage.views import cme_children
    from linkage.views.cme import record_membership

    from linkage.synth import DIFFICULTIES

    if difficulty not in DIFFICULTIES:
        _fail(LinkageError(f"--difficulty must be one of {', '.join(DIFFICULTIES)}"))
    extracts = work_dir / "extracts"
    home = work_dir / "data"
    if home.exists():
        import shutil

        shutil.rmtree(home)
    with console.status(f"synthesising {children} children"):
        manifest = synthesise(children, seed, extracts, level=difficulty, ap_trajectories=True)
    when = date.fromisoformat(manifest["extract_date"])
    store = Store(home)
    for kind in KINDS:
        loaded = load_reference(store, kind, sample_path(kind))
        console.print(f"loaded synthetic {kind.replace('_', ' ')}: {loaded.accepted}")
    for source in ("education", "social_care", "health"):
        r = ingest_file(store, source, extracts / f"{source}.csv", extract_date=when)
        console.print(f"ingested {source}: read {r.rows_read}, accepted {r.accepted}, quarantined {r.quarantined}")
    with console.status("linking"):
        result = run_link(store, get_settings().match_threshold, get_settings().review_lower)
    record_membership(store, result.run_id, when)
    model_path = export_model(store, home)
    predicted = dict(store.rows("SELECT record_key, child_id FROM store.identity"))
    truth = load_truth(extracts / "truth.csv")
    scores = score_clusters(predicted, truth, load_twins(extracts / "twins.csv"))
    missed, queued = missed_in_queue(predicted, truth, store.rows(
        "SELECT record_key_l, record_key_r FROM store.review_queue WHERE status = 'open'"))
    cme = cme_children(store, when)
    outcomes = _demo_outcomes(store, extracts / "nccis.csv", when, work_dir / "outcomes")
    store.close()
    t = Table(title=f"linkage demo: {children} synthetic children, seed {seed}, difficulty {difficulty}")
    t.add_column("measure")
    t.add_column("value", justify="right")
    t.add_row("records linked", str(result.records))
    t.add_row("children identified", str(result.children))
    t.add_row("pairwise precision", f"{scores.precision:.4f}")
    t.add_row("pairwise recall", f"{scores.recall:.4f}")
    t.add_row("pairwise F1", f"{scores.f1:.4f}")
    t.add_row("twin pairs wrongly merged", f"{scores.twins_merged} of {scores.twin_pairs}")
    t.add_row("known to an agency, on no school roll (age 5-15)", str(len(cme)))
    t.add_row("pairs queued for clerical review", str(result.review_pairs))
    t.add_row("true pairs left apart / of them in the review queue", f"{missed} / {queued}")
    t.add_row("AP placements (published total, DfE CIN rule: to the nearest 10)", str(outcomes.placements))
    console.print(t)
    console.print(f"AP outcomes report: {work_dir / 'outcomes' / 'outcomes.html'} (and .pdf, CSVs)")
    console.print(f"data directory: {home} (encrypted); model: {model_path}; extracts: {extracts}")


def _demo_outcomes(store, nccis: Path, when: date, out: Path):
    """The demo's AP outcomes report: NCCIS loaded, measured on the extract date, by setting."""
    from linkage.outcomes.build import outcomes_from, read_frames
    from linkage.outcomes.measures import Options
    from linkage.outcomes.nccis import load_nccis
    from linkage.outcomes.report import write_report

    loaded = load_nccis(store, nccis)
    console.print(f"loaded synthetic NCCIS activity: {loaded.accepted}")
    placements, units = read_frames(store.connection, Options(when))
    result = outcomes_from(placements, units, as_at=when, by="setting")
    write_report(result, out)
    return result


orgs_app = typer.Typer(no_args_is_help=True, help="Register the organisations that may have API clients.")
clients_app = typer.Typer(no_args_is_help=True, help="Register each organisation's API clients.")
audit_app = typer.Typer(no_args_is_help=True, help="Check and export the audit log.")
app.add_typer(orgs_app, name="orgs")
quarantine_app = typer.Typer(no_args_is_help=True, help="Rows ingest could not accept: list, show, export.")
app.add_typer(clients_app, name="clients")
app.add_typer(audit_app, name="audit")
state_app = typer.Typer(no_args_is_help=True, help="The service state's database.")
app.add_typer(state_app, name="state")
app.add_typer(quarantine_app, name="quarantine")

reference_app = typer.Typer(no_args_is_help=True, help="Reference data: school and GP practice registers.")
app.add_typer(reference_app, name="reference")


@reference_app.command("load")
def reference_load(kind: Annotated[str, typer.Argument(help="establishments (GIAS edubasealldata CSV) | "
                                                            "gp-practices (NHS ODS epraccur.csv)")],
                   file: Path, data_dir_: DataDir = None) -> None:
    """Check a register file and replace the stored one with it, in one step."""
    from linkage.reference import load_reference

    from linkage.store.snapshots import current_id

    published = None
    try:
        with _reading(data_dir_, create=True) as store:
            result = load_reference(store, kind.replace("-", "_"), file)
            if current_id(store.home):       # servers serve snapshots: give them the new register
                published = _publish(store, "the register is loaded, but ")
    except LinkageError as exc:
        _fail(exc)
    console.print(f"{result.kind.replace('_', ' ')}: read {result.rows_read}, loaded {result.accepted}, "
                  f"left out {result.rejected} (load {result.load_id})")
    for note in result.notes:
        console.print(Text(note))
    for rows, title in ((result.problems, "rows left out (first 20)"),
                        (result.warnings, f"{result.warned} rows kept with a cell left empty (first 20)")):
        if rows:
            t = Table("line", "field", "reason", title=title)
            for line, field, reason in rows:
                t.add_row(str(line), Text(visible(field)), Text(visible(reason)))
            console.print(t)
    if published:
        console.print(published)


@reference_app.command("status")
def reference_status(fmt: FormatOption = Format.table, data_dir_: DataDir = None) -> None:
    """Which register file each kind of reference data was last loaded from, and how it went."""
    from linkage.store.reference import current_loads

    try:
        with _reading(data_dir_) as store:
            loads = current_loads(store.connection)
    except LinkageError as exc:
        _fail(exc)
    if fmt == Format.json:
        emit_json(loads)
        return
    header = ["kind", "file name", "loaded at", "rows read", "accepted", "rejected"]
    emit(header, [[row[h.replace(" ", "_")] for h in header] for row in loads], fmt)
    if not loads and fmt == Format.table:
        console.print("no reference data yet: run `linkage reference load establishments FILE`")


outcomes_app = typer.Typer(no_args_is_help=True, help="AP outcomes: placements, measures, published reports.")
app.add_typer(outcomes_app, name="outcomes")


@outcomes_app.command("report")
def outcomes_report(
        out: Annotated[Path, typer.Option(help="Directory for outcomes.html, outcomes.pdf and CSVs.")],
        by: Annotated[str, typer.Option(help="setting | placement_type | cohort | age_band | sen_status | "
                                             "social_care")] = "setting",
        cohort: Annotated[Optional[str], typer.Option(help="Academic year of entry, e.g. 2025/26.")] = None,
        as_at: Annotated[Optional[str], typer.Option("--as-at", help="Date measured on (default today).")] = None,
        rule: Annotated[str, typer.Option(help="dfe_cin (publication) | ons_10_5 (research export)")] = "dfe_cin",
        reintegration_weeks: Annotated[int, typer.Option(min=1, max=52)] = 6,
        data_dir_: DataDir = None) -> None:
    """Outcomes of AP placements, aggregated and disclosure-controlled, as HTML, PDF and CSV."""
    import re

    from linkage.errors import ConfigError
    from linkage.outcomes.build import outcomes_from, read_frames
    from linkage.outcomes.disclosure import RULES
    from linkage.outcomes.measures import Options
    from linkage.outcomes.report import write_report

    try:
        if rule not in RULES:
            raise ConfigError(f"unknown disclosure rule {rule!r}; choose {' or '.join(RULES)}")
        if cohort is not None and not re.fullmatch(r"[0-9]{4}/[0-9]{2}", cohort):
            raise ConfigError("a cohort is an academic year such as 2025/26")
        try:
            when = date.fromisoformat(as_at) if as_at else date.today()
        except ValueError:
            raise ConfigError("--as-at must be a date, YYYY-MM-DD") from None
        opts = Options(when, reintegration_weeks)
        with _reading(data_dir_) as store, console.status("measuring outcomes"):
            placements, units = read_frames(store.connection, opts)
        result = outcomes_from(placements, units, as_at=when, by=by, cohort=cohort, rule=RULES[rule])
        paths = write_report(result, out)
    except (LinkageError, ValueError) as exc:
        _fail(exc)
    console.print(f"placements: {result.placements} ({rule}); wrote " + ", ".join(str(p) for p in paths))


@outcomes_app.command("load-nccis")
def outcomes_load_nccis(file: Path,
                        mapping: Annotated[Optional[Path], typer.Option(help="YAML column mapping")] = None,
                        data_dir_: DataDir = None) -> None:
    """Load post-16 activity from the authority's NCCIS (CCIS) export, replacing the last load."""
    from linkage.outcomes.nccis import load_nccis, load_nccis_mapping

    try:
        with _reading(data_dir_, create=True) as store:
            result = load_nccis(store, file, load_nccis_mapping(mapping))
    except LinkageError as exc:
        _fail(exc)
    console.print(f"NCCIS activity: read {result.rows_read}, loaded {result.accepted}, left out {result.rejected}")
    for p in result.problems[:20]:
        console.print(Text(f"{p.field}: {p.reason}"))


QSource = Annotated[Optional[str], typer.Option("--source", help="education | social_care | health")]
QReason = Annotated[Optional[str], typer.Option("--reason", help="A reason code (e.g. invalid_date) or text "
                                                                 "found in the reason.")]
QExtract = Annotated[str, typer.Option("--extract", help="current: extracts not superseded; all: every extract.")]


@quarantine_app.command("list")
def quarantine_list(source: QSource = None, reason: QReason = None, extract: QExtract = "current",
                    limit: Annotated[Optional[int], typer.Option(min=1, help="At most this many problems.")] = None,
                    fmt: FormatOption = Format.table, data_dir_: DataDir = None) -> None:
    """Every quarantined problem: source, file, line, the agency's column, reason and code."""
    from linkage.views.quarantine import QuarantineFilter, quarantine_rows

    try:
        wanted = QuarantineFilter(source, reason, extract)
        with _reading(data_dir_) as store:
            total, rows = quarantine_rows(store.connection, wanted, limit=limit)
    except LinkageError as exc:
        _fail(exc)
    header = ["ref", "source", "file", "line", "record_id", "column", "reason", "code", "severity", "current"]
    emit(header, [[r.ref, r.source, r.file_name, r.line_no, r.record_id, r.column, r.reason, r.reason_code,
                   r.severity, r.current] for r in rows], fmt,
         title=f"quarantine ({extract} extracts): {total} problems" + (f", first {len(rows)}" if len(rows) < total
                                                                       else ""))
    if fmt == Format.table:
        console.print("`linkage quarantine show REF` for a row's every problem and cells; "
                      "`linkage quarantine codes` for the reason codes")


@quarantine_app.command("codes")
def quarantine_codes(fmt: FormatOption = Format.table) -> None:
    """The reason codes --reason accepts, and what each means."""
    from linkage.views.quarantine import REASON_CODES

    emit(["code", "meaning"], [[c, m] for c, (_, m) in REASON_CODES.items()] + [["other", "anything else"]], fmt)


@quarantine_app.command("show")
def quarantine_show(ref: Annotated[str, typer.Argument(help="EXTRACT:LINE, as `quarantine list` shows it.")],
                    fmt: FormatOption = Format.table, data_dir_: DataDir = None) -> None:
    """One quarantined row: every problem, and every cell exactly as the agency sent it."""
    from linkage.views.quarantine import row_detail

    try:
        with _reading(data_dir_) as store:
            detail = row_detail(store.connection, ref)
    except LinkageError as exc:
        _fail(exc)
    if fmt == Format.json:
        emit_json(detail)
        return
    if fmt == Format.csv:
        emit(["column", "value", "problem"], [[c["column"], c["value"], c["problem"]] for c in detail["cells"]], fmt)
        return
    console.print(Text(visible(f"{detail['source']} {detail['file_name']!r} line {detail['line_no']} "
                               f"(record {detail['record_id'] or '?'}; extract of {detail['extract_date']}, "
                               f"{'current' if detail['current'] else 'superseded'})")))
    emit(["column", "reason", "code", "severity"], [[p["column"], p["reason"], p["reason_code"],
                                                     p["severity"]] for p in detail["problems"]],
         title="problems")
    emit(["column", "value", "problem"], [[c["column"], c["value"], "<--" if c["problem"] else ""]
                                          for c in detail["cells"]], title="cells as sent")


@quarantine_app.command("export")
def quarantine_export(out: Annotated[Path, typer.Argument(help="CSV file to write (created 0600).")],
                      source: QSource = None, reason: QReason = None, extract: QExtract = "current",
                      data_dir_: DataDir = None) -> None:
    """CSV for the agency that supplied the extract: line, its own column, the value it sent,
    the reason. Cells a spreadsheet would run as formulas are neutralised."""
    from linkage.safetext import write_private_csv
    from linkage.views.quarantine import QuarantineFilter, export_rows, quarantine_rows

    try:
        wanted = QuarantineFilter(source, reason, extract)
        with _reading(data_dir_) as store:
            _, rows = quarantine_rows(store.connection, wanted, with_value=True)
        header, body = export_rows(rows)
        n = write_private_csv(out, header, body)
    except (LinkageError, OSError) as exc:
        _fail(exc)
    console.print(f"wrote {n} problems to {out}")


@app.command()
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




@app.command()
def serve(host: Annotated[Optional[str], typer.Option(help="default 127.0.0.1")] = None,
          port: Annotated[Optional[int], typer.Option(help="default 8000")] = None,
          workers: Annotated[int, typer.Option(min=1, max=16, help="Processes; each holds its own index.")] = 1,
          data_dir_: DataDir = None) -> None:
    """Serve the consent-aware API (OpenAPI at /docs)."""
    import os

    import uvicorn

    from linkage.api import create_app
    from linkage.api.app import hold_sighup
    from linkage.api.protocol import CoalescingHttp
    from linkage.config import Settings

    if host:
        os.environ["LINKAGE_HOST"] = host
    try:
        get_settings.cache_clear()
        settings = Settings()
    except Exception as exc:  # pydantic's ValidationError, shown plainly
        _fail(exc)
    hold_sighup()       # a reload sent while starting must not end the server
    _warn_key_in_data_dir(data_dir(data_dir_), settings)
    if settings.behind_tls and not settings.trusted_proxies:
        err.print("[yellow]warning:[/] LINKAGE_BEHIND_TLS is set but LINKAGE_TRUSTED_PROXIES is empty: every "
                  "request will count as coming from the proxy's address (one caller's guesses throttle "
                  "everyone's tokens and sign-ins). Name the proxy (deploy/linkage.env.example).")
    from linkage.service.container import check_keys
    from linkage.store.snapshots import checked_snapshot

    with _failures(data_dir_):      # a tampered or partial snapshot, a lost key: one line, before any worker starts
        checked_snapshot(data_dir(data_dir_), db_key=settings.db_key.get_secret_value() if settings.db_key else None)
        check_keys(data_dir(data_dir_))
    # No ``server: uvicorn`` banner to tell an attacker what to aim at; Date stays (RFC 9110).
    # X-Forwarded-* believed from the configured proxy only (uvicorn's default: any loopback peer).
    # Each response reaches the socket in one write (api/protocol.py).
    quiet = dict(http=CoalescingHttp, host=settings.host, port=port or settings.port, log_level="info",
                 access_log=False, server_header=False, date_header=True, log_config=_log_config(),
                 proxy_headers=bool(settings.trusted_proxies), forwarded_allow_ips=settings.trusted_proxies or None)
    if workers > 1:
        from linkage.access.pseudonyms import Pseudonyms
        from linkage.access.tokens import TokenService
        from linkage.audit import open_audit_log
        from linkage.audit.signer import signer_from_settings
        from linkage.store import Store
        from linkage.store.state import ServiceState

        home = data_dir(data_dir_)
        # Create every key and file once, here, before the workers race for them.
        Store(home, key=settings.db_key.get_secret_value() if settings.db_key else None).close()
        TokenService(home, settings)
        Pseudonyms(home, ServiceState(home))
        open_audit_log(home, signer=signer_from_settings(home, settings)).close()
        os.environ["LINKAGE_HOME"] = str(home)
        from linkage.api.workers import run_workers

        run_workers("linkage.api.app:factory", workers, factory=True, **quiet)
        return
    application = create_app(data_dir(data_dir_), settings)
    uvicorn.run(application, **quiet)


def _warn_key_in_data_dir(home: Path, settings) -> None:
    from linkage.audit.signer import signer_from_settings

    try:
        signer = signer_from_settings(home, settings)
    except LinkageError as exc:
        _fail(exc)
    if signer.in_data_dir:
        err.print(f"[yellow]warning:[/] the audit signing key is in the data directory ({signer.where}): "
                  "whoever can rewrite the log can re-sign it. Keep it elsewhere "
                  "(LINKAGE_AUDIT_KEY_FILE, LINKAGE_AUDIT_KEY_PEM or LINKAGE_AUDIT_SIGN_COMMAND; deploy/README.md).")


def _log_config() -> dict:
    """Uvicorn's logging plus linkage's own loggers (security events), in every worker."""
    import copy

    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"]["linkage"] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    return config


def _registers(home: Optional[Path]):
    from linkage.access.clients import ClientRegistry
    from linkage.store.state import ServiceState

    clients = ClientRegistry(ServiceState(data_dir(home)))
    return clients.orgs, clients


@orgs_app.command("add")
def orgs_add(name: Annotated[str, typer.Option(help="Display name, e.g. Oak AP Academy.")],
             type_: Annotated[str, typer.Option("--type", help="ap_school | school | social_care | health | "
                                                              "la_education | dpo (policies/roles.yaml)")],
             code: Annotated[str, typer.Option(help="School URN (6 digits), NHS ODS code, or local-authority "
                                                    "code (3 digits).")],
             data_dir_: DataDir = None) -> None:
    """Register an organisation; its clients take their type and roles from it."""
    try:
        org = _registers(data_dir_)[0].add(name, type_, code)
    except LinkageError as exc:
        _fail(exc)
    console.print(f"org_id: {org.org_id}  ({org.org_type} {org.code}, {org.name})")


@orgs_app.command("list")
def orgs_list(fmt: FormatOption = Format.table, data_dir_: DataDir = None) -> None:
    """Every registered organisation with its type, official code and status."""
    rows = [[o.org_id, o.name, o.org_type, o.code, "active" if o.active else "disabled"]
            for o in _registers(data_dir_)[0].list()]
    emit(["org_id", "name", "type", "code", "status"], rows, fmt, title="organisations", console=console)


def _set_org(ref: str, active: bool, home: Optional[Path]) -> None:
    try:
        org = _registers(home)[0].set_active(ref, active)
    except LinkageError as exc:
        _fail(exc)
    console.print(f"{'enabled' if active else 'disabled'} {org.name} ({org.org_id}); "
                  f"its clients' tokens {'work again' if active else 'stop'} at once")


@orgs_app.command("disable")
def orgs_disable(org: Annotated[str, typer.Argument(help="org id or official code")],
                 data_dir_: DataDir = None) -> None:
    """Stop every client of an organisation, at once."""
    _set_org(org, False, data_dir_)


@orgs_app.command("enable")
def orgs_enable(org: Annotated[str, typer.Argument(help="org id or official code")],
                data_dir_: DataDir = None) -> None:
    _set_org(org, True, data_dir_)


def _print_secret(client_id: str, secret: str) -> None:
    console.print(f"client_id: {client_id}")
    console.print(f"client_secret: {secret}")
    console.print("[yellow]The secret is shown once and cannot be recovered; store it now.[/]")


@clients_app.command("add")
def clients_add(name: Annotated[str, typer.Option()],
                org: Annotated[str, typer.Option(help="The registered organisation's org id or official code.")],
                role: Annotated[str, typer.Option(help="One of the organisation type's roles "
                                                       "(policies/roles.yaml).")],
                data_dir_: DataDir = None) -> None:
    """Register a client of an organisation and print its secret, once. Only a hash of the secret is kept."""
    try:
        client, secret = _registers(data_dir_)[1].add(name, org, role)
    except LinkageError as exc:
        _fail(exc)
    _print_secret(client.client_id, secret)


@clients_app.command("list")
def clients_list(fmt: FormatOption = Format.table, data_dir_: DataDir = None) -> None:
    """Every client with its organisation, role and whether it may sign in now."""
    import time

    now = time.time()
    rows = [[c.client_id, c.name, c.agency, c.agency_type, c.role,
             "disabled" if c.disabled else "organisation disabled" if not c.org.active
             else "locked out" if c.locked_until > now else "active"] for c in _registers(data_dir_)[1].list()]
    emit(["client_id", "name", "organisation", "type", "role", "status"], rows, fmt, title="clients",
         console=console)


@clients_app.command("rotate")
def clients_rotate(client_id: str, data_dir_: DataDir = None) -> None:
    """A new secret, printed once; the old secret and its tokens stop working at once."""
    try:
        secret = _registers(data_dir_)[1].rotate(client_id)
    except LinkageError as exc:
        _fail(exc)
    _print_secret(client_id, secret)


def _set_client(client_id: str, active: bool, home: Optional[Path]) -> None:
    try:
        _registers(home)[1].set_active(client_id, active)
    except LinkageError as exc:
        _fail(exc)
    console.print(f"disabled {client_id}; its tokens stop working at once" if not active
                  else f"enabled {client_id}; it needs a new token")


@clients_app.command("disable")
def clients_disable(client_id: str, data_dir_: DataDir = None) -> None:
    _set_client(client_id, False, data_dir_)


@clients_app.command("enable")
def clients_enable(client_id: str, data_dir_: DataDir = None) -> None:
    _set_client(client_id, True, data_dir_)


def _audit_log(home: Optional[Path]):
    from linkage.audit import open_audit_log
    from linkage.audit.signer import signer_from_settings

    home = data_dir(home)
    s = get_settings()
    return open_audit_log(home, s.audit_checkpoint_every, signer_from_settings(home, s))


@state_app.command("migrate")
def state_migrate(to: Annotated[str, typer.Option(help="The empty PostgreSQL database, postgresql://...")],
                  data_dir_: DataDir = None) -> None:
    """Copy this data directory's service state and audit log into an empty PostgreSQL, once,
    with the servers stopped; then set LINKAGE_STATE_URL to it."""
    from linkage.access.relationships import Relationships
    from linkage.audit import AuditLog
    from linkage.audit.pg import PostgresAuditLog
    from linkage.audit.signer import signer_from_settings
    from linkage.store.state import ServiceState, is_postgres_url
    from linkage.store.state.migrate import copy_state
    from linkage.store.state.sqlite import SQLiteState

    home, s = data_dir(data_dir_), get_settings()
    if not is_postgres_url(to):
        _fail(LinkageError("--to must be a postgresql:// URL"))
    try:
        source, target = SQLiteState(home, "sqlite:///" + str(home / "service.sqlite")), ServiceState(home, to)
        Relationships(source, s.relationship_days), Relationships(target, s.relationship_days)
        counts = copy_state(source, target)
        signer = signer_from_settings(home, s)
        old = AuditLog(home, s.audit_checkpoint_every, signer)
        new = PostgresAuditLog(home, s.audit_checkpoint_every, signer, url=to)
        entries = new.import_file(old)
        new.close()
    except LinkageError as exc:
        _fail(exc)
    console.print(", ".join(f"{n} {t}" for t, n in counts.items()) + f"; {entries} audit entries. "
                  "Set LINKAGE_STATE_URL to the database and start the servers.")


@audit_app.command("verify")
def audit_verify(checkpoint: Annotated[Optional[list[Path]], typer.Option(
                     help="Checkpoint files exported earlier, e.g. held by the DPO.")] = None,
                 witness: Annotated[Optional[Path], typer.Option(
                     help="A witness directory (`linkage audit witness --store DIR`): its checkpoints, "
                          "checked with its pinned key.")] = None,
                 data_dir_: DataDir = None) -> None:
    """Find any edited, deleted, inserted, reordered, truncated or forged entry, and say where."""
    from linkage.audit.signer import load_public_key
    from linkage.audit.witness import Witness

    try:
        log = _audit_log(data_dir_)
        extra = []
        for path in checkpoint or []:
            extra.extend(json.loads(path.read_text())["checkpoints"])
        witnessed, pinned, problems = [], None, []
        if witness is not None:
            w = Witness(witness)
            if w.pinned() is None:
                _fail(LinkageError(f"{witness} is not a witness directory (no pinned.pem)"))
            pinned, witnessed = load_public_key(w.pinned()), w.checkpoints()
            if log.public_key_pem().strip() != w.pinned().strip():
                problems.append("the service's audit key is not the key the witness pinned (log re-signed?)")
        problems += [str(p) for p in log.verify(extra, witnessed, pinned)]
        head = log.head()
    except LinkageError as exc:
        _fail(exc)
    if problems:
        for p in problems:
            err.print(f"[bold red]TAMPERED[/] {p}")
        raise typer.Exit(1)
    console.print(f"audit log intact: {head} entries, {len(log.checkpoints()) + len(extra)} signed checkpoints "
                  f"verified" + (f", {len(witnessed)} witnessed" if witness else ""))
    if witness is not None:
        last = witnessed[-1]["seq"] if witnessed else 0
        if head > last:
            console.print(f"{head - last} entries after the last witnessed checkpoint (seq {last}) are not "
                          "witnessed yet: run `linkage audit witness`")


@audit_app.command("checkpoints")
def audit_checkpoints(out: Path,
                      since: Annotated[int, typer.Option(min=0, help="Leaf digests from this seq on.")] = 0,
                      data_dir_: DataDir = None) -> None:
    """Export the signed checkpoints, the public key and the entries' leaf digests (no personal data).
    Writes nothing to the log; `linkage audit seal` signs a new checkpoint."""
    from linkage.audit.witness import export

    try:
        data = export(_audit_log(data_dir_), since)
    except LinkageError as exc:
        _fail(exc)
    with _failures(data_dir_):
        write_private(out, json.dumps(data, indent=2))
    console.print(f"wrote {len(data['checkpoints'])} checkpoints to {out}")


@audit_app.command("seal")
def audit_seal(acknowledge: Annotated[bool, typer.Option(
                   help="Seal even over lines the service did not write (after reading `linkage audit "
                        "verify`), recording that in the log.")] = False,
               data_dir_: DataDir = None) -> None:
    """Sign a checkpoint over the log's head now."""
    try:
        cp = _audit_log(data_dir_).checkpoint(acknowledge)
    except LinkageError as exc:
        _fail(exc)
    console.print(f"sealed: checkpoint at seq {cp['seq']}")


@audit_app.command("witness")
def audit_witness(store: Annotated[Path, typer.Option(help="The witness's own directory, off the server.")],
                  from_: Annotated[Optional[str], typer.Option(
                      "--from", help="A file from `linkage audit checkpoints`, or the service's URL "
                                     "(default: the data directory on this machine).")] = None,
                  token: Annotated[Optional[str], typer.Option(envvar="LINKAGE_WITNESS_TOKEN",
                                                               help="A DPO bearer token, for a URL.")] = None,
                  client_id: Annotated[Optional[str], typer.Option(envvar="LINKAGE_WITNESS_CLIENT_ID")] = None,
                  client_secret: Annotated[Optional[str], typer.Option(envvar="LINKAGE_WITNESS_CLIENT_SECRET",
                                                                       help="A DPO client, for a URL.")] = None,
                  max_unsealed: Annotated[float, typer.Option(
                      help="Fail if an entry has waited longer than this (seconds) for a checkpoint.")] = 120.0,
                  data_dir_: DataDir = None) -> None:
    """Keep the service's checkpoints; fail if the log was rewritten, truncated or re-signed since,
    or if sealing has stalled."""
    from linkage.audit.witness import FileSource, HttpSource, LocalSource, Witness

    try:
        if from_ and from_.startswith(("http://", "https://")):
            source = HttpSource(from_, lambda: token or _client_token(from_, client_id, client_secret))
        elif from_:
            source = FileSource(Path(from_))
        else:
            source = LocalSource(_audit_log(data_dir_))
        outcome = Witness(store).observe(source, max_unsealed)
    except LinkageError as exc:
        err.print(f"[bold red]WITNESS FAILED[/] {exc}")
        raise typer.Exit(1)
    for note in outcome.notes:
        console.print(note)
    latest = outcome.latest["seq"] if outcome.latest else 0
    console.print(f"witnessed {len(outcome.accepted)} new checkpoints; latest seq {latest}, consistent with "
                  "everything witnessed before")
    if outcome.stalled:
        err.print(f"[bold red]WITNESS FAILED[/] {outcome.stalled}")
        raise typer.Exit(1)


def _client_token(url: str, client_id: Optional[str], secret: Optional[str]) -> str:
    import httpx

    if not (client_id and secret):
        raise LinkageError("a URL needs --token or a DPO client (--client-id, --client-secret)")
    r = httpx.post(url.rstrip("/") + "/oauth/token", data={"grant_type": "client_credentials"},
                   auth=(client_id, secret), timeout=30)
    if r.status_code != 200:
        raise LinkageError(f"token request refused: HTTP {r.status_code}")
    return r.json()["access_token"]


# -- clerical review ---------------------------------------------------------------------------

review_app = typer.Typer(no_args_is_help=True, help="Work the clerical review queue; decisions bind later runs.")
app.add_typer(review_app, name="review")


def _review_view(data_dir_: Optional[Path], features: bool = False):
    from linkage.link.review import ReviewView
    from linkage.link.run import open_decisions

    store = _store(data_dir_)
    try:
        return store, ReviewView.load(store, features=features), open_decisions(store.home)
    except BaseException:
        store.close()
        raise


def _emit(rows: list[dict], fmt: Format, title: str = "") -> None:
    """Rows as a terminal table that fits, CSV (cells neutralised) or JSON on stdout."""
    header = list(rows[0]) if rows else ["(none)"]
    emit(header, [list(r.values()) for r in rows], fmt, title=title or None, console=console)


def _audit_decision(home: Path, reviewer: str, action: str, detail: dict) -> None:
    from linkage.audit import open_audit_log

    log = open_audit_log(home)
    try:
        log.append({"action": action, "decision": "recorded", "person": reviewer, "channel": "cli",
                    "client_id": None, "purpose": "data_management", **detail})
    finally:
        log.close()


@review_app.command("list")
def review_list(reason: Annotated[Optional[str], typer.Option(help="Only reasons containing this text.")] = None,
                min_p: Annotated[float, typer.Option("--min-p", min=0, max=1, help="Lowest match probability.")] = 0.0,
                max_p: Annotated[float, typer.Option("--max-p", min=0, max=1, help="Highest match probability.")] = 1.0,
                order: Annotated[str, typer.Option(help="priority (expected benefit: closeness to 0.5 times "
                                                        "records affected) | match_weight | match_probability "
                                                        "| first_run")] = "priority",
                limit: Annotated[int, typer.Option(min=0, help="At most this many (0: all).")] = 50,
                fmt: FormatOption = Format.table, data_dir_: DataDir = None) -> None:
    """Open pairs, most useful to decide first."""
    try:
        store, view, decisions = _review_view(data_dir_)
        store.close()
        pairs = view.open_pairs(decisions.latest(), reason, min_p, max_p, order)
    except LinkageError as exc:
        _fail(exc)
    shown = pairs if not limit else pairs.head(limit)
    rows = [{"id": r.pair_id, "probability": round(r.match_probability, 3),
             "weight": None if r.match_weight != r.match_weight else round(r.match_weight, 2),
             "priority": round(r.priority, 2), "records": int(r.cluster_size), "left": r.record_key_l,
             "right": r.record_key_r, "last": r.last_decision, "reason": r.reason} for r in shown.itertuples()]
    if fmt == "table" and console.width < 160:   # fit the terminal: the records are in `review show`
        rows = [{k: v for k, v in r.items() if k not in ("left", "right")} for r in rows]
    _emit(rows, fmt, f"{len(pairs)} open pairs" + (f" (first {limit})" if limit and len(pairs) > limit else ""))


@review_app.command("show")
def review_show(pair: str, chart: Annotated[Optional[Path], typer.Option(
                    "--chart", help="Also write Splink's waterfall chart for the pair to this HTML file.")] = None,
                data_dir_: DataDir = None) -> None:
    """Both records side by side, differences marked, and why the model scored them as it did."""
    try:
        store, view, decisions = _review_view(data_dir_, features=True)
        store.close()
        p = view.pair(pair)
        fields = view.side_by_side(pair)
        why = view.explain(pair, chart=chart is not None)
    except LinkageError as exc:
        _fail(exc)
    weight = "" if p["match_weight"] != p["match_weight"] else f", match weight {p['match_weight']:.2f}"
    console.print(f"[bold]{pair}[/]: {p['reason']}; match probability {p['match_probability']:.3f}{weight}; "
                  f"{p['cluster_size']} records affected")
    table = Table("field", "left", "right", "")
    for name, a, b, differs, written in fields:
        mark = ("[bold yellow]≠[/]" if differs and a and b else "[dim]missing[/]" if differs
                else "[dim]same, written differently[/]" if written else "")
        table.add_row(name, a, b, mark)
    console.print(table)
    steps = Table("comparison", "level", "Bayes factor", "partial weight", "cumulative", title="match weight (Splink waterfall)")
    for s in why.steps:
        steps.add_row(s.comparison, s.level, f"{s.bayes_factor:.4g}", f"{s.match_weight:+.2f}", f"{s.cumulative:+.2f}")
    console.print(steps)
    for d in decisions.history(pair):
        console.print(f"decided {d.decision} by {d.reviewer} at {d.decided_at[:19]} via {d.channel}"
                      + (f": {d.note}" if d.note else ""))
    if chart is not None:
        with _failures(data_dir_):
            write_private(chart, why.chart_html)
        console.print(f"waterfall chart written to {chart}")


def _need_reviewer(reviewer: str) -> None:
    if not reviewer.strip():
        _fail(LinkageError("name who decides with --reviewer NAME (recorded with the decision and audited)"))


@review_app.command("decide")
def review_decide(pair: str,
                  match: Annotated[bool, typer.Option("--match", help="The two records are one child.")] = False,
                  not_match: Annotated[bool, typer.Option("--not-match", help="Two different children.")] = False,
                  unsure: Annotated[bool, typer.Option("--unsure", help="Leave it open, with a note.")] = False,
                  reviewer: Annotated[str, typer.Option(help="Who decides (recorded and audited).")] = "",
                  note: Annotated[str, typer.Option(help="Why.")] = "",
                  data_dir_: DataDir = None) -> None:
    """Record a decision on a pair; the next `linkage link` honours it."""
    chosen = [name for name, on in (("match", match), ("not_match", not_match), ("unsure", unsure)) if on]
    if len(chosen) != 1:
        _fail(LinkageError("give exactly one of --match, --not-match, --unsure"))
    _need_reviewer(reviewer)
    try:
        store, view, decisions = _review_view(data_dir_)
        home = store.home
        store.close()
        d = view.decide(decisions, pair, chosen[0], reviewer=reviewer, note=note, channel="cli")
        _audit_decision(home, d.reviewer, "review.decide", {"pair_id": d.pair_id, "review_decision": d.decision,
                                                            "decision_id": d.decision_id,
                                                            "children": view.children(pair)})
    except LinkageError as exc:
        _fail(exc)
    console.print(f"recorded: {pair} {d.decision.replace('_', ' ')} by {d.reviewer}; the next `linkage link` "
                  "honours it")


@review_app.command("cluster")
def review_cluster(child_id: str, fmt: FormatOption = Format.table, data_dir_: DataDir = None) -> None:
    """Every record of one child, from every source."""
    from linkage.link.review import child_records

    try:
        store = _store(data_dir_)
        try:
            current, members = child_records(store, child_id)
        finally:
            store.close()
    except LinkageError as exc:
        _fail(exc)
    rows = [{k: ("" if v is None or v != v else str(v)[:10] if k in ("date_of_birth", "extract_date") else v)
             for k, v in r.items()} for r in members.to_dict("records")]
    _emit(rows, fmt, f"{current}: {len(rows)} records" + (f" (was {child_id})" if current != child_id else ""))


@review_app.command("split")
def review_split(child_id: str, record_key: str,
                 reviewer: Annotated[str, typer.Option(help="Who decides (recorded and audited).")] = "",
                 note: Annotated[str, typer.Option(help="Why.")] = "",
                 data_dir_: DataDir = None) -> None:
    """Split RECORD_KEY out of CHILD_ID: the next link keeps it apart from the child's other records."""
    from linkage.link.review import split_out
    from linkage.link.run import open_decisions

    _need_reviewer(reviewer)
    record_key = record_key.strip()
    try:
        store = _store(data_dir_)
        try:
            made = split_out(store, open_decisions(store.home), child_id, record_key, reviewer=reviewer, note=note,
                             channel="cli")
        finally:
            store.close()
        _audit_decision(store.home, made[0].reviewer, "review.split", {
            "children": [made[0].child_id], "record_key": record_key, "pairs": len(made),
            "decision_ids": [d.decision_id for d in made]})
    except LinkageError as exc:
        _fail(exc)
    apart = sum(d.decision == "not_match" for d in made)
    console.print(f"recorded: {record_key} split out of {made[0].child_id} ({apart} not-a-match pairs, "
                  f"its other {apart} record(s) kept as one child); "
                  "the next `linkage link` honours it")


quality_app = typer.Typer(help="How good the linkage is, judged by the reviewers' decisions.")
app.add_typer(quality_app, name="quality")


def _known(value: float | None) -> float | str:
    """A measure whose denominator is empty is printed as not known, never as a perfect 1.0."""
    return "n/a" if value is None else round(value, 4)


@quality_app.callback(invoke_without_command=True)
def quality(ctx: typer.Context,
            threshold: Annotated[Optional[float], typer.Option(help="Match probability to judge at.")] = None,
            fmt: FormatOption = Format.table, data_dir_: DataDir = None) -> None:
    """Precision and recall estimated from review decisions (Splink's accuracy_analysis_from_labels_table).

    The decisions sample the borderline pairs the queue offered, so these figures describe the model
    where it is least sure, not all pairs."""
    if ctx.invoked_subcommand is not None:
        return
    from linkage.link.quality import label_quality
    from linkage.link.run import open_decisions

    try:
        store = _store(data_dir_)
        try:
            with console.status("scoring the labelled pairs"):
                q = label_quality(store, open_decisions(store.home), threshold or get_settings().match_threshold)
        finally:
            store.close()
    except LinkageError as exc:
        _fail(exc)
    rows = [{"labels": q.labels, "matches": q.positives, "not matches": q.negatives, "threshold": q.threshold,
             "precision": _known(q.precision), "recall": _known(q.recall), "f1": _known(q.f1),
             "tp": q.tp, "fp": q.fp, "fn": q.fn, "tn": q.tn}]
    if fmt == "table":
        rows = [{"measure": k, "value": v} for k, v in rows[0].items()]
    _emit(rows, fmt, "linkage quality from review decisions")


from linkage.cli_users import register as _register_users  # noqa: E402

_register_users(app, console, _fail, DataDir)


def main() -> None:  # pragma: no cover
    app()


if __name__ == "__main__":  # pragma: no cover
    app()
