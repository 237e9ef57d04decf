"""What a linkage run changed: children created, merged, split, retired; records moved.

Read from ``identity_history`` and ``child_ids`` (written by ``linkage link``). The
server copies what it needs into memory at start-up, since it runs detached.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from linkage.errors import LinkageError, NotFound
from linkage.store.schema import t

__all__ = ["KINDS", "Change", "RunInfo", "changes_since", "departures", "finished_run_id", "last_run_id",
           "materialise_changes", "run_changes", "run_info"]

_MEMORY_HISTORY = "memory.serve_identity_history"
_MEMORY_RUNS = "memory.serve_runs"
# How identity/assign.py names each change, and the word a person reads.
_LABEL = {"minted": "created", "merged": "merged", "split": "split", "moved": "moved"}
_ORDER = {"created": 0, "split": 1, "merged": 2, "retired": 3, "moved": 4}
KINDS = tuple(_ORDER)


@dataclass(frozen=True)
class Change:
    run_id: int
    changed_at: datetime
    change: str             # created | split | merged | retired | moved
    child_id: str           # created: the new child; split: the new child; merged: the survivor;
                            # retired: the retired id; moved: the child the record joined
    other_child_id: str | None   # split: the child records left; merged: the id retired; retired:
                                 # what it now stands for; moved: the child the record left
    record_key: str | None
    reason: str


@dataclass(frozen=True)
class RunInfo:
    run_id: int
    finished_at: datetime | None
    mode: str
    records: int | None
    children: int | None
    new_ids: int | None
    merges: int | None
    splits: int | None


def _history(memory: bool) -> str:
    return _MEMORY_HISTORY if memory else t("identity_history")


def _runs(memory: bool) -> str:
    return _MEMORY_RUNS if memory else t("runs")


def materialise_changes(con) -> int:
    """Merges, splits and moves (what organisations holding pseudonyms must follow), and the runs."""
    con.execute(f"CREATE OR REPLACE TABLE {_MEMORY_HISTORY} AS SELECT * FROM {t('identity_history')} "
                "WHERE change IN ('merged', 'split', 'moved')")
    con.execute(f"CREATE OR REPLACE TABLE {_MEMORY_RUNS} AS SELECT run_id, finished_at, mode, records, children, "
                f"new_ids, merges, splits FROM {t('runs')}")
    return int(con.execute(f"SELECT count(*) FROM {_MEMORY_HISTORY}").fetchone()[0])


def last_run_id(con, memory: bool = False) -> int | None:
    row = con.execute(f"SELECT max(run_id) FROM {_runs(memory)}").fetchone()
    return None if row is None or row[0] is None else int(row[0])


def finished_run_id(con) -> int:
    """The last run that finished, in the store (0: none has yet)."""
    return int(con.execute(f"SELECT coalesce(max(run_id), 0) FROM {t('runs')} WHERE finished_at IS NOT NULL")
               .fetchone()[0])


def run_info(con, run_id: int, memory: bool = False) -> RunInfo:
    row = con.execute(f"SELECT run_id, finished_at, mode, records, children, new_ids, merges, splits "
                      f"FROM {_runs(memory)} WHERE run_id = ?", [run_id]).fetchone()
    if row is None:
        raise NotFound(f"no linkage run {run_id}")
    return RunInfo(*row)


def _changes(rows) -> list[Change]:
    return [Change(int(r[0]), r[1], _LABEL.get(r[2], r[2]), r[3], r[4], r[5], r[6]) for r in rows]


def run_changes(con, run_id: int) -> list[Change]:
    """Every change one run made, from the store; ids retired other than by a merge too."""
    hist = _changes(con.execute(
        f"SELECT run_id, changed_at, change, child_id, other_child_id, record_key, reason "
        f"FROM {t('identity_history')} WHERE run_id = ?", [run_id]).fetchall())
    merged_away = {c.other_child_id for c in hist if c.change == "merged"}
    at = hist[0].changed_at if hist else None
    for cid, alias_of in con.execute(f"SELECT child_id, alias_of FROM {t('child_ids')} WHERE retired_run = ? "
                                     "ORDER BY child_id", [run_id]).fetchall():
        if cid not in merged_away:
            hist.append(Change(run_id, at, "retired", cid, alias_of, None,
                               f"retired; now stands for {alias_of}" if alias_of else "retired"))
    return sorted(hist, key=lambda c: (_ORDER.get(c.change, 9), c.child_id, c.other_child_id or "",
                                       c.record_key or ""))


def changes_since(con, since: int | datetime | None, memory: bool = False) -> list[Change]:
    """Merges, splits and moves after run ``since`` (a run id) or after a time, oldest first."""
    sql = (f"SELECT run_id, changed_at, change, child_id, other_child_id, record_key, reason "
           f"FROM {_history(memory)} WHERE change IN ('merged', 'split', 'moved')")
    if isinstance(since, datetime):
        utc = since.astimezone(timezone.utc).replace(tzinfo=None) if since.tzinfo else since
        sql, params = sql + " AND changed_at > ?", [utc]
    elif isinstance(since, int):
        if since < 0:
            raise LinkageError("since must be a run number (0 or more) or a time")
        sql, params = sql + " AND run_id > ?", [since]
    else:
        params = []
    rows = con.execute(sql + " ORDER BY run_id, change, child_id, other_child_id, record_key", params).fetchall()
    return _changes(rows)


def departures(con, memory: bool = False) -> dict[str, tuple[tuple[str, datetime], ...]]:
    """Child -> (identifier, time) for each time records left that identifier for this child (a
    split or a move): what was one child before that time is, in part, this one now."""
    out: dict[str, dict[str, datetime]] = {}
    for child, old, at in con.execute(
            f"SELECT child_id, other_child_id, max(changed_at) FROM {_history(memory)} "
            "WHERE change IN ('split', 'moved') AND other_child_id IS NOT NULL AND other_child_id <> child_id "
            "GROUP BY ALL").fetchall():
        out.setdefault(child, {})[old] = at
    return {child: tuple(sorted(olds.items())) for child, olds in out.items()}
