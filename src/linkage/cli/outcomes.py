"""``linkage outcomes``: AP outcomes reports and the NCCIS activity they read."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.text import Text

from linkage.cli.common import DataDir, _fail, _reading, console
from linkage.errors import LinkageError


outcomes_app = typer.Typer(no_args_is_help=True, help="AP outcomes: placements, measures, published reports.")


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

