"""``linkage reference``: school and GP practice registers."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from linkage.cli.common import DataDir, _fail, _publish, _reading, console
from linkage.cli.output import Format, FormatOption, emit, emit_json
from linkage.errors import LinkageError
from linkage.safetext import visible


reference_app = typer.Typer(no_args_is_help=True, help="Reference data: school and GP practice registers.")


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

