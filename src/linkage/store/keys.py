"""Secrets created on first run in the data directory, never in git."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from linkage.files import private_dir

__all__ = ["load_or_create_key", "secret_path"]


def secret_path(home: Path, name: str) -> Path:
    return home / "keys" / name


def load_or_create_key(home: Path, name: str, nbytes: int = 32) -> str:
    """Read ``keys/<name>``; create it 0600 (urlsafe random) when missing."""
    path = secret_path(home, name)
    if path.exists():
        mode = path.stat().st_mode & 0o777
        if mode & 0o077:
            os.chmod(path, 0o600)
        return path.read_text().strip()
    private_dir(path.parent)
    value = secrets.token_urlsafe(nbytes)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(value)
        fh.flush()
        os.fsync(fh.fileno())
    try:
        os.link(tmp, path)          # atomic: if another process won, use its key
    except FileExistsError:
        value = path.read_text().strip()
    finally:
        tmp.unlink()
    return value
