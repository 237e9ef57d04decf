"""``linkage review`` and ``linkage quality``: the clerical review queue worked, and the model judged by it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from linkage.cli.common import DataDir, Replace, _fail, _failures, _store, console
from linkage.cli.output import Format, FormatOption, emit
from linkage.config import get_settings
from linkage.errors import LinkageError
from linkage.files import check_replaceable, write_private
from linkage.likelihood import percent


review_app = typer.Typer(no_args_is_help=True, help="Work the clerical review queue; decisions bind later runs.")


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
    # A person reads the table: "over 99.9%", never a rounded 1.0 that says the service is certain
    # (``likelihood.percent``, as the pages and ``review show``); CSV and JSON keep the number.
    said = percent if fmt == "table" else float
    rows = [{"id": r.pair_id, "probability": said(r.match_probability),
             "weight": None if r.match_weight != r.match_weight else round(r.match_weight, 2),
             "priority": round(r.priority, 2), "records": int(r.cluster_size), "left": r.record_key_l,
             "right": r.record_key_r, "last": r.last_decision, "reason": r.reason} for r in shown.itertuples()]
    if fmt == "table" and console.width < 160:   # fit the terminal: the records are in `review show`
        rows = [{k: v for k, v in r.items() if k not in ("left", "right")} for r in rows]
    _emit(rows, fmt, f"{len(pairs)} open pairs" + (f" (first {limit})" if limit and len(pairs) > limit else ""))


@review_app.command("show")
def review_show(pair: str, chart: Annotated[Optional[Path], typer.Option(
                    "--chart", help="Also write Splink's waterfall chart for the pair to this HTML file.")] = None,
                force: Replace = False, data_dir_: DataDir = None) -> None:
    """Both records side by side, differences marked, and why the model scored them as it did."""
    pair = _typed(pair, "pair")
    try:
        store, view, decisions = _review_view(data_dir_, features=True)
        store.close()
        p = view.pair(pair)
        fields = view.side_by_side(pair)
        why = view.explain(pair, chart=chart is not None)
    except LinkageError as exc:
        _fail(exc)
    weight = "" if p["match_weight"] != p["match_weight"] else f", match weight {p['match_weight']:.2f}"
    console.print(f"[bold]{pair}[/]: {p['reason']}; {percent(p['match_probability'])} likely one child{weight}; "
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
        html = why.chart_html
        end = html.find("</title>")          # Splink's page up to its title: what every chart here begins with
        with _failures(data_dir_):
            if not force:
                check_replaceable(chart, html[:end] if end > 0 else html[:200], "waterfall chart")
            write_private(chart, html)
        console.print(f"waterfall chart written to {chart}")


def _typed(value: str, kind: str) -> str:
    """An id as typed, read as issued (``identity.ids``; imported here: numpy stays out of start-up)."""
    from linkage.identity.ids import typed_child_id, typed_pair_id

    return typed_pair_id(value) if kind == "pair" else typed_child_id(value)


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
    from linkage.service.review import decision_entry

    pair = _typed(pair, "pair")
    chosen = [name for name, on in (("match", match), ("not_match", not_match), ("unsure", unsure)) if on]
    if len(chosen) != 1:
        _fail(LinkageError("give exactly one of --match, --not-match, --unsure"))
    _need_reviewer(reviewer)
    try:
        store, view, decisions = _review_view(data_dir_)
        home = store.home
        store.close()
        d = view.decide(decisions, pair, chosen[0], reviewer=reviewer, note=note, channel="cli")
        _audit_decision(home, d.reviewer, "review.decide", {**decision_entry(d), "children": view.children(pair)})
    except LinkageError as exc:
        _fail(exc)
    console.print(f"recorded: {pair} {d.decision.replace('_', ' ')} by {d.reviewer}; the next `linkage link` "
                  "honours it")


@review_app.command("cluster")
def review_cluster(child_id: str, fmt: FormatOption = Format.table, data_dir_: DataDir = None) -> None:
    """Every record of one child, from every source."""
    from linkage.link.review import child_records

    child_id = _typed(child_id, "child")
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
    from linkage.service.review import noted

    child_id = _typed(child_id, "child")
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
            "decision_ids": [d.decision_id for d in made], **noted(note)})
    except LinkageError as exc:
        _fail(exc)
    apart = sum(d.decision == "not_match" for d in made)
    console.print(f"recorded: {record_key} split out of {made[0].child_id} ({apart} not-a-match pairs, "
                  f"its other {apart} record(s) kept as one child); "
                  "the next `linkage link` honours it")


quality_app = typer.Typer(help="How good the linkage is, judged by the reviewers' decisions.")


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

