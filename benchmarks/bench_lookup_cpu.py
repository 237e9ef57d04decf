"""One server's lookup, in process, against a linked home: CPU per lookup, and the bounded
candidate search against scoring every candidate (answers compared on every sampled query).

    python benchmarks/bench_lookup_cpu.py --data-dir /tmp/lead-api1m-copy --lookups 1000

It writes to the home (a registered client, audit entries, relationships): run it on a copy.
``--profile FILE`` adds a CPU-time profile of the lookups (cProfile, process time).
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import sys
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "tests")]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", type=Path, required=True)
    ap.add_argument("--lookups", type=int, default=1000)
    ap.add_argument("--profile", type=Path)
    args = ap.parse_args()

    from bench_api import _load, sample_queries
    from registry import register
    from test_lookup import _every_candidate_scored

    from linkage.config import Settings
    from linkage.link.lookup import Candidate, LookupQuery
    from linkage.service.container import Services
    from linkage.service.context import Ctx
    from linkage.service.lookup import best_match, confident, lookup
    from linkage.service.schemas import LookupRequest

    home, n = args.data_dir, args.lookups
    queries = [LookupRequest(**q) for q in sample_queries(home, 2000)]
    client, _ = register(home, f"bench {time.time():.0f}", "ap_school", "admissions", org="Bench AP Academy")
    settings = Settings(home=home, lookup_per_minute=100000, lookup_burst=10000)
    start, cpu = time.perf_counter(), time.process_time()
    services = Services.open(home, settings)
    print(f"loaded in {time.perf_counter() - start:.0f}s ({time.process_time() - cpu:.0f} CPU-s); load {_load()}")
    idx, caller = services.lookup, services.clients.get(client.client_id).principal()
    sizes = [len(idx.candidates(LookupQuery(**q.model_dump()).features())) for q in queries]
    print(f"{idx.size:,} records; candidates a query: mean {statistics.mean(sizes):.1f}, "
          f"p95 {sorted(sizes)[int(.95 * len(sizes))]}, max {max(sizes)}")

    def every(q):
        full = [Candidate(*c) for c in _every_candidate_scored(idx, LookupQuery(**q.model_dump()), 2, 0.0)]
        return confident(full, settings.match_threshold, settings.lookup_margin_bits)

    key = lambda c: c and (c.child_id, c.match_probability, c.agreed, c.disagreed)  # noqa: E731
    same = sum(key(every(q)) == key(best_match(services, q)) for q in queries)
    named = sum(best_match(services, q) is not None for q in queries)
    print(f"answers identical, bounded against every candidate scored: {same}/{len(queries)} ({named} name a child)")
    for name, fn in (("every candidate scored", every), ("bounded", lambda q: best_match(services, q))):
        cpu = time.process_time()
        for q in queries[:n]:
            fn(q)
        print(f"search + rule, {name}: {1000 * (time.process_time() - cpu) / n:.3f} ms CPU a lookup")

    def run(k: int) -> None:
        for q in queries[:k]:
            lookup(ctx=Ctx(services, caller, "admission", uuid.uuid4().hex), query=q)

    run(200)
    cpu = time.process_time()
    run(n)
    print(f"whole lookup flow (policy, search, consent, document, pseudonym, audit with fsync): "
          f"{1000 * (time.process_time() - cpu) / n:.3f} ms CPU a lookup; load {_load()}")
    if args.profile:
        profile = cProfile.Profile(time.process_time)
        profile.runcall(run, n)
        profile.dump_stats(args.profile)
        pstats.Stats(profile).sort_stats("cumtime").print_stats(30)
    services.close()


if __name__ == "__main__":
    main()
