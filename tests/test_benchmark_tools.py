"""The measuring tools behind docs/scaling.md: the growth fits, memory counted over a process tree,
and the CPU budgets (cgroups) of the scale-out benchmark."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import cpubudget  # noqa: E402
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


def _cgroups_writable() -> bool:
    return (cpubudget.ROOT / "cpu.cfs_quota_us").exists() and os.access(cpubudget.ROOT, os.W_OK)


@pytest.mark.skipif(not _cgroups_writable(), reason="needs root and a writable cgroup v1 cpu controller")
def test_a_cpu_budget_holds_a_busy_process_to_its_quota_and_is_removed_after():
    busy = "import os, time\nt = time.time()\nwhile time.time() - t < 1.0: pass\nt = os.times(); print(t.user + t.system)"
    group = cpubudget.Group("test")
    idle = subprocess.Popen(group.wrap(["sleep", "30"]))
    try:
        group.limit(0.2, period_ms=10)
        cpu = float(subprocess.run(group.wrap([sys.executable, "-c", busy]), capture_output=True,
                                   text=True, check=True).stdout)
        assert cpu < 0.4                            # 0.2 of a core for 1 s, and its start-up's share
        assert group.stat()["nr_throttled"] > 10    # it ran into the quota, period after period
        assert str(idle.pid) in group.procs.read_text().split()
    finally:
        group.remove()
    assert not group.path.exists()
    assert idle.poll() is None                      # sent back to the parent group, not ended
    idle.kill()
    idle.wait()


@pytest.mark.skipif(not _cgroups_writable(), reason="needs root and a writable cgroup v1 cpu controller")
def test_groups_of_a_killed_benchmark_are_removed_and_live_ones_kept():
    ended = subprocess.Popen(["true"])
    ended.wait()
    stale = cpubudget.ROOT / f"{cpubudget.PREFIX}{ended.pid}-server1"
    stale.mkdir()
    live = cpubudget.Group("live")
    try:
        assert stale.name in cpubudget.remove_stale()
        assert not stale.exists() and live.path.exists()
    finally:
        live.remove()
        if stale.exists():
            stale.rmdir()


def test_a_cpu_budget_without_the_cgroup_controller_is_a_one_line_error(tmp_path):
    with pytest.raises(cpubudget.CgroupError, match="cgroup v1 cpu controller"):
        cpubudget.Group("x", root=tmp_path)
    done = subprocess.run([sys.executable, str(Path(cpubudget.__file__).with_name("bench_api_shared.py")),
                           "--data-dir", str(tmp_path), "--cpu-budget", "0.3", "--cgroup-root", str(tmp_path)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [done.stderr.strip()] and "cgroup v1 cpu controller" in done.stderr
    assert "Traceback" not in done.stderr and list(tmp_path.iterdir()) == []


def test_the_stage_profile_runs_no_thread_beside_the_code_and_keeps_each_stage_its_own_peak():
    """A sampler thread beside the measured code took the GIL 50 times a second, which a user's run
    has no thread doing; the kernel's high-water mark, read and cleared at each stage's edges, sees
    every peak, however short, with no thread."""
    threads = threading.active_count()
    prof = stageprof.profile(modules=())
    assert threading.active_count() == threads
    with prof.stage("big"):
        x = b"\x01" * (200 * 2**20)     # 200 MiB written, so resident
        del x
    with prof.stage("small"):
        y = b"\x01" * (20 * 2**20)
        del y
    report = prof.report()
    assert report["big"]["peak_mib"] - report["small"]["peak_mib"] > 150     # not inherited from the stage before
    assert stageprof.peak_mib() > report["big"]["peak_mib"] - 1     # clearing the mark resets ru_maxrss, not this


def test_the_second_pass_benchmark_captures_and_runs_on_a_linked_home(tmp_path, synth_month1, capsys):
    """``bench_second_pass.py`` stands in for the engine's ``cluster_pass`` to capture its inputs:
    the stand-in takes what a link passes (it lacked ``denied``, and capture failed), and the pass
    then runs alone on them and writes its links and queue."""
    import json

    import bench_second_pass
    from apiserver import linked_home
    from conftest import EXTRACT_DATE

    home, state, out = tmp_path / "data", tmp_path / "state.pkl", tmp_path / "out.json"
    linked_home(home, synth_month1, EXTRACT_DATE, children=0)     # a copy of the session's linked month 1
    bench_second_pass.capture(home, state)
    assert "captured the second pass's inputs" in capsys.readouterr().out
    bench_second_pass.run(home, state, out)
    assert "second pass:" in capsys.readouterr().out
    assert set(json.loads(out.read_text())) == {"links", "queue"}
