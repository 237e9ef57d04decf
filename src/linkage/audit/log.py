"""Append-only, hash-chained audit log whose tail is sealed by signed checkpoints.

Each line of ``audit/log.jsonl`` is ASCII canonical JSON (so no character in any
field can split a line) of ``{"v": 2, "seq", "prev", "entry", "hash", "mac"}``:

- ``leaf = sha256(canonical(entry))`` and ``hash = sha256(prev || leaf)`` (raw bytes),
  so the chain between two checkpoints can be recomputed from leaf digests alone:
  a consistency proof carries no personal data (``leaves``).
- ``mac = HMAC(K, "seq:hash")`` with ``K`` derived from the signing key: whoever can
  write the data directory but does not hold the key cannot append a line the
  service will accept, seal or verify.

Lines without ``v`` are the first format (``hash = sha256(prev + canonical(entry))``,
no MAC); they still verify, but only before the first version 2 line.

The head is sealed, a signed ``{"v", "seq", "hash", "at"}`` appended to
``checkpoints.jsonl``, after every ``checkpoint_every`` entries and, with the timer
running, within ``checkpoint_seconds`` of any unsealed entry. Before sealing, the
lines since the last checkpoint are checked (chain and MAC), so a forged line is
never sealed. An entry is fsync'd before ``append`` returns; appends and seals hold
an exclusive file lock, so several server processes can share one log.

Sealing off the request path: with the timer running (the server), the append that
reaches ``checkpoint_every`` unsealed entries wakes the timer's thread instead of sealing
itself, and the file log holds its lock only to check the lines and read the head; the
slow part (the log's fsync, signing, the checkpoint's write and fsync: two fsyncs, tens
of milliseconds on a busy disk) runs under the checkpoints file's own lock while appends
go on. A seal then covers every entry written by the time it reads the head. Should the
sealer fall ``BACKLOG`` times ``checkpoint_every`` behind, appends seal in line again.

Group commit: the lock covers the chain (compute, write), not the fsync. An append
writes its line under the lock, lets go, then waits until an fsync that started after
its write has finished; one fsync covers every line written while the one before it
ran. So entries arriving together share an fsync, yet none is answered before it is on
disk. A checkpoint makes the lines it seals durable before it is written.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import hmac
import json
import logging
import os
import tempfile
import threading
import time
from abc import ABC, abstractmethod
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Iterator

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from linkage.audit.index import AuditIndex
from linkage.audit.lines import raw_lines, read_lines
from linkage.audit.signer import Signer
from linkage.errors import ConfigError, Conflict, LinkageError

__all__ = ["AuditLog", "ChainedLog", "Finding", "canonical_json", "chain", "checkpoint_valid", "leaf_digest", "raw_lines",
           "read_lines", "record_line", "verify_lines", "verify_log"]
from linkage.files import private_dir, private_opener
from linkage import boundedjson

GENESIS = "0" * 64
VERSION = 2
log = logging.getLogger("linkage.audit")


def canonical_json(value: Any, ascii_only: bool = False) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=ascii_only)


def leaf_digest(entry: dict) -> str:
    return hashlib.sha256(canonical_json(entry, True).encode()).hexdigest()


def record_line(rec: dict, entry_json: str) -> str:
    """``canonical_json(rec, True)`` for a record whose ``entry`` is already serialised as
    ``entry_json`` (for its leaf digest): the entry is not serialised twice. ``entry`` sorts
    before every other key of a record, so its text leads."""
    rest = {k: v for k, v in rec.items() if k != "entry"}
    if any(k < "entry" for k in rest):
        return canonical_json(rec, True)
    tail = canonical_json(rest, True)
    return '{"entry":' + entry_json + ("," + tail[1:] if rest else "}")


def chain(prev: str, leaf: str) -> str:
    return hashlib.sha256(bytes.fromhex(prev) + bytes.fromhex(leaf)).hexdigest()


def _hash(prev: str, entry: dict) -> str:
    """The current format's chain hash of ``entry`` after ``prev``."""
    return chain(prev, leaf_digest(entry))


def _hash_v1(prev: str, entry: dict) -> str:
    return hashlib.sha256((prev + canonical_json(entry)).encode()).hexdigest()


def _mac(key: bytes, seq: int, digest: str) -> str:
    return hmac.new(key, f"{seq}:{digest}".encode(), hashlib.sha256).hexdigest()


def checkpoint_valid(cp: dict, key: Ed25519PublicKey) -> bool:
    body = {k: v for k, v in cp.items() if k != "signature"}
    try:
        key.verify(base64.b64decode(cp["signature"]), canonical_json(body).encode())
        return True
    except (InvalidSignature, KeyError, ValueError, TypeError):
        return False


def _load(raw: str) -> dict:
    try:
        rec = boundedjson.loads(raw)
        return rec if isinstance(rec, dict) else {}
    except ValueError:
        return {}


def _well_formed(raw: str) -> dict | None:
    rec = _load(raw)
    ok = type(rec.get("seq")) is int and isinstance(rec.get("hash"), str) and len(rec["hash"]) == 64
    return rec if ok else None


def _seq_of(raw: str) -> int:
    seq = _load(raw).get("seq")
    return seq if isinstance(seq, int) else 0


@dataclass(frozen=True)
class Finding:
    line: int
    seq: int | None
    problem: str

    def __str__(self) -> str:
        return f"line {self.line} (seq {self.seq}): {self.problem}"


class _Chain:
    """Walks lines in order and says what is wrong with each."""

    def __init__(self, mac_key: bytes | None, prev: str = GENESIS, seq: int = 0, v2_seen: bool = False) -> None:
        self.mac_key, self.prev, self.expected, self.v2_seen = mac_key, prev, seq + 1, v2_seen

    def check(self, raw: str) -> tuple[dict | None, list[str]]:
        try:
            rec = boundedjson.loads(raw)
            seq, entry, digest, rec_prev = rec["seq"], rec["entry"], rec["hash"], rec["prev"]
            version = rec.get("v", 1)
            if not (type(seq) is int and isinstance(entry, dict) and isinstance(digest, str)
                    and isinstance(rec_prev, str)):
                raise TypeError
        except (ValueError, KeyError, TypeError, AttributeError):
            return None, ["not a valid log line"]
        problems = []
        if seq != self.expected:
            kind = "entries deleted before it" if seq > self.expected else "inserted, duplicated or reordered entry"
            problems.append(f"expected seq {self.expected}: {kind}")
        if rec_prev != self.prev:
            problems.append("does not chain to the line before it (deleted, inserted or reordered)")
        if version == 1:
            ok = _hash_v1(rec_prev, entry) == digest
            if self.v2_seen:
                problems.append("first-format line after version 2 lines (forged)")
        elif version == VERSION:
            try:
                ok = _hash(rec_prev, entry) == digest
            except (ValueError, TypeError):
                ok = False
            self.v2_seen = True
            if self.mac_key is not None and not hmac.compare_digest(str(rec.get("mac", "")),
                                                                    _mac(self.mac_key, seq, digest)):
                problems.append("not written by the service: its MAC does not match (forged or rewritten "
                                "without the key)")
        else:
            return rec, [f"unknown log format version {version!r}"]
        if not ok:
            problems.append("entry content does not match its hash (edited)")
        self.prev, self.expected = digest, seq + 1
        return rec, problems


def verify_log(path: Path, checkpoints: list[dict], public_key: Ed25519PublicKey, mac_key: bytes | None = None,
               witnessed: list[dict] = (), witness_key: Ed25519PublicKey | None = None) -> list[Finding]:
    """Every problem found in the log file at ``path`` (see ``verify_lines``)."""
    return verify_lines((raw for _, raw in read_lines(path)), checkpoints, public_key, mac_key, witnessed,
                        witness_key)


def _hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


def verify_lines(lines: Iterable[str], checkpoints: list[dict], public_key: Ed25519PublicKey,
                 mac_key: bytes | None = None, witnessed: list[dict] = (),
                 witness_key: Ed25519PublicKey | None = None) -> list[Finding]:
    """Every problem found: broken chain lines, forged lines (with the MAC key), and any
    checkpoint (the service's, exported ones, or a witness's under its pinned key) the log contradicts."""
    findings: list[Finding] = []
    # Only the hashes a checkpoint names are kept: a log of millions of lines is walked in constant memory.
    named = {cp.get("seq") for cp in [*checkpoints, *witnessed] if isinstance(cp, dict) and _hashable(cp.get("seq"))}
    hashes: dict[int, str] = {}
    walk = _Chain(mac_key)
    for n, raw in enumerate(lines, start=1):
        rec, problems = walk.check(raw)
        seq = rec.get("seq") if isinstance(rec, dict) else None
        findings += [Finding(n, seq, p) for p in problems]
        if rec is not None and "hash" in rec and seq in named:
            hashes[seq] = rec["hash"]
    for cps, key, whose in ((checkpoints, public_key, "signed"), (witnessed, witness_key, "witnessed")):
        for cp in cps:
            if not checkpoint_valid(cp, key):
                findings.append(Finding(0, cp.get("seq"), f"{whose} checkpoint signature is not valid"))
            elif cp["seq"] not in hashes:
                findings.append(Finding(0, cp["seq"], f"{whose} checkpoint refers to an entry that is missing "
                                                      "(truncated)"))
            elif hashes[cp["seq"]] != cp["hash"]:
                findings.append(Finding(0, cp["seq"], f"entry differs from the {whose} checkpoint (log rewritten)"))
    return findings


class ChainedLog(ABC):
    """The chain, its MACs, sealing, proofs and verification, whatever holds the lines.

    A backend keeps the lines (``_write``, ``_lines``, ``_from_sealed``) and checkpoints
    (``_write_checkpoint``, ``_checkpoint_lines``, ``last_checkpoint``), and ``_locked``
    gives one writer at a time the head (``_seq``, ``_last``) as stored now."""

    # Unsealed entries, in multiples of ``checkpoint_every``, at which appends seal in line again:
    # ``verify`` takes a tail over twice the log's rhythm for checkpoints cut away.
    BACKLOG = 2
    _SEALS_APART = False    # the checkpoint's write may run outside ``_locked`` (``_checkpoint_locked``)

    def __init__(self, home: Path, checkpoint_every: int = 10, signer: Signer | None = None,
                 checkpoint_seconds: float | None = None) -> None:
        self.home = Path(home)
        self.signer = signer or Signer.default(self.home)
        self.public_key: Ed25519PublicKey = self.signer.public_key
        self.checkpoint_every = checkpoint_every
        self._lock = threading.Lock()
        self._closing = False
        self._inline_seal = threading.Lock()
        self._seq, self._last = 0, GENESIS
        # Unsealed lines known to pass the chain check, by their exact text: (seq, prev, hash). This
        # process's own lines, and lines a seal of its checked; a seal re-checks only the others.
        self._checked: dict[str, tuple[int, str, str]] = {}
        self.lines_checked = 0      # lines a seal checked in full (the tests see the cache at work)
        self._open_storage()
        with self._locked():
            self._sealed = (self.last_checkpoint() or {}).get("seq", 0)
        self._stop = threading.Event()
        self._due = threading.Event()       # wakes the timer's thread: ``checkpoint_every`` reached
        self._timer: threading.Thread | None = None
        self._index = None
        self._index_lock = threading.Lock()  # made once: the sealer's thread and a request both ask
        self._refused: tuple[int, str] | None = None       # (checkpoint seq, why) of a refused seal
        self._refused_logged: tuple[int, str] | None = None
        if checkpoint_seconds:
            self.start_timer(checkpoint_seconds)

    # -- what a backend provides ---------------------------------------------------
    @abstractmethod
    def _open_storage(self) -> None: ...

    @abstractmethod
    def _locked(self) -> AbstractContextManager[None]:
        """This thread and process alone, with ``_seq``/``_last`` the head as stored now."""

    def _append_one(self, entry: dict) -> dict:
        """Chain and write one entry (``_append_locked`` under ``_locked``); a backend may instead
        gather the entries of concurrent appends and write them together (group commit)."""
        with self._locked():
            return self._append_locked(entry)

    @abstractmethod
    def _write(self, seq: int, line: str, rec: dict) -> None:
        """Store one line (inside ``_locked``): durably, or made durable by ``_durable``."""

    def _durable(self, seq: int) -> None:
        """Return once line ``seq`` (already written, by any process) is on disk (outside ``_locked``)."""

    @abstractmethod
    def _lines(self, after: int = 0, offset: int | None = None) -> Iterator[str]:
        """The stored lines in order, from the first whose seq is above ``after`` (maybe earlier ones
        too: callers skip them); ``offset`` is a hint where that starts, when the caller has one."""

    @abstractmethod
    def _from_sealed(self, after: int, sealed_hash: str) -> tuple[list[str], int] | None:
        """(lines from the one checkpoint ``after`` seals, how many of them are sealed), or None if
        that line is not there."""

    @abstractmethod
    def _newest(self) -> dict | None:
        """The newest well-formed line's record (junk after it passed over); None: no line."""

    @abstractmethod
    def _write_checkpoint(self, line: str) -> None: ...

    @abstractmethod
    def _checkpoint_lines(self) -> Iterator[str]: ...

    def _checkpoint_locked(self) -> AbstractContextManager[None]:
        """One checkpoint writer at a time across processes, without the log's lock (only for a
        backend with ``_SEALS_APART``)."""
        raise NotImplementedError

    @abstractmethod
    def last_checkpoint(self) -> dict | None:
        """The newest checkpoint signed by this log's key; junk or forged lines are passed over."""

    @abstractmethod
    def _close_storage(self) -> None: ...

    @property
    @abstractmethod
    def index(self):
        """The DPO's search over this log: ``search(...)``, ``sync()``, ``offset_of(seq)``, and ``check()`` (where it
        disagrees with the log, repaired from it)."""

    def _one_index(self, make):
        """The backend's index, made by ``make()`` on first use, once: asked at the same moment by
        the sealer's thread and a request, two were made and the one kept by chance."""
        with self._index_lock:
            if self._index is None:
                self._index = make()
            return self._index

    def refuse_another_key(self) -> None:
        """A keyed log is carried on only under the key it was written with: its newest line's MAC,
        or a checkpoint, proves this signer's key. Under another (a second server given its own
        key, a key file swapped), every line before would stop verifying and no seal would be
        possible again, while requests went on being answered. Servers ask before they start;
        ``linkage audit verify`` does not (it reports each line that does not verify)."""
        head = self._newest()
        if head is None or head.get("v", 1) < VERSION:
            return          # empty, or first-format (unkeyed) throughout: any key may carry it on
        if hmac.compare_digest(str(head.get("mac", "")), _mac(self.signer.mac_key, head["seq"], head["hash"])):
            return
        if self.last_checkpoint() is not None:
            return          # the newest line is not the service's (verify reports it), the seals are
        raise ConfigError(f"the audit log ({self.where}, {head['seq']} entries) was written under another signing "
                          f"key than {self.signer.where}: give this server the key the log was written with "
                          "(every server sharing a log needs the same one); under a new key the entries before "
                          "would no longer verify, so none is written")

    def refuse_damaged(self) -> None:
        """Before a server starts. A torn last line (a crash mid-append) is set aside and recorded
        (``_mend_tail``): the service wrote it and never answered for it. A line after the last
        checkpoint that does not verify (junk, an edit, a deletion: not what a crash leaves) is
        refused in one line: a server would chain every entry it writes onto a log that no longer
        verifies, and no seal would cover them until someone looked. The operator runs `linkage
        audit verify`, and `linkage audit seal --acknowledge` records that it was seen. Damage
        before the last checkpoint is for `verify` and the witness (a full read of the log)."""
        with self._locked():
            self._mend_tail()
            problem = self._unsealed_problem(self.last_checkpoint())
        if problem:
            raise ConfigError(f"the audit log ({self.where}) does not verify after its last checkpoint, at "
                              f"{problem}: run `linkage audit verify` to see where, then `linkage audit seal "
                              "--acknowledge` to record that it was seen and serve on")
        self.index      # made now: a damaged index file is set aside, rebuilt and recorded at start
        self._record_index_damage()

    def _mend_tail(self) -> None:
        """Under ``_locked``: a backend whose writes can be torn leaves no partial last line behind."""

    def _record_index_damage(self) -> None:
        """What the index set aside (a damaged file, kept as evidence), as security events the DPO
        sees. Outside ``_locked``: found under it (a seal reads the index), it waits until here."""
        pending = getattr(self._index, "damaged", None)
        while pending:
            found = pending.pop(0)
            self.append({"request_id": "", "client_id": None, "action": "security.audit_index_damaged",
                         "decision": "refused", **found})

    @property
    def where(self) -> str:
        """The log, as an operator would name it."""
        return str(self.home / "audit" / "log.jsonl")

    # -- writing ---------------------------------------------------------------
    def append(self, entry: dict) -> dict:
        """Chain, MAC, write and make durable one entry before this returns; then seal if due."""
        out = self._append_one(entry)
        self._durable(out["seq"])
        unsealed = out["seq"] - self._sealed
        if unsealed >= self.checkpoint_every:
            if self._timer is not None and self._timer.is_alive() and unsealed < self._backlog():
                self._due.set()         # the timer's thread seals it, off this request's path
            else:
                with self._inline_seal:     # appends written together wait for one seal, not one each
                    if self._sealed < out["seq"]:
                        try:
                            self.seal_if_due()
                        except Exception:   # the entry is written: its request stands, the seal comes later
                            log.exception("audit seal failed")
        self._record_index_damage()
        return out

    def _backlog(self) -> int:
        """Unsealed entries at which appends seal in line (the timer's seals fell behind)."""
        return self.BACKLOG * self.checkpoint_every

    def _append_locked(self, entry: dict) -> dict:
        self._mend_tail()
        seq = self._seq + 1
        entry = {**entry, "time": entry.get("time") or datetime.now(timezone.utc).isoformat()}
        entry_json = canonical_json(entry, True)
        digest = chain(self._last, hashlib.sha256(entry_json.encode()).hexdigest())     # _hash's own
        rec = {"v": VERSION, "seq": seq, "prev": self._last, "entry": entry, "hash": digest,
               "mac": _mac(self.signer.mac_key, seq, digest)}
        line = record_line(rec, entry_json)
        self._write(seq, line, rec)
        self._known(line, (seq, self._last, digest))
        self._seq, self._last = seq, digest
        return {"seq": seq, "hash": digest}

    def _cut_back(self, had: int, replaced: bool = False) -> None:
        """Under the lock, the head just read (``_seq``) is behind ``had``, an entry this process wrote
        or saw (or, ``replaced``, the row at ``had`` now holds another line: cut and written again):
        the newest entries were cut away under a running server (a file truncated in place,
        PostgreSQL rows deleted with the table's trigger off). Appends go on from the head found,
        so nothing the server writes later is lost, and the cut is recorded, chained on it: the
        DPO's security events show it, and `verify` and the witness show the checkpoints it broke.
        What this process believed sealed goes back with the head: the next seal is due ``checkpoint_every``
        entries after the head found (not after the one it had), and a refusal of lines now gone is forgotten."""
        self._sealed = min(self._sealed, self._seq)
        self._refused = None
        log.error("the audit log's newest entries were cut away while the server ran: it had seq %d, "
                  "the log now ends at seq %d%s", had, self._seq,
                  " (the entries it had seen were written again by another)" if replaced else "")
        self._append_locked({"request_id": "", "client_id": None, "action": "security.audit_log_cut",
                             "decision": "refused", "found_seq": self._seq, "had_seq": had,
                             **({"replaced": True} if replaced else {})})

    CHECKED_MOST = 4096     # lines remembered as checked, at most (the oldest are forgotten first)

    def _known(self, line: str, link: tuple[int, str, str]) -> None:
        self._checked[line] = link
        if len(self._checked) > self.CHECKED_MOST:
            for old in list(self._checked)[:len(self._checked) // 2]:
                del self._checked[old]

    def _unsealed_problem(self, last: dict | None) -> str | None:
        """Why the lines after the last checkpoint must not be sealed, if they must not."""
        after, sealed_hash = (last["seq"], last["hash"]) if last else (0, GENESIS)
        if not after:
            lines, cut = list(self._lines()), 0
        else:
            found = self._from_sealed(after, sealed_hash)
            if found is None:
                return f"the entry the last checkpoint seals (seq {after}) is not in the log"
            lines, cut = found
        sealed_v2 = cut > 0 and _load(lines[cut - 1]).get("v", 1) == VERSION
        walk = _Chain(self.signer.mac_key, sealed_hash, after, v2_seen=sealed_v2)
        self._checked = {raw: link for raw, link in self._checked.items() if link[0] > after}
        for raw in lines[cut:]:
            link = self._checked.get(raw)
            if link is not None and link[0] == walk.expected and link[1] == walk.prev:
                # The same text passed (or was written by this process) after the same line: the check's
                # answer depends on nothing else, so it would pass again (a version 2 line, with its MAC).
                walk.prev, walk.expected, walk.v2_seen = link[2], link[0] + 1, True
                continue
            self.lines_checked += 1
            rec, problems = walk.check(raw)
            if problems:
                seq = (rec or {}).get("seq")
                return f"{f'seq {seq}' if seq is not None else f'the line after seq {walk.expected - 1}'}: {problems[0]}"
            if rec.get("v") == VERSION:
                self._known(raw, (rec["seq"], rec["prev"], rec["hash"]))
        return None

    def _prepare_seal(self, acknowledge: bool = False) -> dict:
        """Under ``_locked``: the unsigned checkpoint of the head, after checking the lines it
        seals; or the newest checkpoint, if that already covers the head."""
        last = self.last_checkpoint()
        if last and (last["seq"], last["hash"]) == (self._seq, self._last):
            self._sealed = last["seq"]
            return last
        after = last["seq"] if last else 0
        if last and after > self._seq and acknowledge:
            raise Conflict(f"the audit log was cut back below its newest checkpoint (seq {after}; the log now ends "
                           f"at seq {self._seq}): checkpoints never go back, so the entries since the cut can be "
                           f"sealed, acknowledged, once the log is past seq {after}; `linkage audit verify` shows "
                           "the cut")
        # A refusal stands until a checkpoint moves on: the growing tail is not re-read each time.
        cached = self._refused and self._refused[0] == after and not acknowledge
        if last and after >= self._seq:     # cut back under it (and written again up to it): it seals no line here
            problem = f"the entry the last checkpoint seals (seq {after}) is not in the log"
        else:
            problem = self._refused[1] if cached else self._unsealed_problem(last)
        if problem and not acknowledge:
            self._refused = (after, problem)
            raise Conflict(f"audit log tampered, not sealing it: {problem}; run `linkage audit verify`, "
                           "then `linkage audit seal --acknowledge` to go on")
        if problem:
            self._append_locked({"request_id": "", "client_id": None, "action": "audit.tamper_acknowledged",
                                 "decision": "allow", "problem": problem, "after_seq": after})
        self._refused = None
        return {"v": VERSION, "seq": self._seq, "hash": self._last, "at": datetime.now(timezone.utc).isoformat()}

    def _commit_seal(self, body: dict) -> dict:
        """Sign and write ``body`` (from ``_prepare_seal``), unless a checkpoint at or past it was
        written meanwhile (by another thread or process): checkpoints never go back."""
        last = self.last_checkpoint()
        if last and last["seq"] >= body["seq"]:
            self._sealed = max(self._sealed, last["seq"])
            return last
        self._durable(body["seq"])         # never seal a line not yet on disk, whichever process wrote it
        cp = {**body, "signature": base64.b64encode(self.signer.sign(canonical_json(body).encode())).decode()}
        self._write_checkpoint(canonical_json(cp))
        self._sealed = max(self._sealed, body["seq"])
        return cp

    def _commit(self, body: dict) -> dict:
        """``_commit_seal``, under the checkpoints' own lock where the backend seals apart."""
        if self._SEALS_APART:
            with self._checkpoint_locked():
                return self._commit_seal(body)
        return self._commit_seal(body)

    def _seal_locked(self, acknowledge: bool = False) -> dict:
        found = self._prepare_seal(acknowledge)
        return found if "signature" in found else self._commit(found)

    def _seal_quietly(self, seal=None) -> dict | None:
        """Seal (``seal()``, by default ``_seal_locked``) from the request path or the timer: a
        failure is logged, never raised."""
        try:
            return (seal or self._seal_locked)()
        except LinkageError as exc:
            if self._refused_logged != self._refused:
                log.error("%s", exc)
                self._refused_logged = self._refused
        except Exception:
            log.exception("audit seal failed")
        self._sealed = self._seq                # retry after N more entries or at the timer
        return None

    def checkpoint(self, acknowledge: bool = False) -> dict:
        """Seal the head now (or return the newest checkpoint if nothing is unsealed). With
        ``acknowledge``, seal even over lines the service did not write, after recording that
        in an ``audit.tamper_acknowledged`` entry: the operator has seen `audit verify`'s report."""
        with self._locked():
            if self._seq == 0:
                raise Conflict("the audit log is empty: nothing to seal")
            return self._seal_locked(acknowledge)

    def seal_if_due(self) -> dict | None:
        with self._locked():
            if self._seq <= self._sealed:
                return None
            if not self._SEALS_APART:
                return self._seal_quietly()
            found = self._seal_quietly(self._prepare_seal)
        if found is None or "signature" in found:
            return found
        return self._seal_quietly(lambda: self._commit(found))     # appends go on meanwhile

    def start_timer(self, seconds: float) -> None:
        """Seal any unsealed entries every ``seconds`` (no entry stays unsealed longer), and when
        an append reaches ``checkpoint_every`` (``_due``). One timer a log: starting it again
        changes its period (a second thread would outlive ``close`` and seal a closed log)."""
        self._period = seconds
        if self._timer is not None and self._timer.is_alive():
            self._due.set()
            return

        def run():
            tick = time.monotonic() + self._period
            while not self._stop.is_set():
                woken = self._due.wait(max(0.0, tick - time.monotonic()))
                if self._stop.is_set():
                    break
                self._due.clear()
                try:
                    self.seal_if_due()
                    if not woken or time.monotonic() >= tick:
                        tick = time.monotonic() + self._period
                        self.index.sync()   # keeps the DPO's index warm (and built) off the request path
                        self._record_index_damage()
                except Exception:           # a failure must not kill the timer
                    if self._stop.is_set():     # closed under it: ``close`` seals what is left
                        break
                    log.exception("audit seal or index failed")
        self._timer = threading.Thread(target=run, name="audit-seal", daemon=True)
        self._timer.start()

    def close(self) -> None:
        """Stop the timer, seal what is unsealed, close the storage; a second close does nothing."""
        self._stop.set()
        self._due.set()
        if self._timer is not None and self._timer is not threading.current_thread():
            # Until its step (a seal, an index sync) ends, however slow a loaded machine makes it:
            # it works under ``_locked`` and the storage is closed next.
            self._timer.join()
        with self._lock:
            if self._closing or not self._open:
                return
            self._closing = True
        with self._locked():
            if self._seq > self._sealed:
                self._seal_quietly()
        with self._lock:
            self._close_storage()
            if self._index is not None and hasattr(self._index, "close"):
                # The file log's index: every thread's connection, each once no query of its thread
                # holds it (``AuditIndexDB.close``); PostgreSQL's closes with its pool.
                self._index.close()

    # -- reading ---------------------------------------------------------------
    def entries(self) -> list[dict]:
        return [json.loads(raw) for raw in self._lines() if raw.strip()]

    def checkpoints(self) -> list[dict]:
        """Every checkpoint line; one that is not JSON becomes a checkpoint that fails."""
        return [_load(raw) or {"seq": None} for raw in self._checkpoint_lines() if raw.strip()]

    def head(self) -> int:
        with self._locked():
            return self._seq

    def unsealed_since(self) -> str | None:
        """When the oldest entry no checkpoint covers yet was written; None if all are sealed.
        Older than the timer's period means sealing is failing: a forged line refused, say."""
        with self._locked():
            last = self.last_checkpoint()
            if not self._seq or (last and (last["seq"], last["hash"]) == (self._seq, self._last)):
                return None
            lines, cut, sealed = self._after_sealed(last)
        for raw in lines[cut:]:
            if _seq_of(raw) > sealed:
                return (_load(raw).get("entry") or {}).get("time")
        return None

    def _after_sealed(self, last: dict | None) -> tuple[list[str], int, int]:
        """Under ``_locked``: (lines from the newest line a checkpoint seals, where the unsealed ones
        start, that line's seq). The newest checkpoint's line, as a rule; cut back under it (the log
        shorter than it, or written again past it), the newest older checkpoint whose line is still there:
        the entries after that one are those no checkpoint covers."""
        if last is None:
            return list(self._lines()), 0, 0
        found = self._from_sealed(last["seq"], last["hash"])
        if found is not None:
            return (*found, last["seq"])
        older = sorted((cp for cp in self.checkpoints() if type(cp.get("seq")) is int and cp["seq"] < last["seq"]
                        and isinstance(cp.get("hash"), str)), key=lambda cp: cp["seq"], reverse=True)
        for cp in older:
            if checkpoint_valid(cp, self.public_key) and (found := self._from_sealed(cp["seq"], cp["hash"])):
                return (*found, cp["seq"])
        return list(self._lines()), 0, 0

    def leaves(self, start: int, end: int, offset: int | None = None) -> list[str]:
        """Leaf digests of entries ``start+1 .. end``: enough to check that checkpoint ``end``
        extends checkpoint ``start``, with no personal data. ``offset`` is where to start reading."""
        if not 0 <= start <= end:
            raise LinkageError("a proof needs 0 <= from <= to")
        out: list[str] = []
        for raw in self._lines(start, offset):
            rec = _well_formed(raw)
            if rec is None:
                raise Conflict("the log holds a line that is not a valid entry: run `linkage audit verify` "
                               "on the server")
            if rec["seq"] <= start:
                continue
            if rec["seq"] > end:
                break
            if rec.get("v", 1) != VERSION:
                raise Conflict(f"entry {rec['seq']} is in the first log format, which has no leaf digest: "
                               "check that range with `linkage audit verify` on the server")
            out.append(leaf_digest(rec["entry"]))
        if len(out) != end - start:
            raise LinkageError(f"the log has no entries {start + 1}..{end}")
        return out

    def public_key_pem(self) -> str:
        return self.signer.public_key_pem()

    def verify(self, extra_checkpoints: list[dict] | None = None, witnessed: list[dict] = (),
               witness_key: Ed25519PublicKey | None = None) -> list[Finding]:
        """Every problem found, each with the line where the chain breaks; a tail longer than
        the service ever leaves unsealed (the checkpoint file deleted or cut back further than the
        log: a log cut back with it, at a checkpoint, only a witness or exported checkpoints show);
        and any disagreement between the log and the DPO's search index."""
        checkpoints = self.checkpoints() + list(extra_checkpoints or [])
        findings = verify_lines(self._lines(), checkpoints, self.public_key, self.signer.mac_key, witnessed,
                                witness_key)
        seals = sorted({cp["seq"] for cp in [*checkpoints, *witnessed] if type(cp.get("seq")) is int
                        and checkpoint_valid(cp, witness_key if cp in witnessed else self.public_key)})
        # The log's own rhythm: N now, or the widest gap it was sealed at (N may have been larger).
        rhythm = max([self.checkpoint_every, *(b - a for a, b in zip([0, *seals], seals))])
        sealed, head = (seals[-1] if seals else 0), self.head()
        # A crash between an entry and its seal (several, under load) leaves up to about N unsealed;
        # twice that never happens while sealing works.
        if head - sealed > 2 * rhythm:
            findings.append(Finding(0, sealed + 1, f"entries {sealed + 1} to {head} are covered by no signed "
                                                   f"checkpoint, though the log is sealed every {rhythm} "
                                                   "entries: checkpoints deleted or cut back, or sealing failing"))
        # The DPO's search index (a file of its own, or the PostgreSQL rows' search columns), which
        # anyone who can write where it is kept could otherwise edit unseen.
        return findings + self._torn_findings() + [Finding(0, seq, problem) for seq, problem in self.index.check()]

    def _torn_findings(self) -> list[Finding]:
        """A partial last line, which the chain's reading passes over (a backend whose writes can tear)."""
        return []


class AuditLog(ChainedLog):
    """The log as files in the data directory: ``audit/log.jsonl`` and ``audit/checkpoints.jsonl``."""

    _SEALS_APART = True

    def _open_storage(self) -> None:
        self.dir = self.home / "audit"
        private_dir(self.dir)
        self.path = self.dir / "log.jsonl"
        self.checkpoints_path = self.dir / "checkpoints.jsonl"
        self._fh = open(self.path, "ab", opener=private_opener)
        self._rf = open(self.path, "rb", buffering=0)   # the same file, for reading what others appended
        self._starts: dict[int, int] = {}   # where lines this process wrote or found newest start (seq -> byte)
        self._size = -1                     # the log's length as this process last saw it: unseen yet
        self._end: tuple[int, bytes] | None = None      # (offset, bytes) of its last line as last seen
        self._written = self._synced = 0    # the last seq this process wrote, and the last fsync'd
        # (where the newest checkpoint's line starts, the file's bytes from there, that checkpoint)
        self._last_cp: tuple[int, bytes | None, dict | None] | None = None
        self._sync_lock = threading.Lock()
        self._cp_lock = threading.Lock()    # ``_last_cp`` and the checkpoint's write, in this process

    @property
    def _open(self) -> bool:
        return not self._fh.closed

    def _close_storage(self) -> None:
        self._fh.close()
        self._rf.close()

    # -- the tail --------------------------------------------------------------
    # The first read from the end: a few lines. Each further read doubles, so finding a line k bytes
    # from the end reads under 2k + this, whatever the file's length (a fixed 64 KB read, decoded and
    # scanned in full, cost each append that followed another process's about half a millisecond).
    BACK_FIRST = 4096

    def _back(self, path: Path, stop) -> list[str]:
        """Whole lines from the end of ``path`` backwards, until ``stop(lines)`` is true of the lines
        just read (each is shown once: ``stop`` says whether any of them is what is sought) or the
        start. Reads and decodes only as far back as that."""
        if not path.exists():
            return []
        with open(path, "rb") as fh:
            pos, step = fh.seek(0, os.SEEK_END), self.BACK_FIRST
            found: list[str] = []
            cut = b""               # the start of a line whose beginning is further back
            while pos > 0:
                step = min(step, pos)
                pos -= step
                fh.seek(pos)
                parts = (fh.read(step) + cut).split(b"\n")
                cut, parts = (parts[0], parts[1:]) if pos > 0 else (b"", parts)
                new = [x.decode("utf-8", "replace") for x in parts if x]
                found[:0] = new
                if stop(new) or pos == 0:
                    return found
                step *= 2
        return []

    def _newest(self) -> dict | None:
        head: list[dict] = []

        def newest(lines: list[str]) -> bool:
            for raw in reversed(lines):
                if rec := _well_formed(raw):
                    head.append(rec)
                    return True
            return False
        self._back(self.path, newest)
        return head[0] if head else None

    def _tail(self) -> tuple[int, str]:
        """The last well-formed line's seq and hash. Junk after it (written by someone else) is
        chained past, not fatal: requests go on being audited, `verify` reports the junk and
        sealing refuses it, so the witness sees sealing stall."""
        head = self._newest()
        return (head["seq"], head["hash"]) if head else (0, GENESIS)

    def last_checkpoint(self) -> dict | None:
        """The newest checkpoint signed by this log's key; junk or forged lines are passed over.
        Remembered with the file's bytes from that checkpoint's line to its end, and given again
        while they are still there, where they were: one ``pread`` of a line or so. The file's length
        alone was the key: a newest checkpoint cut and written again to the same length (an older
        one padded, junk, another file put in place) was still given, so a running server showed
        the DPO a seal the file no longer held, and sealed on from it without checking the lines
        between the checkpoint truly there and the one remembered."""
        held = self._last_cp
        if held is not None and self._tail_unchanged(held[0], held[1]):
            return dict(held[2]) if held[2] else None
        newest: list[tuple[dict, str]] = []

        def signed(lines: list[str]) -> bool:       # newest first: one signature checked, as a rule
            for raw in reversed(lines):
                if checkpoint_valid(cp := _load(raw), self.public_key):
                    newest.append((cp, raw))
                    return True
            return False
        try:
            with open(self.checkpoints_path, "rb") as fh:
                size = os.fstat(fh.fileno()).st_size
                self._back(self.checkpoints_path, signed)
                found, raw = newest[0] if newest else (None, "")
                tail = os.pread(fh.fileno(), min(size, self.CP_TAIL), max(0, size - self.CP_TAIL))
        except FileNotFoundError:
            self._last_cp = (0, None, None)
            return None
        # Within the last few lines, as a rule; no checkpoint at all: the whole file, when it is short.
        start = tail.rfind(raw.encode("utf-8")) if found else (0 if size <= self.CP_TAIL else -1)
        self._last_cp = (size - len(tail) + start, tail[start:], found) if start >= 0 else None
        return dict(found) if found else None

    CP_TAIL = 65536         # the bytes after the newest checkpoint remembered, at most (else read back each time)

    def _tail_unchanged(self, offset: int, tail: bytes | None) -> bool:
        """Whether the checkpoints file still ends, from ``offset``, with exactly ``tail`` (None: no file)."""
        try:
            with open(self.checkpoints_path, "rb") as fh:
                if tail is None or os.fstat(fh.fileno()).st_size != offset + len(tail):
                    return False
                return os.pread(fh.fileno(), len(tail), offset) == tail
        except FileNotFoundError:
            return tail is None

    # What another writer appended since this process last saw the log is read forwards when it is at
    # most this long (a few of its lines); more, or nothing well-formed in it, and the tail is read back.
    SINCE_MOST = 65536

    def _appended_head(self, seen: int, size: int) -> tuple[int, str] | None:
        """The newest well-formed line among those appended between ``seen`` and ``size`` (where this
        process last saw the log end, at a line's end: appends hold the lock), as (seq, hash); None when
        there is none, or ``seen`` is not a line's end. With two server workers nearly every append
        follows the other's: this reads the other's line or two, once, not the last 4 KB of the log."""
        if not 0 < seen < size or size - seen > self.SINCE_MOST:
            return None
        data = os.pread(self._rf.fileno(), size - seen + 1, seen - 1)
        if len(data) != size - seen + 1 or data[:1] != b"\n":
            return None         # cut back and written again meanwhile: not the file last seen
        last = data.rfind(b"\n", 0, len(data) - 1)
        self._end = (seen - 1 + last + 1, data[last + 1:])
        end = len(data)
        for raw in reversed(data[1:].split(b"\n")):
            start, end = end - len(raw), end - len(raw) - 1
            if raw and (rec := _well_formed(raw.decode("utf-8", "replace"))):
                self._started(rec["seq"], seen - 1 + start)
                return rec["seq"], rec["hash"]
        return None

    def _last_line(self, size: int) -> tuple[int, bytes] | None:
        """(offset, bytes) of the file's last line, its newline included, as the file stands at ``size``."""
        step = self.BACK_FIRST
        while size > 0:
            start = max(0, size - step)
            data = os.pread(self._rf.fileno(), size - start, start)
            if len(data) != size - start:
                return None         # shorter than ``size`` already: the next refresh looks again
            cut = data.rfind(b"\n", 0, len(data) - 1)
            if cut >= 0 or start == 0:
                return start + cut + 1, data[cut + 1:]
            step *= 2
        return None

    def _end_holds(self) -> bool:
        """The last line this process saw (wrote, or found) is still in the file, byte for byte, where
        it was: one read of one line. A size compared alone misses a tail cut and written again to the
        same length (or longer), and the chain would go on from a line no longer there."""
        if self._end is None:
            return True
        at, data = self._end
        return os.pread(self._rf.fileno(), len(data), at) == data

    def _started(self, seq: int, offset: int) -> None:
        self._starts[seq] = offset
        if len(self._starts) > self.CHECKED_MOST:
            for old in list(self._starts)[:len(self._starts) // 2]:
                del self._starts[old]

    def _mend_tail(self) -> None:
        """A last line with no newline: what a crash mid-append leaves (a power cut: a prefix of it, or
        zeros). The next line would be written on the end of it, and lost with it. Moved out of the log
        into ``log.jsonl.torn-<time>`` (kept: evidence, it may not be a crash), recorded as a security
        event chained after the last whole line. No seal can cover a line that was never whole, so a
        cut-back sealed line still shows in `verify`; a whole line short only of its newline is ended."""
        # Under the lock ``_refresh`` has just read the length and the last line: no read on an append's path.
        size = self._size if self._size >= 0 else os.fstat(self._fh.fileno()).st_size
        end = self._end
        if size == 0 or (end is not None and end[0] + len(end[1]) == size and end[1].endswith(b"\n")):
            return
        if os.pread(self._rf.fileno(), 1, size - 1) == b"\n":
            return
        start = (self._last_line(size) or (0, b""))[0]
        fragment = os.pread(self._rf.fileno(), size - start, start)
        if _well_formed(fragment.decode("utf-8", "replace")) is not None:
            self._fh.write(b"\n")
            self._fh.flush()
            os.fsync(self._fh.fileno())
            self._size, self._end = size + 1, (start, fragment + b"\n")
            return
        kept = f"log.jsonl.torn-{datetime.now(timezone.utc).strftime('%Y%m%dT%H%M%S.%fZ')}"
        with open(self.dir / kept, "xb", opener=private_opener) as out:
            out.write(fragment)
            out.flush()
            os.fsync(out.fileno())
        os.ftruncate(self._fh.fileno(), start)
        os.fsync(self._fh.fileno())
        self._size, self._end = start, self._last_line(start)
        log.error("the audit log ended in a partial line (%d bytes at byte %d: a crash while writing?): moved "
                  "to %s, and the log goes on from seq %d", len(fragment), start, kept, self._seq)
        self._append_locked({"request_id": "", "client_id": None, "action": "security.audit_log_torn",
                             "decision": "refused", "reason": f"the log ended in a partial line (a crash while "
                             f"writing?): moved to {kept}", "at_byte": start, "length": len(fragment),
                             "sha256": hashlib.sha256(fragment).hexdigest(), "kept_as": kept,
                             "after_seq": self._seq})

    def _torn_findings(self) -> list[Finding]:
        with self._lock:        # the writers' lock, shared: never a line half-way through its write
            fcntl.flock(self._fh.fileno(), fcntl.LOCK_SH)
            try:
                size = os.fstat(self._rf.fileno()).st_size
                torn = size > 0 and os.pread(self._rf.fileno(), 1, size - 1) != b"\n"
                start = (self._last_line(size) or (0, b""))[0] if torn else size
            finally:
                fcntl.flock(self._fh.fileno(), fcntl.LOCK_UN)
        if not torn:
            return []
        lines = sum(1 for _ in raw_lines(self.path)) + 1
        return [Finding(lines, None, f"the log ends in a partial line ({size - start} bytes, no newline): a crash "
                                     "while writing, or something written there; the next server start moves it "
                                     "to audit/log.jsonl.torn-<time> and records that")]

    def _refresh(self) -> None:
        self._follow_path()
        size = os.fstat(self._fh.fileno()).st_size
        if not self._end_holds():       # the line last seen at the end is gone: the tail was cut (and refilled?)
            had = (self._seq, self._last)
            self._starts.clear()
            self._seq, self._last = self._tail()
            self._size, self._end = size, self._last_line(size)
            if (self._seq, self._last) != had:
                self._cut_back(had[0], replaced=self._seq >= had[0])
        elif size != self._size:                    # another process appended (or the file was cut back)
            had = self._seq
            self._end = None
            self._seq, self._last = self._appended_head(self._size, size) or self._tail()
            self._size = size
            if self._end is None:
                self._end = self._last_line(size)
            if self._seq < had:
                self._cut_back(had)

    def _follow_path(self) -> None:
        """Under the lock: the log at the path is still the file this process writes. Someone who can
        write the audit directory may have put an older copy there, or removed it: every entry written
        after would have gone into a file no one can see (deleted when the server stops), and the DPO
        would never see those accesses. This process still holds what it wrote, so the log is put back
        (the file found kept beside it, as evidence) and the replacement recorded as a security event.
        A file that already holds this process's newest line (another worker put it back) is followed."""
        mine = os.fstat(self._fh.fileno())
        try:
            there = os.lstat(self.path)             # a symbolic link planted there is not the log either
            if (there.st_dev, there.st_ino) == (mine.st_dev, mine.st_ino):
                return
        except FileNotFoundError:
            there = None
        head = (self._seq, self._last)

        def is_head(lines: list[str]) -> bool:
            return any((r := _well_formed(x)) is not None and (r["seq"], r["hash"]) == head for x in lines)
        holds_mine = there is not None and (not head[0] or is_head(self._back(self.path, is_head)))
        found = self._newest() if there is not None else None
        kept = None
        if not holds_mine:
            kept = self._restore(there is not None)
        old = (self._fh, self._rf)
        self._fh = open(self.path, "ab", opener=private_opener)
        self._rf = open(self.path, "rb", buffering=0)
        fcntl.flock(self._fh.fileno(), fcntl.LOCK_EX)      # before the old file's lock goes with it
        for f in old:
            f.close()
        self._starts.clear()
        self._size, self._end = -1, None
        if holds_mine:
            return
        log.error("the audit log file was replaced or removed while the server ran (its newest entry: %s); "
                  "the log this server wrote is put back and the file found kept as %s",
                  f"seq {found['seq']}" if found else "none", kept or "(nothing there)")
        self._seq, self._last = self._tail()
        self._size = os.fstat(self._fh.fileno()).st_size
        self._append_locked({"request_id": "", "client_id": None, "action": "security.audit_log_replaced",
                             "decision": "refused", "found_seq": found["seq"] if found else None,
                             "restored_to_seq": head[0], "kept_as": kept})

    def _restore(self, keep: bool) -> str | None:
        """Put the log this process has open back at the path, in one rename; what was there is kept
        under a name of its own (a hard link: no byte of it is lost). Returns that name."""
        kept = None
        if keep:
            kept = f"log.jsonl.replaced-{datetime.now(timezone.utc).strftime('%Y%m%dT%H%M%S.%fZ')}"
            os.link(self.path, self.dir / kept, follow_symlinks=False)
        fd, tmp = tempfile.mkstemp(prefix=".log.jsonl.", suffix=".part", dir=self.dir)
        try:
            with os.fdopen(fd, "wb") as out:
                offset, size = 0, os.fstat(self._rf.fileno()).st_size
                while offset < size:
                    chunk = os.pread(self._rf.fileno(), min(1 << 20, size - offset), offset)
                    if not chunk:
                        break
                    out.write(chunk)
                    offset += len(chunk)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        return kept

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """This thread and this process alone, with the head as the file now has it."""
        with self._lock:
            fcntl.flock(self._fh.fileno(), fcntl.LOCK_EX)
            try:
                self._refresh()
                yield
            finally:
                fcntl.flock(self._fh.fileno(), fcntl.LOCK_UN)

    # -- storage ---------------------------------------------------------------
    def _write(self, seq: int, line: str, rec: dict) -> None:
        data = (line + "\n").encode("ascii")
        self._fh.write(data)
        self._fh.flush()
        # Under the lock ``_refresh`` has just read the file's length, and no other writer
        # appends until it is released: the length is that plus this line (no fstat).
        self._started(seq, self._size)
        self._end = (self._size, data)
        self._size += len(data)
        self._written = seq

    def _durable(self, seq: int) -> None:
        """Group commit: one fsync for every line written before it started. Lines are written in
        seq order under the file lock, so an fsync after this process's line ``n`` covers every
        line up to ``n`` whichever process wrote it."""
        if self._synced >= seq:
            return
        with self._sync_lock:
            if self._synced >= seq:         # the fsync just finished covered this line
                return
            covers = max(self._written, seq)    # written (and flushed) before this fsync starts
            os.fsync(self._fh.fileno())
            self._synced = max(self._synced, covers)

    def _lines(self, after: int = 0, offset: int | None = None) -> Iterator[str]:
        if offset is None:
            offset = self.index.offset_of(after + 1) if after else 0
        return (raw for _, raw in read_lines(self.path, offset))

    def _from_sealed(self, after: int, sealed_hash: str) -> tuple[list[str], int] | None:
        def is_sealed(raw: str) -> bool:
            if sealed_hash not in raw:      # cheap: most lines are not it, and need no parsing
                return False
            rec = _well_formed(raw)
            return bool(rec) and rec["seq"] == after and rec["hash"] == sealed_hash
        self._starts = {seq: at for seq, at in self._starts.items() if seq >= after}
        lines = self._forward(self._starts.get(after))
        if not lines or not is_sealed(lines[0]):    # not known here, or no longer there: look back for it
            lines = self._back(self.path, lambda ls: any(is_sealed(x) for x in ls))
        cut = max((i + 1 for i, x in enumerate(lines) if is_sealed(x)), default=None)
        return None if cut is None else (lines, cut)

    def _forward(self, start: int | None) -> list[str]:
        """The lines from byte ``start`` (where this process wrote, or found, the sealed line) to the
        end: the unsealed tail alone, not the doubling reads back to it."""
        size = os.fstat(self._rf.fileno()).st_size
        if start is None or not 0 <= start < size:
            return []
        data = os.pread(self._rf.fileno(), size - start, start)
        return [x.decode("utf-8", "replace") for x in data.split(b"\n") if x]

    def _write_checkpoint(self, line: str) -> None:
        with open(self.checkpoints_path, "a", encoding="utf-8", opener=private_opener) as fh:
            fh.write(line + "\n")
            fh.flush()
            os.fsync(fh.fileno())
            written = (line + "\n").encode("utf-8")
            self._last_cp = (os.fstat(fh.fileno()).st_size - len(written), written, _load(line))

    def _checkpoint_lines(self) -> Iterator[str]:
        return (raw for _, raw in read_lines(self.checkpoints_path))

    @contextmanager
    def _checkpoint_locked(self) -> Iterator[None]:
        """An exclusive lock on the checkpoints file (each open is its own lock holder, so this
        also keeps this process's threads apart); the log's lock is not held."""
        with self._cp_lock, open(self.checkpoints_path, "a", encoding="utf-8", opener=private_opener) as fh:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
            yield           # closing the file lets go of the lock

    @property
    def index(self):
        """The log's search index (``audit/index.sqlite``), brought up to date on each query."""
        return self._one_index(lambda: AuditIndex(self.path))
