"""CPU and wall time of training's parts and of the full predict, on a copy of a linked store.

    python benchmarks/bench_training.py /tmp/you/ours250-copy            # u, prior, EM, predict
    python benchmarks/bench_training.py /tmp/you/ours250-copy --as-written

CPU seconds (user + system of this process) say what a part costs on a shared machine, where
wall time says mostly how many others were running. ``--as-written`` gives Splink the model's
levels as written instead of narrowed (``uestimate.model_narrowed``), for the comparison; u is
counted narrowed either way (``uestimate.estimate_u``). The store is read and its in-memory
tables written; use a copy (the input cache is brought up to date in place).
"""

from __future__ import annotations

import argparse
import resource
import time
from contextlib import contextmanager
from pathlib import Path


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


@contextmanager
def _timed(name: str):
    wall, cpu = time.perf_counter(), _cpu()
    yield
    print(f"{name:32s} wall {time.perf_counter() - wall:7.2f} s   cpu {_cpu() - cpu:7.2f} s", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("home", type=Path, help="a linked data directory (a copy)")
    ap.add_argument("--as-written", action="store_true", help="give Splink the levels as written")
    args = ap.parse_args()

    import linkage.link.engine as engine_module
    import linkage.link.engine_training as training_module
    from linkage.connectors.ingest import CURRENT_RECORDS_SQL
    from linkage.link import spec
    from linkage.store import Store

    if args.as_written:
        training_module.model_narrowed = lambda model: model
    print(f"load average {open('/proc/loadavg').read().split()[:3]}")
    store = Store(args.home)
    with _timed("input (cache)"):
        engine = engine_module.LinkEngine(store, CURRENT_RECORDS_SQL, cache=True)
    with _timed("u estimation"):
        model = engine._estimate_u(2e6)
    engine._linker = None
    linker = engine.linker(model)
    engine._tf()
    with _timed("prior"):
        linker.training.estimate_probability_two_random_records_match(spec.DETERMINISTIC_RULES, recall=0.8)
    for i, rule in enumerate(spec.TRAINING_SESSIONS):
        with _timed(f"EM session {i + 1}"):
            engine._em(rule)
    with _timed("predict (full)"):
        pairs = engine.predict_full(0.2)
    print(f"{len(pairs)} pairs scored")
    store.close()


if __name__ == "__main__":
    main()
