"""The second pass (``link/evidence.py``) alone, on a linked data directory: its time, its peak
memory, and what it decides, so that a change to it can be timed and checked for equal results
without a whole link run.

    python benchmarks/bench_second_pass.py capture HOME STATE.pkl   # once, on a copy of HOME
    python benchmarks/bench_second_pass.py run HOME STATE.pkl OUT.json
    python benchmarks/bench_second_pass.py same OUT_BEFORE.json OUT_AFTER.json

``capture`` runs a full link of HOME (saved model, so no training) up to the second pass and
keeps the pass's inputs (the children before it, identifiers, the pairs kept apart); the run is
then abandoned, so HOME is left as it was except for its input cache. ``run`` builds the run's
input as a link does and times the pass on the captured inputs, under the link's DuckDB memory
limit (wall time, and CPU time over every thread: less
sensitive to a shared machine's load); it writes the pass's links and queue (pairs and reasons). ``same`` compares two outputs.
"""

from __future__ import annotations

import argparse
import json
import pickle
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


class _Captured(Exception):
    pass


def capture(home: Path, state: Path) -> None:
    from linkage.link import run_link
    from linkage.link.engine import LinkEngine
    from linkage.store import Store

    def keep(self, cluster_of, identifiers, apart, population=False, denied=()):
        state.write_bytes(pickle.dumps((cluster_of, identifiers, list(apart), list(denied))))
        raise _Captured

    LinkEngine.cluster_pass = keep
    store = Store(home)
    try:
        run_link(store, full=True)
    except _Captured:
        print(f"captured the second pass's inputs in {state}")
    finally:
        store.close()


def run(home: Path, state: Path, out: Path) -> None:
    from stageprof import peak_mib, print_profile, profile

    prof = profile()
    from linkage.config import get_settings
    from linkage.connectors.ingest import CURRENT_RECORDS_SQL
    from linkage.link.engine import LinkEngine
    from linkage.store import Store

    cluster_of, identifiers, apart, *denied = pickle.loads(state.read_bytes())
    store = Store(home)
    try:
        with store.memory_limited(get_settings().link_memory_limit):
            engine = LinkEngine(store, CURRENT_RECORDS_SQL, cache=True)
            t0, c0 = time.perf_counter(), time.process_time()
            second = engine.cluster_pass(cluster_of, identifiers, apart, denied=denied[0] if denied else ())
            seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    finally:
        store.close()
    print_profile("second pass alone", prof.report())
    print(f"second pass: {seconds:.1f} s wall, {cpu:.1f} s CPU (every thread), {len(second.links)} links, {len(second.queue)} queued; "
          f"process peak {peak_mib():.0f} MiB")
    out.write_text(json.dumps({"links": sorted(second.links), "queue": sorted(second.queue)}))


def same(before: Path, after: Path) -> None:
    a, b = json.loads(before.read_text()), json.loads(after.read_text())
    differ = False
    for what in ("links", "queue"):
        x, y = {tuple(p) for p in a[what]}, {tuple(p) for p in b[what]}
        print(f"{what}: {len(x)} before, {len(y)} after, {len(x - y)} only before, {len(y - x)} only after")
        for label, items in (("only before", x - y), ("only after", y - x)):
            for item in sorted(items)[:5]:
                print(f"  {label}: {item}")
        differ = differ or x != y
    print("DIFFERENT" if differ else "identical")
    sys.exit(1 if differ else 0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("capture")
    c.add_argument("home", type=Path)
    c.add_argument("state", type=Path)
    r = sub.add_parser("run")
    r.add_argument("home", type=Path)
    r.add_argument("state", type=Path)
    r.add_argument("out", type=Path)
    s = sub.add_parser("same")
    s.add_argument("before", type=Path)
    s.add_argument("after", type=Path)
    args = ap.parse_args()
    if args.cmd == "capture":
        capture(args.home, args.state)
    elif args.cmd == "run":
        run(args.home, args.state, args.out)
    else:
        same(args.before, args.after)


if __name__ == "__main__":
    main()
