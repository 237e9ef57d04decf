"""The suite's own scheduling: `make test` hands whole modules to two workers, slowest first."""

from __future__ import annotations

from conftest import REPO, SLOW_FIRST


def test_every_module_named_slowest_first_exists():
    """A renamed or removed module left in SLOW_FIRST would silently stop being scheduled early."""
    missing = [name for name in SLOW_FIRST if not (REPO / "tests" / name).is_file()]
    assert not missing and len(set(SLOW_FIRST)) == len(SLOW_FIRST), missing


def test_make_test_keeps_each_module_in_one_worker_in_collection_order():
    """Module-scoped servers and worlds, and tests that build on the one before, need their whole
    module in one process; the slowest-first order needs xdist not to re-sort modules by size."""
    recipe = (REPO / "Makefile").read_text().split("\ntest:", 1)[1].split("\n\n", 1)[0]
    assert "-n $(PYTEST_WORKERS)" in recipe and "--dist loadfile" in recipe and "--no-loadscope-reorder" in recipe
