"""Secrets created on first run in the data directory, never in git."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path

from linkage.errors import StoreError
from linkage.files import create_once, private_dir

__all__ = ["load_or_create_key", "refuse_lost_key", "secret_path", "MIN_KEY_CHARS"]

MIN_KEY_CHARS = 32      # what LINKAGE_DB_KEY must hold; the keys made here hold 43


def secret_path(home: Path, name: str) -> Path:
    return home / "keys" / name


def refuse_lost_key(path: Path, made: str | None) -> None:
    """A missing key that ``made`` (what exists under it; None: nothing) needs is refused, not made
    again: a new key would not open what the old one sealed, keyed or signed."""
    if made:
        raise StoreError(f"{path} is missing, but {made}: restore the key file from your backup "
                         "(or copy it from the first server: every server needs the same keys); a new key would "
                         "not match, so none is made")


def load_or_create_key(home: Path, name: str, nbytes: int = 32,
                       made: Callable[[], str | None] | None = None) -> str:
    """Read ``keys/<name>``; create it 0600 (urlsafe random) when missing, unless ``made()``
    says something already exists under it (then ``refuse_lost_key``)."""
    path = secret_path(home, name)
    if path.exists():
        mode = path.stat().st_mode & 0o777
        if mode & 0o077:
            os.chmod(path, 0o600)
        return _whole(path)
    refuse_lost_key(path, made() if made is not None else None)
    private_dir(path.parent)
    return create_once(path, secrets.token_urlsafe(nbytes).encode()).decode().strip()


def _whole(path: Path) -> str:
    """The key in ``path``, refused when it cannot be one: an empty or cut-short file (a failed
    copy, a full disk) would otherwise key new pseudonyms or seals differently, silently."""
    try:
        text = path.read_bytes().decode("ascii").strip()
    except UnicodeDecodeError:
        text = None
    if not text or len(text) < MIN_KEY_CHARS or any(c.isspace() for c in text):
        what = "is empty" if text == "" else ("is not text" if text is None else "does not hold a whole key")
        raise StoreError(f"{path} {what} (a key is one line of at least {MIN_KEY_CHARS} characters): restore "
                         "the key file from your backup; no new key is made over it")
    return text
