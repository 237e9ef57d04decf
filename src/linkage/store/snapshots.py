"""Published snapshots: what the API servers load, written once per link run.

A snapshot is a copy of the linked database as one run left it, in DuckDB's encrypted
format under the data directory's key, beside a manifest (run id, when, size, SHA-256)
that carries an HMAC made with a key derived from the same database key. ``current``
names the snapshot servers should serve; it is replaced last, atomically, so a reader
sees the old snapshot or the new one, never a half-written one.

Each file is written to a temporary name, synced, renamed and the directory synced; all
are private (0600). Snapshots are never changed after publication, so a server that has loaded one
can switch to the next while a link run writes the live database. Loading checks the
manifest's HMAC and the file's size and digest before DuckDB opens it: a tampered,
truncated or foreign snapshot is refused with one line, and a server keeps serving the
one it has.

A genuine but *older* snapshot passes those checks: ``current`` pointed back at one still kept,
or one restored from a backup, would have every server serve last month's linkage (a split that
parted two children's records undone, a school's lookup naming the wrong child's record). So the
newest snapshot any server of the deployment has served is kept in the shared service state
(``served_snapshot``), and an older one is refused (``refuse_rollback``). To go back on purpose,
restore the database and ``linkage publish``: that is a new snapshot.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

from linkage.errors import LinkageError
from linkage.files import private_dir, private_opener
from linkage.store.db import Store, derived_key, resolve_key, sync_dir
from linkage.store.schema import UNPUBLISHED, t
from linkage.store.state import ServiceState

__all__ = ["Manifest", "SnapshotError", "checked_snapshot", "current_id", "load_manifest", "manifest_key", "publish",
           "record_served", "refuse_rollback", "snapshot_dir", "verified_file"]

FORMAT = 1
POINTER = "current"
_ID = re.compile(r"^[0-9]{6,}-[0-9]{8}T[0-9]{12}$")     # run id, then UTC time to the microsecond
_MAC_PURPOSE = b"snapshot-manifest-v1"


class SnapshotError(LinkageError):
    """A snapshot that cannot be served: missing, tampered with, partial or made with another key."""


@dataclass(frozen=True)
class Manifest:
    snapshot: str
    run_id: int
    created: str
    file: str
    bytes: int
    sha256: str
    format: int = FORMAT

    def body(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":")).encode()


def snapshot_dir(home: Path) -> Path:
    """``LINKAGE_SNAPSHOT_DIR`` (a volume the link job writes and servers on other hosts read),
    else ``snapshots/`` in the data directory."""
    from linkage.config import get_settings

    configured = get_settings().snapshot_dir
    return Path(configured) if configured else Path(home) / "snapshots"


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb", opener=private_opener) as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    sync_dir(path.parent)


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def publish(store: Store, keep: int = 3) -> Manifest:
    """Copy the live database (less a link run's working caches) to a new snapshot, then point
    ``current`` at it; keep the newest ``keep`` snapshots (and always the current one), removing older ones."""
    root = private_dir(snapshot_dir(store.home))
    for leftover in root.glob("*.tmp*"):          # a publication that never finished
        leftover.unlink(missing_ok=True)
    run_id = int(store.scalar(f"SELECT coalesce(max(run_id), 0) FROM {t('runs')} WHERE finished_at IS NOT NULL"))
    now = datetime.now(timezone.utc)
    sid = f"{run_id:06d}-{now:%Y%m%dT%H%M%S%f}"
    tmp = root / f"{sid}.duckdb.tmp"
    store.clone_to(tmp, "snapshot_new", empty=UNPUBLISHED)
    final = root / f"{sid}.duckdb"
    os.replace(tmp, final)
    manifest = Manifest(sid, run_id, now.isoformat(timespec="seconds"), final.name, final.stat().st_size,
                        _digest(final))
    mac = hmac.new(store.mac_key(_MAC_PURPOSE), manifest.body(), hashlib.sha256).hexdigest()
    _write_atomic(root / f"{sid}.json", json.dumps({**asdict(manifest), "mac": mac}, indent=1).encode())
    _write_atomic(root / POINTER, (sid + "\n").encode())
    _prune(root, keep, sid)
    return manifest


def _prune(root: Path, keep: int, current: str) -> None:
    ids = sorted((p.stem for p in root.glob("*.json") if _ID.match(p.stem)), reverse=True)
    for old in ids[max(keep, 1):]:
        if old != current:
            for path in (root / f"{old}.duckdb", root / f"{old}.json"):
                path.unlink(missing_ok=True)


def current_id(home: Path) -> str | None:
    """The snapshot ``current`` names, or None when nothing was ever published."""
    try:
        text = (snapshot_dir(home) / POINTER).read_text(encoding="ascii").strip()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise SnapshotError(f"cannot read the snapshot pointer {snapshot_dir(home) / POINTER}: {exc}") from None
    if not _ID.match(text):
        raise SnapshotError(f"the snapshot pointer {snapshot_dir(home) / POINTER} does not name a snapshot")
    return text


def manifest_key(home: Path, db_key: str | None = None) -> bytes:
    """The key manifests are signed with, from the database key (LINKAGE_DB_KEY or keys/db.key)."""
    return derived_key(resolve_key(home, db_key), _MAC_PURPOSE)


def load_manifest(home: Path, sid: str, mac_key: bytes) -> Manifest:
    """The manifest of snapshot ``sid``, refused unless its HMAC is right."""
    if not _ID.match(sid):
        raise SnapshotError(f"{sid!r} is not a snapshot name")
    path = snapshot_dir(home) / f"{sid}.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        mac = data.pop("mac")
        manifest = Manifest(**data)
    except FileNotFoundError:
        raise SnapshotError(f"snapshot {sid} has no manifest ({path}): it was pruned or never finished") from None
    except (OSError, ValueError, TypeError, KeyError):
        raise SnapshotError(f"snapshot {sid}'s manifest ({path}) is unreadable or incomplete") from None
    good = hmac.new(mac_key, manifest.body(), hashlib.sha256).hexdigest()
    if not (isinstance(mac, str) and hmac.compare_digest(mac, good)) or manifest.snapshot != sid:
        raise SnapshotError(f"snapshot {sid}'s manifest fails its check: altered, or made with another database key")
    if manifest.format != FORMAT or manifest.file != f"{sid}.duckdb":
        raise SnapshotError(f"snapshot {sid}'s manifest is of an unknown format")
    return manifest


def verified_file(home: Path, manifest: Manifest) -> Path:
    """The snapshot's file, once its size and SHA-256 match the manifest."""
    path = snapshot_dir(home) / manifest.file
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise SnapshotError(f"snapshot {manifest.snapshot}'s file {path} is missing") from None
    if size != manifest.bytes:
        raise SnapshotError(f"snapshot {manifest.snapshot} is {size} bytes, not the {manifest.bytes} published: "
                            "partial or altered; not served")
    if _digest(path) != manifest.sha256:
        raise SnapshotError(f"snapshot {manifest.snapshot}'s content does not match its digest: altered; not served")
    return path


def checked_snapshot(home: Path, sid: str | None = None, db_key: str | None = None) -> Path | None:
    """The file of snapshot ``sid`` (default: the current one) once its manifest and content
    pass their checks; None when nothing was ever published."""
    sid = sid or current_id(home)
    if sid is None:
        return None
    return verified_file(home, load_manifest(home, sid, manifest_key(home, db_key)))


_SERVED = """
CREATE TABLE IF NOT EXISTS served_snapshot (
  id INTEGER PRIMARY KEY CHECK (id = 1), rank TEXT NOT NULL, snapshot TEXT NOT NULL);
"""


def _rank(sid: str) -> str:
    """A snapshot's place in publication order, comparable as text: when it was published (a data
    directory linked again from nothing starts its run ids again, its snapshots are still newer)."""
    run, _, when = sid.partition("-")
    return f"{when}-{int(run):012d}"


def refuse_rollback(state: ServiceState, sid: str | None) -> None:
    """Refuse snapshot ``sid`` if a server of this deployment (sharing ``state``) has served a newer
    one. None (nothing published yet) passes."""
    if sid is None:
        return
    state.create(_SERVED)
    newest = state.execute("SELECT rank, snapshot FROM served_snapshot WHERE id = 1").fetchone()
    if newest is not None and newest["rank"] > _rank(sid):
        raise SnapshotError(f"snapshot {sid} is older than snapshot {newest['snapshot']}, which was served already: "
                            "a pointer moved back or an old copy restored is not served (to go back on purpose, "
                            "restore the database and run linkage publish)")


def record_served(state: ServiceState, sid: str | None) -> None:
    """Remember ``sid`` as served, once it passed its checks and loaded (never before: a name alone,
    dated far ahead, must not make every genuine snapshot "older")."""
    if sid is None:
        return
    state.create(_SERVED)
    state.execute("INSERT INTO served_snapshot (id, rank, snapshot) VALUES (1, ?, ?) ON CONFLICT (id) DO UPDATE "
                  "SET rank = excluded.rank, snapshot = excluded.snapshot WHERE excluded.rank > served_snapshot.rank",
                  (_rank(sid), sid))
