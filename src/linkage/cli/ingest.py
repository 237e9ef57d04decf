"""``linkage ingest`` and ``linkage quarantine``: extracts read, checked and stored, and the rows set aside."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from linkage.cli.common import DataDir, Replace, _fail, _failures, _reading, _store, console
from linkage.cli.output import Format, FormatOption, emit, emit_json
from linkage.errors import LinkageError
from linkage.safetext import visible


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
                        ("fields set aside or in doubt, records kept (first 20)", result.warnings_sample)):
        if rows:
            t = Table("row", "field", "reason", title=title)
            for line, field, reason in rows:
                t.add_row(str(line), field, reason)
            console.print(t)


quarantine_app = typer.Typer(no_args_is_help=True, help="Rows ingest could not accept: list, show, export.")


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
                      force: Replace = False, data_dir_: DataDir = None) -> None:
    """CSV for the agency that supplied the extract: line, its own column, the value it sent,
    the reason. Cells a spreadsheet would run as formulas are neutralised."""
    from linkage.files import check_replaceable
    from linkage.safetext import csv_text, write_private_csv
    from linkage.views.quarantine import QuarantineFilter, export_rows, quarantine_rows

    try:
        wanted = QuarantineFilter(source, reason, extract)
        with _reading(data_dir_) as store:
            _, rows = quarantine_rows(store.connection, wanted, with_value=True)
        header, body = export_rows(rows)
        if not force:       # its first columns: the record id's is headed with the agency's own name
            check_replaceable(out, csv_text(header[:3], []).rstrip("\n") + ",", "quarantine export")
        n = write_private_csv(out, header, body)
    except (LinkageError, OSError) as exc:
        _fail(exc)
    console.print(f"wrote {n} problems to {out}")

