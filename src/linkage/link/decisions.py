"""Clerical review's decisions log: stable pair ids and the append-only log of decisions.

Decisions live in the service state (SQLite), not in the linked store: the API server holds the
store read-only and detached, and a decision made at the command line or through the API must
land in the one log that the next ``linkage link`` reads. Rows are never updated or deleted
(triggers refuse it); the latest decision on a pair is the one that counts. Notes are free text
and may name people, so they are sealed like the break-glass justifications.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone

from linkage.errors import Conflict, LinkageError
from linkage.store.sealed import Sealer
from linkage.store.state import ServiceState
from linkage.validation import check_text

__all__ = ["DECISIONS", "NOTE_LIMIT", "REVIEWER_LIMIT", "Decision", "ReviewDecisions", "pair_id"]

DECISIONS = ("match", "not_match", "unsure")
_COLS = ("decision_id, pair_id, record_key_l, record_key_r, content_sha_l, content_sha_r, decision, kind, "
         "child_id, match_probability, match_weight, reviewer, note, channel, client_id, decided_at")


def pair_id(a: str, b: str) -> str:
    """A pair's id, the same every run: derived from the two record keys, in either order."""
    left, right = sorted((a, b))
    return "rv-" + hashlib.sha256(f"{left}\x1f{right}".encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Decision:
    decision_id: int
    pair_id: str
    record_key_l: str
    record_key_r: str
    content_sha_l: str | None
    content_sha_r: str | None
    decision: str              # match | not_match | unsure
    kind: str                  # pair | split
    child_id: str | None       # the child reviewed, for a split
    match_probability: float | None
    match_weight: float | None
    reviewer: str
    note: str
    channel: str               # cli | api
    client_id: str | None
    decided_at: str


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


# As the API's ReviewDecisionCreate takes them.
REVIEWER_LIMIT, NOTE_LIMIT = 100, 1000


class ReviewDecisions:
    """The decisions log, one row per decision, in the service state."""

    def __init__(self, state: ServiceState, sealer: Sealer) -> None:
        self.state = state
        self.sealer = sealer

    def add(self, pairs: Iterable[tuple[str, str, str | None, str | None, float | None, float | None]], *,
            decision: str, reviewer: str, note: str = "", channel: str, kind: str = "pair",
            child_id: str | None = None, client_id: str | None = None, seen: int | None = None) -> list[Decision]:
        """Append one decision per (key, key, sha, sha, probability, weight), all or none.

        ``seen``: the id of the pair's latest decision when the reviewer looked at it (0: none). A
        decision recorded since is not overwritten unseen (two reviewers on one pair, a form
        left open, the back button): ``Conflict``, naming it. The same decision sent again by the
        same reviewer (a double click) is that decision, not a second one."""
        if decision not in DECISIONS:
            raise LinkageError(f"a decision is one of {', '.join(DECISIONS)}")
        if not reviewer.strip():
            raise LinkageError("a decision needs the reviewer's name")
        # Checked here, where every channel writes (API, pages, CLI), as the API's schema checks them:
        # the name goes into the audit entry, both are shown to the next reviewer.
        for what, value, limit in (("the reviewer's name", reviewer.strip(), REVIEWER_LIMIT),
                                   ("the note", note, NOTE_LIMIT)):
            if value and (why := check_text(value, limit)):
                raise LinkageError(f"{what}: {why}")
        out = []
        with self.state.transaction():
            for a, b, sha_a, sha_b, prob, weight in pairs:
                if a == b:
                    raise LinkageError("a pair needs two different records")
                (left, sha_l), (right, sha_r) = sorted(((a, sha_a), (b, sha_b)))
                pid, at = pair_id(left, right), _now()
                if seen is not None and (since := self._since(pid, seen)):
                    last = since[-1]
                    if len(since) == 1 and (last.decision, last.reviewer, last.note) == (decision, reviewer.strip(), note):
                        out.append(last)
                        continue
                    raise Conflict(f"{pid} was decided while you had it open ({last.decision.replace('_', ' ')} by "
                                   f"{last.reviewer} at {last.decided_at[:16].replace('T', ' ')}): yours was not "
                                   "recorded; look at the pair again before deciding")
                sealed = self.sealer.seal(note, f"review:{pid}:{at}") if note else ""
                decision_id = self.state.scalar(
                    f"INSERT INTO review_decisions ({_COLS.split(', ', 1)[1]}) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING decision_id",
                    (pid, left, right, sha_l, sha_r, decision, kind, child_id, prob, weight, reviewer.strip(),
                     sealed, channel, client_id, at))
                out.append(Decision(decision_id, pid, left, right, sha_l, sha_r, decision, kind, child_id,
                                    prob, weight, reviewer.strip(), note, channel, client_id, at))
        return out

    def _rows(self, where: str = "", params: tuple = ()) -> list[Decision]:
        rows = self.state.execute(f"SELECT {_COLS} FROM review_decisions {where} ORDER BY decision_id",
                                  params).fetchall()
        out = []
        for r in rows:
            d = dict(r)
            if d["note"]:
                d["note"] = self.sealer.open(d["note"], f"review:{d['pair_id']}:{d['decided_at']}")
            out.append(Decision(**d))
        return out

    def _since(self, pid: str, seen: int) -> list[Decision]:
        return self._rows("WHERE pair_id = ? AND decision_id > ?", (pid, seen))

    def all(self) -> list[Decision]:
        return self._rows()

    def history(self, pid: str) -> list[Decision]:
        return self._rows("WHERE pair_id = ?", (pid,))

    def latest(self) -> dict[str, Decision]:
        """The decision that counts for each pair: its latest."""
        return {d.pair_id: d for d in self._rows()}
