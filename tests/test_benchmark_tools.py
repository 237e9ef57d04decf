"""The measuring tools behind docs/scaling.md: the growth fits, and memory counted over a process tree."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import fit_scaling  # noqa: E402
import stageprof  # noqa: E402


def test_fits_recover_a_line_and_a_power_law():
    xs = [250_000, 500_000, 1_000_000, 2_000_000]
    a, b = fit_scaling.line(xs, [3 + 2 * x for x in xs])
    assert a == pytest.approx(3, abs=1e-6) and b == pytest.approx(2)
    pa, k = fit_scaling.power(xs, [5 * x ** 1.5 for x in xs])
    assert pa == pytest.approx(5) and k == pytest.approx(1.5)
    f = fit_scaling.fits([(x, 5 * x ** 1.5) for x in xs], 36e6)
    assert f["exponents"] == [1.5, 1.5, 1.5]
    assert f["last two"]["power_at_target"] == pytest.approx(5 * 36e6 ** 1.5)


def test_points_keep_one_series_and_the_latest_line_per_population():
    rows = [{"series": "a", "records": 10, "link_s": 1.0}, {"series": "a", "records": 10, "link_s": 2.0},
            {"series": "b", "records": 20, "link_s": 9.0}, {"series": "a", "records": 30}]
    assert fit_scaling.points(rows, "a", "link_s") == [(10, 2.0)]


def test_tree_memory_counts_a_child_process():
    child = subprocess.Popen([sys.executable, "-c",
                              "import sys, time; x = bytearray(300 * 2**20); print(1, flush=True); time.sleep(30)"],
                             stdout=subprocess.PIPE)
    try:
        assert child.stdout.readline().strip() == b"1"
        time.sleep(0.2)
        own, tree = stageprof._rss_kib(), stageprof.tree_rss_kib()
        assert tree - own > 250 * 1024   # the child's 300 MiB, which ru_maxrss and VmRSS leave out
    finally:
        child.kill()
        child.wait()
