"""The fitted growth behind docs/scaling.md, from the measured points in ``scaling_points.jsonl``.

    python benchmarks/fit_scaling.py                  # every DuckDB point
    python benchmarks/fit_scaling.py --target 36e6    # the population to project to

Each line of ``scaling_points.jsonl`` is one benchmark's output (``bench_scaling.py``'s line as
printed, or ``bench_link.py``'s figures), with the series it belongs to (points of one code and
one benchmark are fitted together) and the commit and command that produced it. For each measure this prints a straight
line (fixed part plus a cost per record, least squares) and a power law (``a * n**k``,
least squares on logarithms), each fitted on all points and on the two largest, the
exponent between neighbouring points, and what each fit gives at ``--target`` records.
Arithmetic only: a projection is not a measurement.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

HERE = Path(__file__).resolve().parent
MEASURES = ("link_s", "relink_s", "ingest_s", "link_peak_mib", "relink_peak_mib", "snapshot_mib",
            "load_s", "load_peak_mib")


def line(xs: list[float], ys: list[float]) -> tuple[float, float]:
    """Least-squares ``y = a + b x``: (a, b)."""
    n, mx, my = len(xs), sum(xs) / len(xs), sum(ys) / len(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx if n > 1 and sxx else 0.0
    return my - b * mx, b


def power(xs: list[float], ys: list[float]) -> tuple[float, float]:
    """Least-squares on logarithms, ``y = a x**k``: (a, k)."""
    la, k = line([math.log(x) for x in xs], [math.log(y) for y in ys])
    return math.exp(la), k


def points(rows: list[dict], series: str, measure: str) -> list[tuple[int, float]]:
    best: dict[int, float] = {}
    for r in rows:   # the latest line for a population wins
        if r["series"] == series and r.get(measure) is not None:
            best[r["records"]] = float(r[measure])
    return sorted(best.items())


def fits(pts: list[tuple[int, float]], target: float) -> dict:
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    out: dict = {"points": pts, "exponents": [round(math.log(y2 / y1) / math.log(x2 / x1), 2)
                                              for (x1, y1), (x2, y2) in zip(pts, pts[1:])]}
    for name, sel in (("all", slice(None)), ("last two", slice(-2, None))):
        if len(xs[sel]) < 2:
            continue
        a, b = line(xs[sel], ys[sel])
        pa, k = power(xs[sel], ys[sel])
        out[name] = {"per_record": b, "fixed": a, "line_at_target": a + b * target,
                     "power_k": k, "power_at_target": pa * target ** k}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--points", type=Path, default=HERE / "scaling_points.jsonl")
    ap.add_argument("--target", type=float, default=36e6)
    ap.add_argument("--min-records", type=int, default=100_000, help="leave out the fixed-cost points")
    args = ap.parse_args()
    rows = [json.loads(s) for s in args.points.read_text().splitlines() if s.strip()]
    for series in dict.fromkeys(r["series"] for r in rows):
        print(f"== {series}")
        for m in MEASURES:
            _show(m, [p for p in points(rows, series, m) if p[0] >= args.min_records], args.target)
        _stages(rows, series, args.min_records)


# The stages a projection turns on: where the time grows faster than the records, it shows here.
STAGES = ("ingest + validation", "features: Splink input, co-twins, hashes", "training", "scoring: predict (full)",
          "scoring: twin guard + edges to Python", "clustering: constrained", "second pass (evidence.py)",
          "identity: assign", "saving: transaction", "link (run_link)")


def _stages(rows: list[dict], series: str, min_records: int) -> None:
    """Each stage's seconds (``bench_scaling``'s ``stages``) at each population of the series, and
    the exponent between neighbouring populations."""
    by_n = {r["records"]: r["stages"] for r in rows
            if r["series"] == series and r.get("stages") and r["records"] >= min_records}
    if len(by_n) < 2:
        return
    ns = sorted(by_n)
    print(f"stages (s at {', '.join(f'{n:,}' for n in ns)}; exponents between neighbours):")
    for name in STAGES:
        ys = [by_n[n].get(name, {}).get("s") for n in ns]
        if None in ys or 0 in ys:
            continue
        ks = [round(math.log(b / a) / math.log(n2 / n1), 2) for a, b, n1, n2 in zip(ys, ys[1:], ns, ns[1:])]
        print(f"  {name}: {ys}; {ks}")


def _show(m: str, pts: list[tuple[int, float]], target: float) -> None:
    if len(pts) < 2:
        return
    f = fits(pts, target)
    unit = "MiB" if m.endswith("mib") else "s"
    print(f"{m}: points {[(n, y) for n, y in pts]}; exponents between neighbours {f['exponents']}")
    for name in ("all", "last two"):
        if name in f:
            g = f[name]
            per = g["per_record"] * 1024 if unit == "MiB" else g["per_record"] * 1000
            print(f"  {name:8}: line {per:.3f} {'KiB' if unit == 'MiB' else 'ms'} a record, "
                  f"{g['line_at_target']:,.0f} {unit} at {target:,.0f}; "
                  f"power k={g['power_k']:.2f}, {g['power_at_target']:,.0f} {unit} at {target:,.0f}")


if __name__ == "__main__":
    main()
