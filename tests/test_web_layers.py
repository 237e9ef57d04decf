"""Pages never read the data themselves: every module of ``linkage.web`` reaches records only
through ``linkage.service`` (policy, consent, audit) and people only through ``linkage.access``."""

from __future__ import annotations

import ast
from pathlib import Path

import linkage.web

FORBIDDEN = ("linkage.store", "linkage.link", "linkage.views", "linkage.connectors", "linkage.identity",
             "linkage.consent", "linkage.audit", "duckdb", "sqlite3", "pandas")


def imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_pages_reach_data_only_through_the_service_layer():
    modules = sorted(Path(linkage.web.__file__).parent.rglob("*.py"))
    assert len(modules) >= 8
    bad = {str(m.name): sorted(n for n in imports(m) if n.startswith(FORBIDDEN)) for m in modules}
    assert not {k: v for k, v in bad.items() if v}, bad


def test_every_page_form_carries_the_csrf_token():
    templates = Path(linkage.web.__file__).parent / "templates"
    for t in templates.glob("*.html"):
        text = t.read_text()
        assert text.count('method="post"') == text.count('name="csrf_token" value="{{ csrf_token }}"'), t.name


def test_a_failing_page_shows_the_service_error_page_without_a_traceback():
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from linkage.config import Settings
    from linkage.web.app import build_web

    web = build_web(FastAPI(), Settings())

    @web.get("/boom")
    def boom():
        raise RuntimeError("secret detail /srv/linkage/keys")

    r = TestClient(web, raise_server_exceptions=False).get("/boom")
    assert r.status_code == 500 and "Sorry, there is a problem with the service" in r.text
    assert "secret detail" not in r.text and "Traceback" not in r.text
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
