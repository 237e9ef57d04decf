"""CPU, wall and peak memory of one full relink with training, on a copy of a linked store.

    cp -a /tmp/you/b250/synth-135000-42-easy/ours /tmp/you/relink-copy
    python benchmarks/bench_relink_cpu.py /tmp/you/relink-copy

CPU seconds (user + system, every thread of the process) compare two versions of the code on
a shared machine, where wall time mostly counts the other engineers' work: run the old tree's
and the new tree's side by side, each on its own copy. The input cache is kept (the copy's
records are unchanged), so its write is not in the figure.
"""

from __future__ import annotations

import resource
import sys
import time
from pathlib import Path


def main(home: Path) -> None:
    from linkage.link.run import run_link
    from linkage.store import Store

    load = open("/proc/loadavg").read().split()[:3]
    store = Store(home)
    wall = time.perf_counter()
    result = run_link(store, full=True, retrain=True)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(f"{result.records} records, {result.children} children: wall {time.perf_counter() - wall:.1f} s, "
          f"cpu {usage.ru_utime + usage.ru_stime:.1f} s, peak {usage.ru_maxrss // 1024} MiB; load {' '.join(load)}")
    store.close()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
