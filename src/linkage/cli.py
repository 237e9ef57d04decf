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


# -- clerical review ---------------------------------------------------------------------------

review_app = typer.Typer(no_args_is_help=True, help="Work the clerical review queue; decisions bind later runs.")
app.add_typer(review_app, name="review")
Format = Annotated[str, typer.Option("--format", help="table | csv | json")]


def _review_view(data_dir_: Optional[Path], features: bool = False):
    from linkage.link.review import ReviewView
    from linkage.link.run import open_decisions

    store = _store(data_dir_)
    try:
        return store, ReviewView.load(store, features=features), open_decisions(store.home)
    except BaseException:
        store.close()
        raise


def _emit(rows: list[dict], fmt: str, title: str = "") -> None:
    """Rows as a terminal table (columns fold to fit), CSV or JSON on stdout."""
    if fmt == "json":
        typer.echo(json.dumps(rows, indent=2, default=str))
    elif fmt == "csv":
        import sys

        w = csv.DictWriter(sys.stdout, fieldnames=list(rows[0]) if rows else [])
        w.writeheader()
        w.writerows(rows)
    elif fmt == "table":
        table = Table(title=title, expand=False)
        names = list(rows[0]) if rows else ["(none)"]
        widths = {n: max(len(n), *(len("" if r[n] is None else str(r[n])) for r in rows)) for n in names[:-1]}
        room = max(12, console.width - sum(widths.values()) - 3 * len(names) - 1)
        for name in names:   # the last column gives way when the terminal is narrow
            table.add_column(name, no_wrap=True, overflow="ellipsis", min_width=widths.get(name),
                             max_width=widths.get(name, room))
        for r in rows:
            table.add_row(*("" if v is None else str(v) for v in r.values()))
        console.print(table)
    else:
        _fail(LinkageError("--format is one of table, csv, json"))


def _audit_decision(home: Path, reviewer: str, action: str, detail: dict) -> None:
    from linkage.audit import AuditLog

    log = AuditLog(home)
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
                fmt: Format = "table", data_dir_: DataDir = None) -> None:
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
    for name, a, b, differs in fields:
        mark = "[bold yellow]≠[/]" if differs and a and b else ("[dim]missing[/]" if differs else "")
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
        chart.write_text(why.chart_html, encoding="utf-8")
        console.print(f"waterfall chart written to {chart}")


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
    try:
        store, view, decisions = _review_view(data_dir_)
        home = store.home
        store.close()
        d = view.decide(decisions, pair, chosen[0], reviewer=reviewer, note=note, channel="cli")
        _audit_decision(home, d.reviewer, "review.decide", {"pair_id": d.pair_id, "review_decision": d.decision,
                                                            "decision_id": d.decision_id})
    except LinkageError as exc:
        _fail(exc)
    console.print(f"recorded: {pair} {d.decision.replace('_', ' ')} by {d.reviewer}; the next `linkage link` "
                  "honours it")


@review_app.command("cluster")
def review_cluster(child_id: str, fmt: Format = "table", data_dir_: DataDir = None) -> None:
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
    console.print(f"recorded: {record_key} split out of {made[0].child_id} ({len(made)} not-a-match pairs); "
                  "the next `linkage link` honours it")


quality_app = typer.Typer(help="How good the linkage is, judged by the reviewers' decisions.")
app.add_typer(quality_app, name="quality")


@quality_app.callback(invoke_without_command=True)
def quality(ctx: typer.Context,
            threshold: Annotated[Optional[float], typer.Option(help="Match probability to judge at.")] = None,
            fmt: Format = "table", data_dir_: DataDir = None) -> None:
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
             "precision": round(q.precision, 4), "recall": round(q.recall, 4), "f1": round(q.f1, 4),
             "tp": q.tp, "fp": q.fp, "fn": q.fn, "tn": q.tn}]
    if fmt == "table":
        rows = [{"measure": k, "value": v} for k, v in rows[0].items()]
    _emit(rows, fmt, "linkage quality from review decisions")


def main() -> None:  # pragma: no cover
    app()


if __name__ == "__main__":  # pragma: no cover
    app()
