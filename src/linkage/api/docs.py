"""/docs from Swagger UI assets vendored in the package (scripts/vendor_swagger.py), never a CDN.

The page's one inline script is allowed by its hash, so its Content-Security-Policy names
exactly what the page runs: the pinned bundle from this server and that script.
"""

from __future__ import annotations

import base64
import hashlib
import re
from importlib import resources

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from linkage.api.guard import csp

__all__ = ["DOCS_URL", "STATIC_URL", "mount_docs"]

DOCS_URL = "/docs"
STATIC_URL = "/static/swagger"


def _script_hashes(html: bytes) -> str:
    return " ".join(f"'sha256-{base64.b64encode(hashlib.sha256(script).digest()).decode()}'"
                    for script in re.findall(rb"<script>(.*?)</script>", html, re.S))


def mount_docs(app: FastAPI) -> None:
    """Serve the vendored assets under STATIC_URL and the Swagger UI page at DOCS_URL."""
    assets = resources.files("linkage.api") / "static" / "swagger"
    app.mount(STATIC_URL, StaticFiles(directory=str(assets)), name="swagger")
    page = get_swagger_ui_html(openapi_url=app.openapi_url, title=f"{app.title} API",
                               swagger_js_url=f"{STATIC_URL}/swagger-ui-bundle.js",
                               swagger_css_url=f"{STATIC_URL}/swagger-ui.css",
                               swagger_favicon_url=f"{STATIC_URL}/favicon-32x32.png")
    policy = csp(script_src=f"'self' {_script_hashes(page.body)}", style_src="'self'",
                 img_src="'self' data:", connect_src="'self'")

    @app.get(DOCS_URL, include_in_schema=False)
    def docs() -> HTMLResponse:
        return HTMLResponse(page.body, headers={"Content-Security-Policy": policy})
