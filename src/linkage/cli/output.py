"""Command output that is never cut short: tables that fit a terminal, and the whole table
when stdout is a pipe or a file; or CSV or JSON for scripts.

rich sizes a console to 80 columns when stdout is not a terminal, so a wide table
piped to ``less`` or a file lost its right-hand columns. Here a table printed to a
non-terminal is as wide as its content; in a terminal, cells wrap (fold) rather
than end in an ellipsis. Every cell is untrusted text (agency data, client names)
and is shown through ``safetext.visible``, never as rich markup.

Adopting it in a command::

    def clients_list(fmt: FormatOption = Format.table, ...):
        emit(["client_id", "name", ...], rows, fmt, title="clients")
"""

from __future__ import annotations

import io
import json
import os
import sys
from collections.abc import Iterable, Sequence
from enum import Enum
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from linkage.safetext import csv_text, visible

__all__ = ["Format", "FormatOption", "emit", "emit_json", "make_console", "print_table", "table"]


class Format(str, Enum):
    table = "table"
    csv = "csv"
    json = "json"


FormatOption = Annotated[Format, typer.Option("--format", case_sensitive=False,
                                              help="table (for people), csv or json (for scripts).")]

_PIPE_WIDTH = 4096      # plain lines printed to a pipe are never wrapped below this


def _is_terminal(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def make_console(stderr: bool = False) -> Console:
    """A console that wraps at the terminal's width, or (to a pipe or file) not at all."""
    stream = sys.stderr if stderr else sys.stdout
    if _is_terminal(stream):
        return Console(stderr=stderr)
    columns = os.environ.get("COLUMNS", "")
    return Console(stderr=stderr, width=max(int(columns) if columns.isdigit() else 0, _PIPE_WIDTH))


def _cell(value: Any) -> Any:
    """How a table or CSV shows a value: nothing for None, yes or no for a flag."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return value


def table(header: Sequence[str], rows: Iterable[Sequence[Any]], title: str | None = None) -> Table:
    """A rich table whose cells are plain, visible text and fold rather than truncate."""
    t = Table(title=title)
    for name in header:
        t.add_column(Text(visible(name)), overflow="fold")
    for row in rows:
        t.add_row(*(Text(visible(_cell(c))) for c in row))
    return t


def print_table(t: Table, console: Console | None = None) -> None:
    """Print ``t`` whole: to a non-terminal at its natural width, however wide."""
    console = console or make_console()
    if not console.is_terminal:
        probe = Console(width=1 << 20, file=io.StringIO())
        needed = probe.measure(t).maximum
        if needed > console.width:
            console = Console(file=console.file, width=needed)
    console.print(t)


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return str(value)


def emit_json(obj: Any) -> None:
    """JSON on stdout, ASCII-only, so no character in the data can act on a terminal."""
    sys.stdout.write(json.dumps(_plain(obj), indent=2, ensure_ascii=True) + "\n")
    sys.stdout.flush()


def emit(header: Sequence[str], rows: Iterable[Sequence[Any]], fmt: Format = Format.table, *,
         title: str | None = None, console: Console | None = None) -> None:
    """One table in the chosen format: a rich table, CSV (LF, cells neutralised against
    spreadsheet formulas) or a JSON list of objects keyed by the header."""
    rows = list(rows)
    if fmt == Format.csv:
        sys.stdout.write(csv_text(header, [[_cell(c) for c in r] for r in rows]))
        sys.stdout.flush()
    elif fmt == Format.json:
        emit_json([dict(zip(header, r)) for r in rows])
    else:
        print_table(table(header, rows, title), console)
