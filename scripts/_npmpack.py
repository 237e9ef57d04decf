"""Fetch one pinned npm package with ``npm pack`` and check it against its pinned integrity hash.

Shared by the vendoring scripts: the files they copy are committed, so pip, CI and
the tests never need npm; only whoever bumps a version runs these.
"""

from __future__ import annotations

import base64
import hashlib
import subprocess
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def fetch(spec: str, integrity: str, into: Path) -> Path:
    """``npm pack spec`` into ``into``, refuse it unless its sha512 matches ``integrity``, unpack it.

    Returns the unpacked ``package/`` directory.
    """
    algo, _, expected = integrity.partition("-")
    if algo != "sha512":
        raise SystemExit(f"only sha512 integrity is accepted, not {algo}")
    subprocess.run(["npm", "pack", spec, "--silent", "--pack-destination", str(into)], check=True,
                   stdout=subprocess.DEVNULL)
    (tgz,) = into.glob("*.tgz")
    actual = base64.b64encode(hashlib.sha512(tgz.read_bytes()).digest()).decode()
    if actual != expected:
        raise SystemExit(f"{spec}: integrity mismatch\n  expected sha512-{expected}\n  got      sha512-{actual}")
    with tarfile.open(tgz) as tar:
        tar.extractall(into, filter="data")
    return into / "package"


def tempdir() -> tempfile.TemporaryDirectory:
    return tempfile.TemporaryDirectory(prefix="linkage-vendor-")
