"""Secrets created on first run in the data directory, never in git."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path

from linkage.errors import StoreError
from linkage.files import create_once, private_dir

__all__ = ["load_or_create_key", "refuse_lost_key", "secret_path"]


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
        return path.read_text().strip()
    refuse_lost_key(path, made() if made is not None else None)
    private_dir(path.parent)
    return create_once(path, secrets.token_urlsafe(nbytes).encode()).decode().strip()
