"""A hard CPU budget for a benchmark's processes: one cgroup (v1, ``cpu`` controller) each.

On one shared 2-core machine, servers that "scale out" share the cores with each other, with
PostgreSQL, the load generator and whatever else runs. A group per server with a quota (a
fraction of a core) and a high ``cpu.shares`` gives each server the same budget, one the other
jobs cannot take: a model of a small machine per server. Groups without a quota (PostgreSQL, the
load generator) only get the high shares, so that they are not the bound.
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path("/sys/fs/cgroup/cpu")
PREFIX = "linkage-bench-"
HIGH_SHARES = 262144            # the kernel's maximum: each task elsewhere weighs 1024 at nice 0


class CgroupError(RuntimeError):
    """The cgroup v1 cpu controller is missing or not writable here."""


class Group:
    """One cgroup under ``root``, made on creation, removed by ``remove`` (its tasks sent back
    to the parent first)."""

    def __init__(self, name: str, root: Path = ROOT, shares: int = HIGH_SHARES) -> None:
        self.root = Path(root)
        if not (self.root / "cpu.cfs_quota_us").exists():
            raise CgroupError(f"CPU budgets need the cgroup v1 cpu controller mounted at {self.root} "
                              f"(no {self.root / 'cpu.cfs_quota_us'}: cgroup v2 alone is not supported)")
        self.path = self.root / f"{PREFIX}{os.getpid()}-{name}"
        self.shares = shares
        try:
            self.path.mkdir()
            (self.path / "cpu.shares").write_text(str(shares))
        except OSError as e:
            if self.path.is_dir():
                self.path.rmdir()
            raise CgroupError(f"CPU budgets need a writable cgroup v1 cpu controller at {self.root} "
                              f"(run as root): {e.strerror or e}") from None

    @property
    def procs(self) -> Path:
        """Write a process id here to move that process (all its threads) into the group."""
        return self.path / "cgroup.procs"

    def wrap(self, argv: list[str]) -> list[str]:
        """``argv`` run inside the group from its first instruction (a shell joins, then execs it),
        so every process it forks starts in the group too."""
        return ["sh", "-c", 'echo $$ > "$0" && exec "$@"', str(self.procs), *argv]

    def add(self, pid: int) -> bool:
        """Move process ``pid`` into the group; False if it has ended meanwhile."""
        try:
            self.procs.write_text(str(pid))
        except ProcessLookupError:
            return False
        return True

    def limit(self, cores: float | None, period_ms: float = 10) -> None:
        """At most ``cores`` of CPU time per ``period_ms`` (``None``: no limit). A short period
        spreads a small budget evenly (a 100 ms period would let a server run 35 ms, then stall 65)."""
        period = int(period_ms * 1000)
        (self.path / "cpu.cfs_quota_us").write_text("-1")
        (self.path / "cpu.cfs_period_us").write_text(str(period))
        if cores is not None:
            (self.path / "cpu.cfs_quota_us").write_text(str(max(1000, int(cores * period))))

    def stat(self) -> dict[str, int]:
        """``nr_periods``, ``nr_throttled`` and ``throttled_time`` (ns) so far."""
        return {k: int(v) for k, v in (line.split() for line in (self.path / "cpu.stat").read_text().splitlines())}

    def remove(self) -> None:
        if self.path.is_dir():
            _remove(self.path, self.root)


def remove_stale(root: Path = ROOT) -> list[str]:
    """Remove groups left by benchmarks that were killed (their process is gone); returns their names."""
    gone = []
    for path in sorted(Path(root).glob(PREFIX + "*")):
        owner = path.name[len(PREFIX):].split("-", 1)[0]
        if owner.isdigit() and not Path(f"/proc/{owner}").exists():
            try:
                _remove(path, Path(root))
            except OSError:         # another user's, or removed meanwhile
                continue
            gone.append(path.name)
    return gone


def _remove(path: Path, root: Path) -> None:
    """Group ``path`` removed, its tasks sent back to ``root`` first (the kernel refuses to remove
    a group that still holds one)."""
    for pid in (path / "cgroup.procs").read_text().split():
        try:
            (root / "cgroup.procs").write_text(pid)
        except OSError:             # ended meanwhile
            pass
    path.rmdir()
