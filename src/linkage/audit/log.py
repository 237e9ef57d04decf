"""Append-only, hash-chained audit log with signed checkpoints.

Each line of ``audit/log.jsonl`` is ``{"seq", "prev", "entry", "hash"}`` where
``hash = sha256(prev || canonical_json(entry))``. Editing, deleting, inserting
or reordering a line breaks the chain at that line. Every ``checkpoint_every``
entries (and on demand) the latest hash is signed with the service's Ed25519
key; a DPO can export checkpoints and hold them elsewhere, so even a rewrite
of the whole chain is caught. An entry is fsync'd before ``append`` returns.
Appends hold an exclusive file lock and read the chain's tail under it, so
several server processes can share one log.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import json
import os
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from linkage.files import private_dir, private_opener

__all__ = ["AuditLog", "Finding", "canonical_json"]

GENESIS = "0" * 64


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _hash(prev: str, entry: dict) -> str:
    return hashlib.sha256((prev + canonical_json(entry)).encode()).hexdigest()


@dataclass(frozen=True)
class Finding:
    line: int
    seq: int | None
    problem: str

    def __str__(self) -> str:
        return f"line {self.line} (seq {self.seq}): {self.problem}"


def _load_or_create_signing_key(home: Path) -> Ed25519PrivateKey:
    path = home / "keys" / "audit_ed25519.pem"
    if path.exists():
        return serialization.load_pem_private_key(path.read_bytes(), password=None)
    private_dir(path.parent)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
    return key


class AuditLog:
    def __init__(self, home: Path, checkpoint_every: int = 100) -> None:
        self.home = Path(home)
        self.dir = self.home / "audit"
        private_dir(self.dir)
        self.path = self.dir / "log.jsonl"
        self.checkpoints_path = self.dir / "checkpoints.jsonl"
        self._key = _load_or_create_signing_key(self.home)
        self.public_key: Ed25519PublicKey = self._key.public_key()
        self.checkpoint_every = checkpoint_every
        self._lock = threading.Lock()
        self._fh = open(self.path, "a+", encoding="utf-8", opener=private_opener)
        self._seq, self._last = self._tail()
        self._size = os.fstat(self._fh.fileno()).st_size   # the log's length as this process last saw it

    def _tail(self) -> tuple[int, str]:
        if not self.path.exists() or self.path.stat().st_size == 0:
            return 0, GENESIS
        with open(self.path, "rb") as fh:
            fh.seek(max(0, self.path.stat().st_size - 65536))
            last = fh.read().splitlines()[-1]
        rec = json.loads(last)
        return rec["seq"], rec["hash"]

    # -- writing --------------------------------------------------------------
    def append(self, entry: dict) -> dict:
        """Chain, write and fsync one entry; durable before this returns."""
        with self._lock:
            fcntl.flock(self._fh.fileno(), fcntl.LOCK_EX)
            try:
                if os.fstat(self._fh.fileno()).st_size != self._size:
                    self._seq, self._last = self._tail()    # another process appended
                seq = self._seq + 1
                entry = {**entry, "time": entry.get("time") or datetime.now(timezone.utc).isoformat()}
                digest = _hash(self._last, entry)
                line = canonical_json({"seq": seq, "prev": self._last, "entry": entry, "hash": digest})
                self._fh.write(line + "\n")
                self._fh.flush()
                os.fsync(self._fh.fileno())
                self._seq, self._last = seq, digest
                self._size = os.fstat(self._fh.fileno()).st_size
                if seq % self.checkpoint_every == 0:
                    self._checkpoint_locked()
            finally:
                fcntl.flock(self._fh.fileno(), fcntl.LOCK_UN)
            return {"seq": seq, "hash": digest}

    def _checkpoint_locked(self) -> dict:
        body = {"seq": self._seq, "hash": self._last, "at": datetime.now(timezone.utc).isoformat()}
        sig = base64.b64encode(self._key.sign(canonical_json(body).encode())).decode()
        cp = {**body, "signature": sig}
        with open(self.checkpoints_path, "a", encoding="utf-8", opener=private_opener) as fh:
            fh.write(canonical_json(cp) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        return cp

    def checkpoint(self) -> dict:
        with self._lock:
            fcntl.flock(self._fh.fileno(), fcntl.LOCK_EX)
            try:
                self._seq, self._last = self._tail()
                self._size = os.fstat(self._fh.fileno()).st_size
                return self._checkpoint_locked()
            finally:
                fcntl.flock(self._fh.fileno(), fcntl.LOCK_UN)

    def close(self) -> None:
        if not self._fh.closed and self._tail()[0]:
            self.checkpoint()
        with self._lock:
            self._fh.close()

    # -- reading --------------------------------------------------------------
    def entries(self) -> list[dict]:
        if not self.path.exists():
            return []
        with open(self.path, encoding="utf-8") as fh:
            return [json.loads(line) for line in fh if line.strip()]

    def checkpoints(self) -> list[dict]:
        if not self.checkpoints_path.exists():
            return []
        with open(self.checkpoints_path, encoding="utf-8") as fh:
            return [json.loads(line) for line in fh if line.strip()]

    def public_key_pem(self) -> str:
        return self.public_key.public_bytes(serialization.Encoding.PEM,
                                            serialization.PublicFormat.SubjectPublicKeyInfo).decode()

    def verify(self, extra_checkpoints: list[dict] | None = None) -> list[Finding]:
        """Every problem found, each with the line where the chain breaks."""
        return verify_log(self.path, self.checkpoints() + list(extra_checkpoints or []), self.public_key)


def verify_log(path: Path, checkpoints: list[dict], public_key: Ed25519PublicKey) -> list[Finding]:
    findings: list[Finding] = []
    hashes: dict[int, str] = {}
    prev, expected_seq = GENESIS, 1
    lines = Path(path).read_text(encoding="utf-8").splitlines() if Path(path).exists() else []
    for n, raw in enumerate(lines, start=1):
        try:
            rec = json.loads(raw)
            seq, entry, digest, rec_prev = rec["seq"], rec["entry"], rec["hash"], rec["prev"]
        except (ValueError, KeyError, TypeError):
            findings.append(Finding(n, None, "not a valid log line"))
            continue
        if seq != expected_seq:
            kind = ("entries deleted before it" if seq > expected_seq else
                    "inserted, duplicated or reordered entry")
            findings.append(Finding(n, seq, f"expected seq {expected_seq}: {kind}"))
        if rec_prev != prev:
            findings.append(Finding(n, seq, "does not chain to the line before it (deleted, inserted or reordered)"))
        if _hash(rec_prev, entry) != digest:
            findings.append(Finding(n, seq, "entry content does not match its hash (edited)"))
        hashes[seq] = digest
        prev, expected_seq = digest, seq + 1
    for cp in checkpoints:
        body = {k: cp[k] for k in ("seq", "hash", "at")}
        try:
            public_key.verify(base64.b64decode(cp["signature"]), canonical_json(body).encode())
        except Exception:
            findings.append(Finding(0, cp.get("seq"), "checkpoint signature is not valid"))
            continue
        if cp["seq"] not in hashes:
            findings.append(Finding(0, cp["seq"], "signed checkpoint refers to an entry that is missing (truncated)"))
        elif hashes[cp["seq"]] != cp["hash"]:
            findings.append(Finding(0, cp["seq"], "entry differs from the signed checkpoint (log rewritten)"))
    return findings
