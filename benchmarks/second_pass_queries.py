"""The second pass's two largest queries alone, this tree's against another commit's: the same
rows, and each one's time (wall, and CPU over every thread: less sensitive to a shared machine).

    python benchmarks/bench_second_pass.py capture HOME STATE.pkl     # once, on a copy of HOME
    python benchmarks/second_pass_queries.py HOME STATE.pkl --before 3824761 [--counts]

``candidates``: ``evidence.candidates_sql``; ``family``: ``complement.family_sql``. ``--counts``
also prints the candidate join's keyed rows, the pairs it meets (same key and month), those that
pass its conditions, and the keyed rows by the identifiers their child holds.
"""

from __future__ import annotations

import argparse
import importlib.util
import pickle
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _load(rev: str, module: str, path: str, where: Path):
    """``path`` as it was at ``rev``, imported as ``module``."""
    text = subprocess.run(["git", "-C", str(HERE), "show", f"{rev}:{path}"], check=True, capture_output=True,
                          text=True).stdout
    file = where / f"{module}.py"
    file.write_text(text)
    spec = importlib.util.spec_from_file_location(module, file)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[module] = mod
    spec.loader.exec_module(mod)
    return mod


def _load_avg() -> list[str]:
    return Path("/proc/loadavg").read_text().split()[:3]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("home", type=Path)
    ap.add_argument("state", type=Path)
    ap.add_argument("--before", required=True, help="the commit to compare with")
    ap.add_argument("--counts", action="store_true")
    ap.add_argument("--only", choices=["candidates", "family"])
    args = ap.parse_args()

    from linkage.config import get_settings
    from linkage.connectors.ingest import CURRENT_RECORDS_SQL
    from linkage.link import complement as newc
    from linkage.link import evidence as new
    from linkage.link.engine import INPUT, LinkEngine
    from linkage.store import Store

    tmp = Path(tempfile.mkdtemp(prefix="second_pass_queries-"))
    old = _load(args.before, "before_evidence", "src/linkage/link/evidence.py", tmp)
    oldc = _load(args.before, "before_complement", "src/linkage/link/complement.py", tmp)
    cluster_of, identifiers, _ = pickle.loads(args.state.read_bytes())
    store = Store(args.home)
    try:
        with store.memory_limited(get_settings().link_memory_limit):
            engine = LinkEngine(store, CURRENT_RECORDS_SQL, cache=True)
            con = engine.con
            print("records", engine.count(), "load", _load_avg(), flush=True)
            con.register("_c", new.clusters_arrow(cluster_of, identifiers))
            con.execute("CREATE OR REPLACE TABLE memory.link_clusters AS SELECT * FROM _c")
            con.unregister("_c")
            args_ = (f"memory.{INPUT}", "memory.link_clusters")
            if args.counts:
                head = new.candidates_sql(*args_, "memory.cotwins").split("cohort AS (")[0].rstrip().rstrip(",")
                print(con.execute(head + f"""
SELECT count(*) AS keyed_rows,
  (SELECT count(*) FROM keyed a JOIN keyed b ON a.k = b.k AND a.d = b.d AND a.n < b.n) AS met,
  (SELECT count(*) FROM keyed a JOIN keyed b ON a.k = b.k AND a.d = b.d AND a.n < b.n
     AND {new._may_pair('a', 'b')}) AS passed,
  count(*) FILTER (WHERE k_upn IS NULL AND k_nhs IS NULL) AS neither,
  count(*) FILTER (WHERE k_upn IS NULL AND k_nhs IS NOT NULL) AS only_nhs,
  count(*) FILTER (WHERE k_upn IS NOT NULL AND k_nhs IS NULL) AS only_upn
FROM keyed""").df().to_string(), flush=True)
            queries = {"candidates": (lambda m: m.candidates_sql(*args_, "memory.cotwins"), old, new),
                       "family": (lambda m: m.family_sql(*args_), oldc, newc)}
            for what, (sql, before, after) in queries.items():
                if args.only and what != args.only:
                    continue
                got = {}
                for name, mod in (("before", before), ("after", after)) * 2:
                    t0, c0 = time.perf_counter(), time.process_time()
                    rows = con.execute(sql(mod)).fetchall()
                    print(f"{what} {name}: {len(rows)} rows, {time.perf_counter() - t0:.1f} s wall, "
                          f"{time.process_time() - c0:.1f} s CPU, load {_load_avg()}", flush=True)
                    got[name] = sorted(map(repr, rows))
                print(what, "same rows" if got["before"] == got["after"] else "DIFFERENT ROWS", flush=True)
    finally:
        store.close()


if __name__ == "__main__":
    main()
