"""The ``linkage`` command: synth, ingest, link, export-ids, status and demo."""

from __future__ import annotations

import csv
import json
from datetime import date
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from linkage.config import data_dir, get_settings
from linkage.errors import LinkageError

app = typer.Typer(no_args_is_help=True, add_completion=False,
                  help="Link children's records across agencies into one pseudonymous identifier.")
console = Console()
err = Console(stderr=True)

DataDir = Annotated[Optional[Path], typer.Option("--data-dir", help="Data directory (default ./.linkage or $LINKAGE_HOME).")]


def _store(home: Optional[Path]):
    from linkage.store import Store

    s = get_settings()
    return Store(data_dir(home), key=s.db_key.get_secret_value() if s.db_key else None,
                 memory_limit=s.memory_limit, threads=s.threads)


def _fail(exc: Exception) -> None:
    err.print(f"[bold red]error:[/] {exc}")
    raise typer.Exit(2)


@app.command()
def synth(children: Annotated[int, typer.Option(min=1)] = 3000, seed: int = 42,
          out: Annotated[Path, typer.Option()] = Path("synthetic"),
          month: Annotated[int, typer.Option(min=1, help="Month of extracts: 2 is a month after 1.")] = 1) -> None:
    """Write synthetic education, social-care and health extracts plus truth.csv."""
    from linkage.synth import synthesise

    with console.status("generating synthetic children"):
        manifest = synthesise(children, seed, out, month)
    console.print(f"wrote {out}/ : {json.dumps(manifest['records'])}, extract date {manifest['extract_date']}")


@app.command()
def ingest(file: Path,
           source: Annotated[str, typer.Option(help="education | social_care | health")],
           mapping: Annotated[Optional[Path], typer.Option(help="YAML column mapping")] = None,
           extract_date: Annotated[Optional[str], typer.Option(help="YYYY-MM-DD; default today")] = None,
           table: Annotated[Optional[str], typer.Option(help="table to read from a DuckDB database file")] = None,
           data_dir_: DataDir = None) -> None:
    """Validate and store one extract; bad rows go to quarantine with their reasons."""
    from linkage.connectors import ingest_file
    from linkage.validation import parse_date

    try:
        when = parse_date(extract_date) if extract_date else None
        store = _store(data_dir_)
        with Progress(SpinnerColumn(), TextColumn("{task.description}"), TextColumn("{task.completed} rows"),
                      TimeElapsedColumn(), console=console, transient=True) as bar:
            task = bar.add_task(f"reading {file.name}", total=None)
            result = ingest_file(store, source, file, mapping, when, table,
                                 progress=lambda n: bar.advance(task, n))
        store.close()
    except LinkageError as exc:
        _fail(exc)
    if result.already_ingested:
        console.print(f"{file.name} was already ingested (same SHA-256); nothing changed.")
    console.print(f"{result.source}: read {result.rows_read}, accepted {result.accepted}, "
                  f"quarantined {result.quarantined}")
    if result.problems_sample:
        t = Table("row", "field", "reason", title="problems (first 20; all in quarantine)")
        for line, field, reason in result.problems_sample:
            t.add_row(str(line), field, reason)
        console.print(t)


@app.command()
def link(full: Annotated[bool, typer.Option(help="Re-score every record, not just new ones.")] = False,
         retrain: Annotated[bool, typer.Option(help="Train a new model first.")] = False,
         threshold: Annotated[Optional[float], typer.Option(help="Match probability to link at.")] = None,
         model: Annotated[Optional[Path], typer.Option(help="Use this saved model (JSON) instead of training.")] = None,
         data_dir_: DataDir = None) -> None:
    """Train (if no model yet), predict, cluster and keep child identifiers stable."""
    from linkage.link import run_link
    from linkage.link.run import STAGES, export_model, import_model

    s = get_settings()
    try:
        store = _store(data_dir_)
        if model is not None:
            import_model(store, model)
        with Progress(SpinnerColumn(), TextColumn("[bold]{task.fields[stage]}[/] {task.description}"), BarColumn(),
                      TextColumn("stage {task.completed:.0f}/{task.total:.0f}"), TimeElapsedColumn(),
                      console=console, transient=not console.is_terminal) as bar:
            task = bar.add_task("", total=len(STAGES), stage="linking")

            def step(stage: str, detail: str) -> None:
                bar.update(task, completed=STAGES.index(stage), stage=stage, description=detail)

            result = run_link(store, threshold or s.match_threshold, s.review_lower, full, retrain, step=step)
            bar.update(task, completed=len(STAGES), stage="done", description="")
        model = export_model(store, store.home)
        store.close()
    except LinkageError as exc:
        _fail(exc)
    console.print(f"run {result.run_id} ({result.mode}): {result.records} records -> {result.children} children; "
                  f"scored {result.scored_records}; new ids {result.new_ids}, merges {result.merges}, "
                  f"splits {result.splits}; {result.review_pairs} pairs for clerical review"
                  + (f"; {result.decisions_honoured} review decisions honoured" if result.decisions_honoured else ""))
    if result.labels_used:
        console.print(f"m probabilities estimated from {result.labels_used} reviewer-confirmed matches")
    if result.trained:
        console.print(f"model trained and saved to {model}")


@app.command("export-ids")
def export_ids(out: Path, data_dir_: DataDir = None) -> None:
    """Write source, source_record_id and child_id for every current record."""
    from linkage.store.schema import t

    try:
        store = _store(data_dir_)
        # Every accepted record, from current and superseded extracts alike.
        rows = store.rows(f"SELECT DISTINCT r.source, r.source_record_id, i.child_id FROM {t('records')} r "
                          f"LEFT JOIN {t('identity')} i USING (record_key) ORDER BY 1, 2")
        store.close()
    except LinkageError as exc:
        _fail(exc)
    unlinked = sum(1 for r in rows if r[2] is None)
    with open(out, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["source", "source_record_id", "child_id"])
        w.writerows(rows)
    console.print(f"wrote {len(rows)} records to {out}" + (f" ({unlinked} not yet linked: run `linkage link`)"
                                                          if unlinked else ""))


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
def status(data_dir_: DataDir = None) -> None:
    """Sources, counts, the last run, and the quarantine and review queues."""
    from linkage.store.schema import t

    try:
        store = _store(data_dir_)
    except LinkageError as exc:
        _fail(exc)
    table = Table("source", "current extract", "extract date", "rows", "accepted", "quarantined", "older extracts")
    for src, name, when, read, acc, quar, older in store.rows(f"""
        SELECT source, arg_max(file_name, extract_id) FILTER (WHERE superseded_by IS NULL),
               max(extract_date) FILTER (WHERE superseded_by IS NULL),
               sum(rows_read) FILTER (WHERE superseded_by IS NULL), sum(accepted) FILTER (WHERE superseded_by IS NULL),
               sum(quarantined) FILTER (WHERE superseded_by IS NULL), count(*) FILTER (WHERE superseded_by IS NOT NULL)
        FROM {t('extracts')} GROUP BY source ORDER BY source"""):
        table.add_row(src, str(name), str(when), str(read), str(acc), str(quar), str(older))
    console.print(table)
    last = store.rows(f"SELECT run_id, finished_at, mode, records, children, new_ids, merges, splits "
                      f"FROM {t('runs')} ORDER BY run_id DESC LIMIT 1")
    if last:
        r = last[0]
        console.print(f"last run {r[0]} at {r[1]:%Y-%m-%d %H:%M} UTC ({r[2]}): {r[3]} records, {r[4]} children, "
                      f"{r[5]} new ids, {r[6]} merges, {r[7]} splits")
    else:
        console.print("no linkage run yet: run `linkage link`")
    q = store.scalar(f"SELECT count(DISTINCT (extract_id, line_no)) FROM {t('quarantine')}")
    rq = store.scalar(f"SELECT count(*) FROM {t('review_queue')} WHERE status = 'open'")
    console.print(f"quarantine: {q} rows; clerical review queue: {rq} open pairs")
    store.close()


@app.command()
def demo(children: int = 3000, seed: int = 42,
         work_dir: Annotated[Path, typer.Option()] = Path(".demo")) -> None:
    """Synthesise, ingest, link, then score against the truth file."""
    from linkage.connectors import ingest_file
    from linkage.link import load_truth, load_twins, run_link, score_clusters
    from linkage.store import Store
    from linkage.synth import synthesise
    from linkage.views import cme_children

    extracts = work_dir / "extracts"
    home = work_dir / "data"
    if home.exists():
        import shutil

        shutil.rmtree(home)
    with console.status(f"synthesising {children} children"):
        manifest = synthesise(children, seed, extracts)
    when = date.fromisoformat(manifest["extract_date"])
    store = Store(home)
    for source in ("education", "social_care", "health"):
        r = ingest_file(store, source, extracts / f"{source}.csv", extract_date=when)
        console.print(f"ingested {source}: read {r.rows_read}, accepted {r.accepted}, quarantined {r.quarantined}")
    with console.status("linking"):
        result = run_link(store, get_settings().match_threshold, get_settings().review_lower)
    predicted = dict(store.rows("SELECT record_key, child_id FROM store.identity"))
    scores = score_clusters(predicted, load_truth(extracts / "truth.csv"), load_twins(extracts / "twins.csv"))
    cme = cme_children(store, when)
    store.close()
    t = Table(title=f"linkage demo: {children} synthetic children, seed {seed}")
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
    console.print(t)
    console.print(f"data directory: {home} (encrypted); extracts: {extracts}")


clients_app = typer.Typer(no_args_is_help=True, help="Register the agencies' API clients.")
audit_app = typer.Typer(no_args_is_help=True, help="Check and export the audit log.")
app.add_typer(clients_app, name="clients")
app.add_typer(audit_app, name="audit")


@app.command()
def serve(host: Annotated[Optional[str], typer.Option(help="default 127.0.0.1")] = None,
          port: Annotated[Optional[int], typer.Option(help="default 8000")] = None,
          workers: Annotated[int, typer.Option(min=1, max=16, help="Processes; each holds its own index.")] = 1,
          data_dir_: DataDir = None) -> None:
    """Serve the consent-aware API (OpenAPI at /docs)."""
    import os

    import uvicorn

    from linkage.api import create_app
    from linkage.config import Settings

    if host:
        os.environ["LINKAGE_HOST"] = host
    try:
        get_settings.cache_clear()
        settings = Settings()
    except Exception as exc:  # pydantic's ValidationError, shown plainly
        _fail(exc)
    if workers > 1:
        from linkage.access.pseudonyms import Pseudonyms
        from linkage.access.tokens import TokenService
        from linkage.audit import AuditLog
        from linkage.store import Store
        from linkage.store.state import ServiceState

        home = data_dir(data_dir_)
        # Create every key and file once, here, before the workers race for them.
        Store(home, key=settings.db_key.get_secret_value() if settings.db_key else None).close()
        TokenService(home, settings)
        Pseudonyms(home, ServiceState(home))
        AuditLog(home)._fh.close()
        os.environ["LINKAGE_HOME"] = str(home)
        uvicorn.run("linkage.api.app:factory", factory=True, workers=workers, host=settings.host,
                    port=port or settings.port, log_level="info", access_log=False)
        return
    application = create_app(data_dir(data_dir_), settings)
    uvicorn.run(application, host=settings.host, port=port or settings.port, log_level="info",
                access_log=False)


@clients_app.command("add")
def clients_add(name: Annotated[str, typer.Option()], agency: Annotated[str, typer.Option()],
                agency_type: Annotated[str, typer.Option(help="ap_school | school | social_care | health | "
                                                              "la_education | dpo")],
                role: Annotated[str, typer.Option()], data_dir_: DataDir = None) -> None:
    """Register a client and print its secret, once. Only a hash of the secret is kept."""
    from linkage.access.clients import ClientRegistry
    from linkage.store.state import ServiceState

    try:
        client, secret = ClientRegistry(ServiceState(data_dir(data_dir_))).add(name, agency, agency_type, role)
    except LinkageError as exc:
        _fail(exc)
    console.print(f"client_id: {client.client_id}")
    console.print(f"client_secret: {secret}")
    console.print("[yellow]The secret is shown once and cannot be recovered; store it now.[/]")


@clients_app.command("list")
def clients_list(data_dir_: DataDir = None) -> None:
    from linkage.access.clients import ClientRegistry
    from linkage.store.state import ServiceState

    table = Table("client_id", "name", "agency", "agency type", "role")
    for c in ClientRegistry(ServiceState(data_dir(data_dir_))).list():
        table.add_row(c.client_id, c.name, c.agency, c.agency_type, c.role)
    console.print(table)


@clients_app.command("disable")
def clients_disable(client_id: str, data_dir_: DataDir = None) -> None:
    from linkage.access.clients import ClientRegistry
    from linkage.store.state import ServiceState

    if not ClientRegistry(ServiceState(data_dir(data_dir_))).disable(client_id):
        _fail(LinkageError(f"no active client {client_id}"))
    console.print(f"disabled {client_id}; its tokens stop working when they expire")


@audit_app.command("verify")
def audit_verify(checkpoint: Annotated[Optional[list[Path]], typer.Option(
                     help="Checkpoint files exported earlier, e.g. held by the DPO.")] = None,
                 data_dir_: DataDir = None) -> None:
    """Find any edited, deleted, inserted or reordered entry, and say where."""
    from linkage.audit import AuditLog

    log = AuditLog(data_dir(data_dir_))
    extra = []
    for path in checkpoint or []:
        extra.extend(json.loads(path.read_text())["checkpoints"])
    problems = log.verify(extra)
    n = len(log.entries())
    if problems:
        for p in problems:
            err.print(f"[bold red]TAMPERED[/] {p}")
        raise typer.Exit(1)
    console.print(f"audit log intact: {n} entries, {len(log.checkpoints()) + len(extra)} signed checkpoints verified")


@audit_app.command("checkpoints")
def audit_checkpoints(out: Path, data_dir_: DataDir = None) -> None:
    """Sign a checkpoint now and export all checkpoints with the public key."""
    from linkage.audit import AuditLog

    log = AuditLog(data_dir(data_dir_))
    if log.entries():
        log.checkpoint()
    out.write_text(json.dumps({"public_key_pem": log.public_key_pem(), "checkpoints": log.checkpoints()}, indent=2))
    console.print(f"wrote {len(log.checkpoints())} checkpoints to {out}")


def main() -> None:  # pragma: no cover
    app()


if __name__ == "__main__":  # pragma: no cover
    app()
