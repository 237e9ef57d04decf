"""Where a run's wall time goes, from a py-spy sampling of it, by line of linkage code.

    py-spy record -r 200 --native -f raw -o incr.spy.txt -- python benchmarks/bench_link.py --phase incr --work W
    python benchmarks/spyagg.py incr.spy.txt                      # by the innermost linkage line
    python benchmarks/spyagg.py incr.spy.txt --under "_linked ("   # by the outermost line matching

Only samples taken inside ``run_link`` count. The innermost linkage frame outside ``store/db.py``
(whose ``execute`` every query goes through) names the query or Python line that was running;
``--under`` names instead the first frame holding the text (a stage of ``run._linked``, a line
of ``inputcache.build``). py-spy samples wall time, DuckDB's threads included in the calling
line: on a loaded machine each share is of a longer run, but the shares held within a few points
of the idle stage table in session 31 (features 36% of the month here, 37% idle).
"""

from __future__ import annotations

import argparse
import collections


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("raw", help="py-spy record -f raw output")
    ap.add_argument("--under", help="group by the first frame containing this text")
    ap.add_argument("--top", type=int, default=40)
    ap.add_argument("--rate", type=float, default=200.0, help="py-spy's -r (samples a second)")
    args = ap.parse_args()
    total: collections.Counter[str] = collections.Counter()
    n = 0
    with open(args.raw, encoding="utf-8") as fh:
        for line in fh:
            stack, _, count = line.rstrip().rpartition(" ")
            frames = stack.split(";")
            if not any("run_link" in f for f in frames):
                continue
            n += int(count)
            if args.under:
                hits = [f for f in frames if args.under in f]
                key = hits[0] if hits else "(elsewhere)"
            else:
                ours = [f for f in frames if f.split("(")[-1].startswith("linkage/") and "store/db.py" not in f]
                key = ours[-1] if ours else frames[-1]
            total[key] += int(count)
    for key, v in total.most_common(args.top):
        print(f"{v / args.rate:8.2f} s {100 * v / max(n, 1):5.1f}%  {key}")
    print(f"{n / args.rate:8.2f} s in run_link")


if __name__ == "__main__":
    main()
