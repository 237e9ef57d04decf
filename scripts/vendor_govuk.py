"""Vendor GOV.UK Frontend's compiled CSS and JavaScript module into the web package.

    python scripts/vendor_govuk.py

Pinned to the version ``govuk-frontend-jinja`` 4.1.0 targets, checked against npm's
sha512 integrity hash before anything is copied.

linkage is not a GOV.UK service, so it may not use the GOV.UK brand: the GDS
Transport font, the crown and the GOV.UK icons are left out. As GOV.UK Frontend
documents for other services, text is set in Arial instead: the compiled CSS has
its ``@font-face`` rules removed and ``GDS Transport`` dropped from every
``font-family`` (what ``$govuk-font-family: arial, sans-serif`` and
``$govuk-include-default-font-face: false`` would compile to).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _npmpack import ROOT, fetch, tempdir  # noqa: E402

VERSION = "6.3.0"
INTEGRITY = "sha512-cXIQxm5PHCsbic47GXZrVBZhAeeshTLRL6ZBKilLsR6rMCjJuWb7Fruq0VUNMBJFlJk/srsRj/q8d5bM9cgKoA=="
DEST = ROOT / "src" / "linkage" / "web" / "static" / "govuk"


def arial(css: str) -> str:
    css = re.sub(r"@font-face\{[^}]*\}", "", css)
    css = css.replace("font-family:GDS Transport,arial,sans-serif", "font-family:arial,sans-serif")
    if "GDS Transport" in css:
        raise SystemExit("GDS Transport is still named in the CSS: the rewrite needs updating for this version")
    return re.sub(r"/\*# sourceMappingURL=[^*]*\*/", "", css)


def main() -> None:
    with tempdir() as tmp:
        dist = fetch(f"govuk-frontend@{VERSION}", INTEGRITY, Path(tmp)) / "dist" / "govuk"
        DEST.mkdir(parents=True, exist_ok=True)
        (DEST / "govuk-frontend.min.css").write_text(arial((dist / "govuk-frontend.min.css").read_text()))
        js = (dist / "govuk-frontend.min.js").read_text()
        (DEST / "govuk-frontend.min.js").write_text(re.sub(r"//# sourceMappingURL=\S*", "", js))
        (DEST / "VERSION").write_text(
            f"govuk-frontend {VERSION} {INTEGRITY}\n"
            "MIT licence, (c) Crown copyright: https://github.com/alphagov/govuk-frontend/blob/main/LICENSE.txt\n"
            "Rewritten by scripts/vendor_govuk.py: Arial for GDS Transport, no @font-face, no source maps.\n")
    print(f"vendored GOV.UK Frontend {VERSION} into {DEST.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
