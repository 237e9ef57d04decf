"""``linkage synth`` and ``linkage demo``: synthetic extracts, and the whole pipeline on them."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from linkage.cli.common import _fail, console
from linkage.config import get_settings
from linkage.errors import LinkageError


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


def demo(children: int = 3000, seed: int = 42,
         work_dir: Annotated[Path, typer.Option()] = Path(".demo"),
         difficulty: Annotated[str, typer.Option(help="easy | realistic | hard, as for `linkage synth`")]
         = "realistic") -> None:
    """Synthesise, ingest, link, then score against the truth file."""
    from linkage.link import load_truth, load_twins, run_link, score_clusters
    from linkage.link.evaluate import missed_in_queue
    from linkage.link.run import export_model
    from linkage.reference import KINDS, load_reference, sample_path
    from linkage.store import Store
    from linkage.synth import ingest_extracts, synthesise
    from linkage.views import cme_children
    from linkage.views.cme import record_membership
    from linkage.views.linked import linked_children, open_queue_pairs

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
    for r in ingest_extracts(store, extracts, when):       # second files (early help, AP roll) with --amend
        console.print(f"ingested {r.source} {r.file_name}: read {r.rows_read}, accepted {r.accepted}, "
                      f"quarantined {r.quarantined}")
    with console.status("linking"):
        result = run_link(store, get_settings().match_threshold, get_settings().review_lower)
    record_membership(store, result.run_id, when)
    model_path = export_model(store, home)
    predicted = linked_children(store)
    truth = load_truth(extracts / "truth.csv")
    scores = score_clusters(predicted, truth, load_twins(extracts / "twins.csv"))
    missed, queued = missed_in_queue(predicted, truth, open_queue_pairs(store))
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

