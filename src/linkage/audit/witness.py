"""A witness outside the service, as Certificate Transparency's monitors are.

It keeps, in its own directory, the audit key it trusted on first use (``pinned.pem``)
and every checkpoint it has accepted (``witnessed.jsonl``). Each run it fetches the
service's checkpoints and accepts the new ones only if each is signed by the pinned key
and extends the last witnessed one: folding the leaf digests of the entries between
them (``chain(prev, leaf)``) from the old checkpoint's hash must give the new one's.
So the service cannot rewrite, truncate or fork history the witness has seen, even
with its own key, and the witness never sees an entry, only digests.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Protocol

from linkage import boundedjson
from linkage.audit.log import GENESIS, ChainedLog, chain, checkpoint_valid
from linkage.audit.signer import load_public_key, public_pem
from linkage.errors import Conflict, LinkageError

__all__ = ["FileSource", "HttpSource", "LocalSource", "Witness", "WitnessError", "export", "snapshot"]

PAGE = 50_000


class WitnessError(LinkageError):
    """The service's log contradicts what this witness has seen."""


class Source(Protocol):
    def snapshot(self) -> dict: ...
    def leaves(self, start: int, end: int) -> list[str]: ...


def snapshot(log: ChainedLog) -> dict:
    """What a witness is shown: the public key, the signed checkpoints, and (unsigned, for
    noticing a stall) the head's seq and when the oldest unsealed entry was written."""
    return {"public_key_pem": log.public_key_pem(), "checkpoints": log.checkpoints(), "head": log.head(),
            "unsealed_since": log.unsealed_since()}


def export(log: ChainedLog, since: int = 0) -> dict:
    """What ``linkage audit checkpoints`` writes: a snapshot and the leaf digests after ``since``."""
    out = snapshot(log)
    try:
        out["leaves"] = {"from": since, "digests": log.leaves(since, out["head"], log.index.offset_of(since + 1))}
    except LinkageError:
        pass                            # first-format entries: no digests to give
    return out


class LocalSource:
    """The log in a data directory on this machine."""

    def __init__(self, log: ChainedLog) -> None:
        self.log = log

    def snapshot(self) -> dict:
        return snapshot(self.log)

    def leaves(self, start: int, end: int) -> list[str]:
        return self.log.leaves(start, end, self.log.index.offset_of(start + 1))


class FileSource:
    """A file written by ``linkage audit checkpoints FILE``."""

    def __init__(self, path: Path) -> None:
        self.data = json.loads(Path(path).read_text(encoding="utf-8"))

    def snapshot(self) -> dict:
        return self.data

    def leaves(self, start: int, end: int) -> list[str]:
        got = self.data.get("leaves") or {"from": 0, "digests": []}
        first, digests = got["from"], got["digests"]
        if start < first or end > first + len(digests):
            raise Conflict(f"the file has leaf digests for {first + 1}..{first + len(digests)} only: export with "
                           f"`linkage audit checkpoints FILE --since {start}`")
        return digests[start - first:end - first]


class HttpSource:
    """A running service, asked as the DPO (purpose ``audit``) with a bearer token."""

    def __init__(self, url: str, token: Callable[[], str]) -> None:
        self.url, self.token = url.rstrip("/"), token
        self._token: str | None = None

    def _get(self, path: str, **params) -> dict:
        import httpx

        self._token = self._token or self.token()
        r = httpx.get(self.url + path, params=params, timeout=60,
                      headers={"Authorization": f"Bearer {self._token}", "X-Purpose": "audit"})
        if r.status_code != 200:
            raise LinkageError(f"{path}: HTTP {r.status_code}: {r.text[:200]}")
        try:
            return boundedjson.loads(r.content)
        except ValueError:
            raise LinkageError(f"{path}: the server's answer is not JSON this witness reads") from None

    def snapshot(self) -> dict:
        return self._get("/v1/audit/checkpoints")

    def leaves(self, start: int, end: int) -> list[str]:
        out: list[str] = []
        for a in range(start, end, PAGE):
            out += self._get("/v1/audit/proof", **{"from": a, "to": min(end, a + PAGE)})["leaves"]
        return out


@dataclass
class Outcome:
    latest: dict | None
    accepted: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    stalled: str | None = None         # sealing has stopped: the log may hold a line it refused


def _canonical_pem(pem: str) -> str:
    return public_pem(load_public_key(pem))


class Witness:
    def __init__(self, store: Path) -> None:
        self.store = Path(store)
        self.pinned_path = self.store / "pinned.pem"
        self.path = self.store / "witnessed.jsonl"

    def pinned(self) -> str | None:
        return self.pinned_path.read_text() if self.pinned_path.exists() else None

    def checkpoints(self) -> list[dict]:
        if not self.path.exists():
            return []
        return [json.loads(x) for x in self.path.read_bytes().split(b"\n") if x.strip()]

    def observe(self, source: Source, max_unsealed: float = 120.0) -> Outcome:
        """Check the service's checkpoints against what was witnessed; keep the new ones. Also
        say if an entry has waited over ``max_unsealed`` seconds for a checkpoint."""
        snap = source.snapshot()
        out = self._accept(source, snap)
        since = snap.get("unsealed_since")
        if since:
            t = datetime.fromisoformat(since)
            age = (datetime.now(timezone.utc) - (t if t.tzinfo else t.replace(tzinfo=timezone.utc))).total_seconds()
            if age > max_unsealed:
                out.stalled = (f"entries after seq {snap['checkpoints'][-1]['seq'] if snap['checkpoints'] else 0} "
                               f"have waited {age:.0f} s for a checkpoint (head {snap.get('head')}): sealing is "
                               "failing, e.g. refusing a forged line; run `linkage audit verify` on the server")
        return out

    def _accept(self, source: Source, snap: dict) -> Outcome:
        offered = _canonical_pem(snap["public_key_pem"])
        pinned = self.pinned()
        if pinned is not None and _canonical_pem(pinned) != offered:
            raise WitnessError("the service's audit key is not the pinned key: the log may have been "
                               f"re-signed with a new key (pinned in {self.pinned_path})")
        key = load_public_key(offered)
        held = self.checkpoints()
        latest = held[-1] if held else None
        seen = {cp["seq"]: cp["hash"] for cp in held}
        fresh: dict[int, dict] = {}
        for cp in sorted(snap["checkpoints"], key=lambda c: c.get("seq", -1)):
            if not checkpoint_valid(cp, key):
                raise WitnessError(f"checkpoint seq {cp.get('seq')} is not signed by the pinned key")
            known = seen.get(cp["seq"], fresh.get(cp["seq"], {}).get("hash"))
            if known is not None and known != cp["hash"]:
                raise WitnessError(f"two different logs at seq {cp['seq']}: history rewritten (fork)")
            if cp["seq"] > (latest["seq"] if latest else 0):
                fresh.setdefault(cp["seq"], cp)
        newest = max([c["seq"] for c in snap["checkpoints"]], default=0)
        if latest and newest < latest["seq"]:
            raise WitnessError(f"the service's newest checkpoint is seq {newest}, but seq {latest['seq']} "
                               "was witnessed: the log was truncated or rolled back")
        out = Outcome(latest)
        new = [fresh[s] for s in sorted(fresh)]
        if not new:
            return out
        base_seq, base_hash = (latest["seq"], latest["hash"]) if latest else (0, GENESIS)
        try:
            leaves = source.leaves(base_seq, new[-1]["seq"])
        except Conflict as exc:
            if latest:
                raise WitnessError(f"cannot check the log since seq {base_seq}: {exc}") from None
            leaves = None
            out.notes.append(f"first run: trusting seq {new[-1]['seq']} without a proof ({exc})")
        if leaves is not None:
            h, at = base_hash, base_seq
            for cp in new:
                for leaf in leaves[at - base_seq:cp["seq"] - base_seq]:
                    h = chain(h, leaf)
                at = cp["seq"]
                if h != cp["hash"]:
                    raise WitnessError(f"checkpoint seq {cp['seq']} does not extend witnessed seq {base_seq}: "
                                       "history was rewritten")
        self.store.mkdir(parents=True, exist_ok=True)
        if pinned is None:
            self.pinned_path.write_text(offered)
            out.notes.append(f"trusted the service's key on first use; pinned in {self.pinned_path}")
        with open(self.path, "a", encoding="utf-8") as fh:
            for cp in new:
                fh.write(json.dumps(cp, sort_keys=True) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        out.accepted, out.latest = new, new[-1]
        return out
