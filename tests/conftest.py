from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from linkage.config import get_settings
from linkage.store import Store

REPO = Path(__file__).resolve().parents[1]
EXTRACT_DATE = date(2026, 10, 1)


@pytest.fixture(autouse=True)
def _isolated_settings(monkeypatch, tmp_path):
    monkeypatch.delenv("LINKAGE_DB_KEY", raising=False)
    monkeypatch.setenv("LINKAGE_HOME", str(tmp_path / "home"))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture
def store(tmp_path) -> Store:
    s = Store(tmp_path / "data", memory_limit="2GB")
    yield s
    s.close()


@pytest.fixture(scope="session")
def synth_month1(tmp_path_factory) -> Path:
    from linkage.synth import synthesise

    out = tmp_path_factory.mktemp("synth1")
    synthesise(2000, 7, out, month=1)
    return out


@pytest.fixture(scope="session")
def synth_month2(tmp_path_factory) -> Path:
    from linkage.synth import synthesise

    out = tmp_path_factory.mktemp("synth2")
    synthesise(2000, 7, out, month=2)
    return out


@pytest.fixture(scope="session")
def synth_realistic(tmp_path_factory) -> Path:
    """Month 1 at realistic difficulty (easy data leaves the review queue nearly empty); read-only:
    copy it to change it."""
    from linkage.synth import synthesise

    out = tmp_path_factory.mktemp("synth_realistic")
    synthesise(2000, 7, out, month=1, level="realistic")
    return out


@pytest.fixture(scope="session")
def linked_store(tmp_path_factory, synth_month1) -> Store:
    """Month 1 ingested from all three sources and linked, shared read-mostly by tests
    (a copy of the session's one linked month 1: tests/apiserver.py ``linked_home``)."""
    from apiserver import linked_home

    home = tmp_path_factory.mktemp("linked") / "data"
    linked_home(home, synth_month1, EXTRACT_DATE, children=0)
    store = Store(home, memory_limit="2GB")
    yield store
    store.close()


@pytest.fixture(scope="session")
def trained_model(tmp_path_factory, linked_store) -> Path:
    """Month 1's trained model as ``linkage link`` saves it (model.json), read-only: for tests of
    something other than training, so a session trains month 1 once, not once per population
    (``linkage link --model`` / ``import_model``)."""
    from linkage.link.run import export_model

    return export_model(linked_store, tmp_path_factory.mktemp("model"))


@pytest.fixture(scope="session")
def chromium():
    """One Chromium for the session's page tests; each page opens in a fresh profile of its own
    (tests/browserpages.py ``page``), so modules share the browser, never cookies or storage."""
    from browserpages import browser

    with browser() as b:
        yield b


@pytest.fixture(scope="session")
def idp():
    """A stand-in external identity provider serving its JWKS on loopback (tests/idp.py)."""
    from idp import IdP

    provider = IdP()
    yield provider
    provider.stop()


@pytest.fixture(scope="session")
def postgres_server():
    """One real PostgreSQL for the session (tests/pg.py)."""
    from pg import PostgresServer

    server = PostgresServer()
    yield server
    server.stop()


@pytest.fixture
def postgres_url(postgres_server) -> str:
    """A fresh, empty database on the session's PostgreSQL."""
    return postgres_server.fresh()
