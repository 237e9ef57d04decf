"""Clerical review: the open queue with the records behind it (the view a reviewer reads and decides
through), and splitting a record out of a child.

The decisions log is ``decisions``; what decisions mean to a run, and the queue, ``reviewqueue``.
Their public names are importable from here too.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple

import pandas as pd

from linkage.connectors.ingest import CURRENT_RECORDS_SQL, LINK_RECORDS_SQL
from linkage.errors import LinkageError, NotFound
from linkage.link.aliases import resolve_aliases
from linkage.link.decisions import DECISIONS, Decision, ReviewDecisions, pair_id
from linkage.link.explain import Explanation, Waterfall, explain_pair
from linkage.link.features import normalise_address
from linkage.link.reviewqueue import Constraints, build_queue, constraints, priority, undecided
from linkage.model import PersonRecord
from linkage.store import Store
from linkage.store.schema import t
from linkage.validation import normalise_name, normalise_nhs_number, normalise_postcode, normalise_upn

if TYPE_CHECKING:
    from splink import Linker

__all__ = ["DECISIONS", "Constraints", "Decision", "ReviewDecisions", "ReviewView", "SideBySide", "build_queue",
           "child_records", "constraints", "current_records", "model_features", "pair_id", "priority", "split_out",
           "undecided"]

DISPLAY_FIELDS = tuple(name for name in PersonRecord.model_fields if name != "source")


def _in_list(keys: Iterable[str]) -> str:
    quoted = ", ".join("'" + k.replace("'", "''") + "'" for k in sorted(set(keys)))
    return f"({quoted})" if quoted else "(NULL)"


def current_records(store: Store, keys: Iterable[str]) -> pd.DataFrame:
    """The current (not superseded) records with these keys, every field the sources gave."""
    cols = ", ".join(f"r.{c}" for c in DISPLAY_FIELDS)
    return store.df(f"SELECT r.record_key, r.source, {cols} FROM ({CURRENT_RECORDS_SQL}) r "
                    f"WHERE r.record_key IN {_in_list(keys)} ORDER BY r.record_key")


def model_features(store: Store, keys: Iterable[str]) -> tuple[dict[str, dict], dict[str, str]]:
    """The records' rows as the model sees them (Splink's input), built in the store's memory,
    and that input's column types."""
    from linkage.link.engine import INPUT, LinkEngine

    LinkEngine(store, f"SELECT * FROM ({LINK_RECORDS_SQL}) WHERE record_key IN {_in_list(keys)}")
    types = {name: typ for name, typ, *_ in store.rows(f"DESCRIBE memory.{INPUT}")}
    # Python values as DuckDB gives them (None, date, list), as the lookup's scorer reads them.
    quoted = ", ".join(f'"{c}"' for c in types)
    rows = [dict(zip(types, row)) for row in store.rows(f"SELECT {quoted} FROM memory.{INPUT}")]
    for name in (INPUT, "link_hash", "name_keys", "cotwins", "twin_names", "two_upns"):   # working copies: a server's memory is precious
        store.execute(f"DROP TABLE IF EXISTS memory.{name}")
    return {row["unique_id"]: row for row in rows}, types


@dataclass
class ReviewView:
    """The open queue with the records behind it, read once from the store.

    The API server loads it at start-up, before it lets go of the store file; the command line
    loads it per command. Decisions are read live from the log, so a pair decided since the last
    run leaves the listing at once.
    """

    queue: pd.DataFrame              # review_queue rows
    records: dict[str, dict]         # record key -> its fields
    content: dict[str, str]          # record key -> content hash at the last run
    features: dict[str, dict]        # record key -> Splink input row
    types: dict[str, str]            # Splink input column -> DuckDB type
    tf: pd.DataFrame
    model_json: str | None
    child_of: dict[str, str] = field(default_factory=dict)     # record key -> its child at the last run
    _waterfall: Waterfall | None = field(default=None, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    # Made once each: the queue does not change while it is served.
    _by_order: dict[str, pd.DataFrame] = field(default_factory=dict, init=False, repr=False)
    _rows: dict[str, int] | None = field(default=None, init=False, repr=False)

    @classmethod
    def empty(cls) -> ReviewView:
        queue = pd.DataFrame(columns=["pair_id", "record_key_l", "record_key_r", "match_probability", "match_weight",
                                      "reason", "cluster_size", "priority", "first_run"])
        return cls(queue, {}, {}, {}, {}, pd.DataFrame(columns=["column_name", "value", "tf"]), None)

    @classmethod
    def load(cls, store: Store, features: bool = True) -> ReviewView:
        queue = store.df(f"SELECT pair_id, record_key_l, record_key_r, match_probability, match_weight, reason, "
                         f"coalesce(cluster_size, 2) AS cluster_size, coalesce(priority, 0) AS priority, "
                         f"coalesce(first_run, run_id) AS first_run FROM {t('review_queue')} "
                         "WHERE status = 'open' AND pair_id IS NOT NULL")
        keys = set(queue["record_key_l"]) | set(queue["record_key_r"])
        records = {r["record_key"]: r for r in current_records(store, keys).to_dict("records")}
        content = dict(store.rows(f"SELECT record_key, content_sha FROM {t('linked_records')} "
                                  f"WHERE record_key IN {_in_list(keys)}"))
        model = store.rows(f"SELECT settings_json FROM {t('model')} ORDER BY created_at DESC LIMIT 1")
        tf = store.df(f"SELECT column_name, value, tf FROM {t('term_frequencies')}")
        feats, types = model_features(store, keys) if features and keys else ({}, {})
        child_of = dict(store.rows(f"SELECT record_key, child_id FROM {t('identity')} "
                                   f"WHERE record_key IN {_in_list(keys)}"))
        return cls(queue, records, content, feats, types, tf, model[0][0] if model else None, child_of)

    def open_pairs(self, latest: dict[str, Decision], reason: str | None = None, min_p: float = 0.0,
                   max_p: float = 1.0, order: str = "priority") -> pd.DataFrame:
        """Pairs still to decide (an "unsure" stays), filtered by reason (a substring) and band."""
        if order not in ("priority", "match_weight", "match_probability", "first_run"):
            raise LinkageError("order by one of: priority, match_weight, match_probability, first_run")
        settled = constraints(latest, self.content).settled
        q = self._sorted(order)
        keep = (q["match_probability"] >= min_p) & (q["match_probability"] <= max_p)
        if settled:
            keep &= ~q["pair_id"].isin(settled)
        if reason:
            keep &= q["reason"].str.contains(reason, case=False, regex=False)
        q = q[keep]
        decided = pd.Series({p: d.decision for p, d in latest.items()}, dtype=object)
        return q.assign(last_decision=q["pair_id"].map(decided).fillna("") if latest else "").reset_index(drop=True)

    def _sorted(self, order: str) -> pd.DataFrame:
        """The whole queue in this order, sorted once."""
        if order not in self._by_order:
            self._by_order[order] = self.queue.sort_values([order, "pair_id"], ascending=[order == "first_run", True])
        return self._by_order[order]

    def pair(self, pid: str) -> dict:
        if self._rows is None:
            self._rows = {p: i for i, p in enumerate(self.queue["pair_id"])}
        if pid not in self._rows:
            raise NotFound(f"no pair {pid} in the review queue (run `linkage review list`)")
        return self.queue.iloc[self._rows[pid]].to_dict()

    def children(self, pid: str) -> list[str]:
        """The children whose records the pair shows: whoever sees or decides it is in their
        subject access report."""
        p = self.pair(pid)
        return sorted({c for k in (p["record_key_l"], p["record_key_r"]) if (c := self.child_of.get(k))})

    def side_by_side(self, pid: str) -> list[SideBySide]:
        """Every field of the two records, compared as the model reads them."""
        p = self.pair(pid)
        left, right = self.records.get(p["record_key_l"], {}), self.records.get(p["record_key_r"], {})
        out = []
        for name in ("record_key", "source", *DISPLAY_FIELDS):
            a, b = _show(left.get(name)), _show(right.get(name))
            same = _as_read(name, a) == _as_read(name, b)
            out.append(SideBySide(name, a, b, not same, same and a != b))
        return out

    def warm(self, linker: Linker | None = None) -> None:
        """Make now what the first visit would: the waterfall, the queue by priority, the pair index.
        ``linker``: a Splink Linker built already for this view's model (the lookup's, at a server's
        start), whose settings the waterfall reads instead of building a second one."""
        self.waterfall(linker)
        self._sorted("priority")
        if len(self.queue):
            self.pair(self.queue["pair_id"].iloc[0])

    def waterfall(self, linker: Linker | None = None) -> Waterfall | None:
        """The saved model's waterfall in Python, built on first use (None: no model); ``linker``:
        as ``warm`` takes it."""
        if self.model_json is None or not self.types:
            return None
        with self._lock:
            if self._waterfall is None:
                self._waterfall = Waterfall(self.model_json, self.types, self.tf, linker)
        return self._waterfall

    def explain(self, pid: str, chart: bool = False) -> Explanation:
        """The pair's waterfall; with ``chart``, through Splink itself, which also draws it."""
        p = self.pair(pid)
        left, right = self.features.get(p["record_key_l"]), self.features.get(p["record_key_r"])
        if self.model_json is None or left is None or right is None:
            raise LinkageError("cannot explain this pair: no saved model, or a record is no longer current")
        fast = None if chart else self.waterfall()
        if fast is not None and fast.compiled:
            return fast.explain(left, right)
        return explain_pair(self.model_json, left, right, self.types, self.tf, chart)

    def decide(self, decisions: ReviewDecisions, pid: str, decision: str, *, reviewer: str, note: str,
               channel: str, client_id: str | None = None, seen: int | None = None) -> Decision:
        p = self.pair(pid)
        a, b = p["record_key_l"], p["record_key_r"]
        weight = None if pd.isna(p["match_weight"]) else float(p["match_weight"])
        return decisions.add([(a, b, self.content.get(a), self.content.get(b), float(p["match_probability"]),
                               weight)], decision=decision, reviewer=reviewer, note=note, channel=channel,
                             client_id=client_id, seen=seen)[0]


class SideBySide(NamedTuple):
    field: str
    left: str
    right: str
    differs: bool                # as the model reads them
    written_differently: bool    # the same to the model, written otherwise ("WONG" and "Wong")


# How the model reads a field before comparing it (validation and features): "WONG" is "wong",
# "Smith-Jones" is "smith jones", "sw1a1aa" is "SW1A 1AA".
_NAME_FIELDS = frozenset({"forename", "middle_names", "surname", "former_surname", "preferred_forename",
                          "preferred_surname"})
_READERS = {"postcode": lambda v: normalise_postcode(v) or v, "address": normalise_address,
            "upn": normalise_upn, "former_upn": normalise_upn, "nhs_number": normalise_nhs_number}


def _as_read(name: str, value: str) -> str | None:
    if not value:
        return None
    read = normalise_name(value) if name in _NAME_FIELDS else _READERS.get(name, str)(value)
    return read or value          # nothing left once read (a name of "!!"): compared as written


def _show(value: object) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NaT:
        return ""
    if isinstance(value, pd.Timestamp):
        return value.date().isoformat()
    return str(value)


def child_records(store: Store, child_id: str) -> tuple[str, pd.DataFrame]:
    """(the identifier now standing for ``child_id``, every current record of that child)."""
    child_id = child_id.strip().upper()      # as typed from a letter or a screen: c-… is C-…
    cur = resolve_aliases(store).get(child_id, child_id)
    keys = [r[0] for r in store.rows(f"SELECT record_key FROM {t('identity')} WHERE child_id = ?", [cur])]
    if not keys:
        raise NotFound(f"no child {child_id}")
    return cur, current_records(store, keys)


def split_out(store: Store, decisions: ReviewDecisions, child_id: str, record_key: str, *, reviewer: str,
              note: str, channel: str, client_id: str | None = None) -> list[Decision]:
    """"Split this record out": a not-a-match between ``record_key`` and each other record of the child,
    and the rest kept as one child (a match from its first record to each other one, kind "split").

    The reviewer saw the whole child and took one record out of it: the rest stays one child even
    where only the record taken out held it together (a UPN-only and an NHS-only record bridged by
    one holding both). Records split out of this child earlier, not yet relinked, are neither.
    """
    current, members = child_records(store, child_id)
    keys = list(members["record_key"])
    record_key = record_key.strip()
    if record_key not in keys:
        # A record id typed without its source ("P000000033" for "health:P000000033"): name it.
        named = [k for k in keys if k.split(":", 1)[-1] == record_key]
        hint = f" (did you mean {' or '.join(named)}? a record key is source:record id)" if named else ""
        raise NotFound(f"record {record_key} is not part of child {current}{hint}")
    standing = decisions.latest().values()
    gone = _split_already(standing, current, set(keys))
    if record_key in gone:
        taken = _split_from(standing, current, record_key)
        if taken:   # the other end of a split: the child's last record, left on its own
            were = "was" if len(taken) == 1 else "were"
            raise LinkageError(f"{record_key} is already on its own: {', '.join(taken)} {were} split out of "
                               f"{current}, and the next `linkage link` applies it")
        raise LinkageError(f"{record_key} is already split out of {current}: the next `linkage link` applies it")
    rest = [k for k in keys if k != record_key and k not in gone]
    if not rest:
        raise LinkageError(f"{record_key} is the only record of {current}: nothing to split it from")
    content = dict(store.rows(f"SELECT record_key, content_sha FROM {t('linked_records')} "
                              f"WHERE record_key IN {_in_list(keys)}"))
    with decisions.state.transaction():
        apart = decisions.add([(record_key, k, content.get(record_key), content.get(k), None, None) for k in rest],
                              decision="not_match", kind="split", child_id=current, reviewer=reviewer, note=note,
                              channel=channel, client_id=client_id)
        kept = decisions.add([(rest[0], k, content.get(rest[0]), content.get(k), None, None) for k in rest[1:]],
                             decision="match", kind="split", child_id=current, reviewer=reviewer, note=note,
                             channel=channel, client_id=client_id)
    return apart + kept


def _split_from(latest: Iterable[Decision], child_id: str, record_key: str) -> list[str]:
    """The records a standing split of ``child_id`` took away from ``record_key`` (split pairs name the
    record split out first)."""
    return sorted(d.record_key_l for d in latest if d.kind == "split" and d.child_id == child_id
                  and d.decision == "not_match" and d.record_key_r == record_key)


def _split_already(latest: Iterable[Decision], child_id: str, keys: set[str]) -> set[str]:
    """Records of ``keys`` split out of ``child_id`` by a decision still standing: an end of a split's
    not-a-match that no standing split keeps in the child."""
    ours = [d for d in latest if d.kind == "split" and d.child_id == child_id
            and d.record_key_l in keys and d.record_key_r in keys]
    kept = {k for d in ours if d.decision == "match" for k in (d.record_key_l, d.record_key_r)}
    return {k for d in ours if d.decision == "not_match" for k in (d.record_key_l, d.record_key_r)} - kept
