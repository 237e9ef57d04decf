"""Vendor axe-core's ``axe.min.js`` into tests/ for the browser tests' accessibility checks.

    python scripts/vendor_axe.py

Pinned, and checked against npm's sha512 integrity hash before anything is copied.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _npmpack import ROOT, fetch, tempdir  # noqa: E402

VERSION = "4.14.1"
INTEGRITY = "sha512-FHfa+lmNjQZfJz1q8wKqIDwC6DExcHt/pkjNQb09a3NPjCKg2rhu5qb2S4r76ASyFNNtuFooJpZe37OgudVGtQ=="
DEST = ROOT / "tests" / "axe"


def main() -> None:
    with tempdir() as tmp:
        package = fetch(f"axe-core@{VERSION}", INTEGRITY, Path(tmp))
        DEST.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(package / "axe.min.js", DEST / "axe.min.js")
        shutil.copyfile(package / "LICENSE", DEST / "LICENSE")
        (DEST / "VERSION").write_text(f"axe-core {VERSION} {INTEGRITY}\n")
    print(f"vendored axe-core {VERSION} into {DEST.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
