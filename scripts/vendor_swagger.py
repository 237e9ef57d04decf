#!/usr/bin/env python3
"""Vendor Swagger UI's compiled assets into the package, pinned by version and integrity.

/docs must not load scripts from a CDN: the page would run whatever the CDN serves, and
councils' networks often cannot reach one anyway. So the compiled files of the npm package
``swagger-ui-dist`` are copied into ``src/linkage/api/static/swagger/`` and committed; pip
and CI never need npm. To upgrade, change VERSION and INTEGRITY (from
``npm view swagger-ui-dist@<version> dist.integrity``), run this script, and commit.

    python scripts/vendor_swagger.py            # fetch with npm, verify, copy
    python scripts/vendor_swagger.py --check    # verify the committed files against PINS.txt
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

VERSION = "5.35.0"
INTEGRITY = "sha512-U06rpMtW9V3XPGOBeamTUSr0Z09jMX4IJuANpE/EZbAhw0G8CgwrzU4YmXkn/h0wCDNsXdGarTNNHC3sU8yVUQ=="
FILES = ("swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png", "LICENSE")
DEST = Path(__file__).resolve().parents[1] / "src" / "linkage" / "api" / "static" / "swagger"
PINS = "PINS.txt"


def sri(data: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


def fetch(workdir: Path) -> Path:
    out = subprocess.run(["npm", "pack", f"swagger-ui-dist@{VERSION}", "--json", "--pack-destination",
                          str(workdir)], check=True, capture_output=True, text=True).stdout
    tarball = workdir / json.loads(out)[0]["filename"]
    got = sri(tarball.read_bytes())
    if got != INTEGRITY:
        sys.exit(f"integrity mismatch for swagger-ui-dist@{VERSION}: pinned {INTEGRITY}, got {got}")
    return tarball


def pins_text() -> str:
    lines = [f"swagger-ui-dist {VERSION} {INTEGRITY}"]
    lines += [f"{hashlib.sha256((DEST / name).read_bytes()).hexdigest()}  {name}" for name in FILES]
    return "\n".join(lines) + "\n"


def vendor() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        tarball = fetch(Path(tmp))
        DEST.mkdir(parents=True, exist_ok=True)
        with tarfile.open(tarball) as tar:
            for name in FILES:
                member = tar.extractfile(f"package/{name}")
                if member is None:
                    sys.exit(f"package/{name} missing from the tarball")
                (DEST / name).write_bytes(member.read())
    (DEST / PINS).write_text(pins_text())
    print(f"vendored swagger-ui-dist {VERSION} into {DEST}")


def check() -> None:
    if (DEST / PINS).read_text() != pins_text():
        sys.exit(f"{DEST} does not match swagger-ui-dist {VERSION} as pinned in {PINS}")
    print(f"swagger-ui-dist {VERSION}: vendored files match their pins")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="verify the committed files, no network")
    check() if parser.parse_args().check else vendor()
