"""Shared fixtures. The suite must pass every time, on a loaded 2-core CI machine, so a test:

- chooses children by their records (``min(record_key)``), never by child ids or pseudonyms, which
  come from keys made at random on each first run (sorting by them picks a new child each run);
- waits for a condition (an event, a poll with a generous deadline), never a fixed sleep, and
  sets a clock where the code reads one, rather than sleeping past an age;
- holds credentials rather than a token (tokens last 5 minutes: ``Server.token`` renews them);
- never changes a session fixture (copy it: ``linked_home``).
"""
from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import pytest
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings

from linkage.config import get_settings
from linkage.store import Store

REPO = Path(__file__).resolve().parents[1]
EXTRACT_DATE = date(2026, 10, 1)
# benchmarks/la_extracts: each file as (source, mapping, file, a second file for its source)
LA_FILES = [("education", "school.yaml", "school_census.csv", False), ("education", "ap.yaml", "ap_roll.csv", True),
            ("health", "health.yaml", "gp_extract.tsv", False), ("social_care", "social.yaml", "social_care.csv", False),
            ("social_care", "early_help.yaml", "early_help.csv", True),
            ("health", "school_nurse.yaml", "school_nurse.csv", True)]


def la_extracts(out: Path, seed: int, children: int) -> Path:
    """The independent generator's extracts (benchmarks/la_extracts) for ``children`` at ``seed``."""
    import subprocess
    import sys

    subprocess.run([sys.executable, str(REPO / "benchmarks" / "la_extracts" / "generate.py"), str(out), str(seed),
                    str(children)], check=True, capture_output=True)
    return out


def ingest_la(store: Store, data: Path, files=LA_FILES, when=EXTRACT_DATE) -> None:
    """``files`` of ``la_extracts``' output ingested through their mappings, as an authority would."""
    from linkage.connectors import ingest_file

    for source, mapping, name, amend in files:
        ingest_file(store, source, data / name, REPO / "benchmarks" / "la_extracts" / mapping, extract_date=when,
                    amend=amend)


def _one_tls_context() -> None:
    """httpx's one-call functions (``httpx.get``, ``httpx.post``...), which the tests call a few
    thousand times a run against their loopback servers, each build a client, and each client a
    TLS context from the system's certificates: 20 ms of CPU a call, on plain HTTP too. They are
    handed one context made the same way (``httpx.create_ssl_context()``, the checks unchanged),
    made once; a caller's own ``verify`` is kept. (``httpx.request`` and ``httpx.stream`` themselves
    are left as they are: only the functions that call ``httpx._api.request`` share it.)

    The same calls wait up to 30 s for an answer where the caller set no timeout (httpx's own is
    5 s): on the loaded 2-core CI machine a server's answer took longer than 5 s (session 34's CI,
    a worker's first request), which a test of headers is not about. A server that hangs still fails."""
    import httpx
    import httpx._api as api

    made, real = httpx.create_ssl_context(), api.request

    def request(method, url, *args, verify=True, timeout=30.0, **kwargs):
        return real(method, url, *args, verify=made if verify is True else verify, timeout=timeout, **kwargs)

    api.request = request


_one_tls_context()


# The longest modules, longest first. `make test` runs two pytest-xdist workers that take whole
# modules in collection order (`--dist loadfile --no-loadscope-reorder`); a long module collected
# last would run alone on one core at the end, so these are collected first. The list only
# steers order (a stale one costs time, never a test); from the CPU and wall times in
# docs/benchmarks.md "Suite time" (re-ranked in session 28 from the CI junit times less the measured savings).
SLOW_FIRST = [
    "test_snapshot_switch.py", "test_spark.py", "security/test_hygiene.py", "test_web_data_manager.py",
    "security/test_access.py", "security/test_exports.py", "test_quarantine.py", "test_review.py",
    "security/test_huge_rows.py", "test_web_outcomes.py", "test_web_ap_cme.py",
    "security/test_outcomes_linked.py", "test_worker_balance.py", "test_web_dpo.py", "test_web_e2e.py",
    "test_incremental_pass.py", "test_changes.py", "test_ingest_safety.py", "security/test_audit_index_tamper.py",
    "test_store.py", "security/test_audit_tamper.py", "test_api_e2e.py", "test_postgres_e2e.py",
    "security/test_input_limits.py", "test_lookup.py", "security/test_disclosure.py", "test_pipeline_e2e.py",
    "test_ingest_mistakes.py", "test_validation_fields.py",
    # Every other module of 13 s or more in session 28's CI junit: unlisted, test_web_oidc.py (21 s)
    # was collected second to last and ran alone at the end (about 15-24 s of one idle worker).
    "test_second_pass_fast.py", "security/test_consent_split.py", "security/test_audit_key.py", "test_web_oidc.py",
    "security/test_consent_merge.py", "security/test_web.py", "security/test_consent.py", "security/test_sql_text.py",
    "test_inputcache_beside.py", "security/test_lost_keys.py", "security/test_slow_requests.py",
    "test_conditions.py", "security/test_forwarded.py", "test_auth_settings.py",
    "test_serve_start.py",      # session 30: nine server processes, about 30 s at load 4
]

# Hypothesis's timing checks (an example's 200 ms deadline, slow generation) fail on the loaded
# 2-core CI machine for reasons that are not the test's: "Flaky: unreliable test timings". No test
# here measures speed with them; a test's own @settings still sets anything else.
# `make test` draws the same examples every run (derandomize): a gate that passes or fails by the
# draw tells nobody anything. Searching for new failures is a run of its own:
# `HYPOTHESIS_PROFILE=explore pytest ...` draws at random, five times as many examples.
hypothesis_settings.register_profile("suite", deadline=None, suppress_health_check=[HealthCheck.too_slow],
                                     derandomize=True, database=None)
hypothesis_settings.register_profile("explore", hypothesis_settings.get_profile("suite"), derandomize=False,
                                     database=None, max_examples=500)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "suite"))


def pytest_collection_modifyitems(items):
    """Slowest modules first (see SLOW_FIRST); the sort is stable, so each module stays whole and
    in its own order, and every other module keeps its place after them."""
    here = Path(__file__).resolve().parent
    rank = {name: i for i, name in enumerate(SLOW_FIRST)}

    def place(item) -> int:
        try:
            return rank.get(Path(item.path).resolve().relative_to(here).as_posix(), len(rank))
        except ValueError:
            return len(rank)

    items.sort(key=place)


@pytest.fixture(autouse=True)
def _isolated_settings(monkeypatch, tmp_path):
    monkeypatch.delenv("LINKAGE_DB_KEY", raising=False)
    monkeypatch.setenv("LINKAGE_HOME", str(tmp_path / "home"))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture
def quick_hashes(monkeypatch):
    """Passwords (argon2id, with the unknown email's stand-in hash) and client secrets (scrypt)
    hashed at their least work, for tests whose subject reads no secret's strength: races to
    record a subject, lock-out counts. At the product's parameters each hash is 0.1 to 0.2 CPU s
    (64 MiB and three passes; 16 MiB): most of such a test's time. Tests of the hashing itself,
    and every other test, keep the product's parameters (tests/test_import_cost.py checks them)."""
    import base64
    import hashlib

    from argon2 import PasswordHasher

    from linkage.access import clients, users

    quick = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    monkeypatch.setattr(users, "_hasher", quick)
    monkeypatch.setattr(users, "_DUMMY", quick.hash("a password nobody kept"))

    def scrypt(secret: str, salt: bytes) -> str:
        digest = hashlib.scrypt(secret.encode(), salt=salt, n=2, r=1, p=1, dklen=32)
        return "scrypt$" + base64.b64encode(salt).decode() + "$" + base64.b64encode(digest).decode()

    monkeypatch.setattr(clients, "_hash", scrypt)


@pytest.fixture
def store(tmp_path) -> Store:
    s = Store(tmp_path / "data", memory_limit="2GB")
    yield s
    s.close()


def killed_link(home: Path, when: str) -> None:
    """``run_link`` on ``home`` in a child process that SIGKILLs itself (a real kill, not an
    exception) at the first statement of which ``when`` holds: a Python condition on ``sql`` and
    ``threading``."""
    import signal
    import subprocess
    import sys
    import textwrap

    script = textwrap.dedent(f"""
        import os, signal, threading
        from pathlib import Path
        from linkage.store import Store
        from linkage.link import run_link
        real = Store.execute
        def execute(self, sql, params=None):
            if {when}:
                os.kill(os.getpid(), signal.SIGKILL)
            return real(self, sql, params)
        Store.execute = execute
        run_link(Store(Path({str(home)!r}), memory_limit="2GB"))
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env={**os.environ})
    assert proc.returncode == -signal.SIGKILL, proc.stderr


def shared_dir(tmp_path_factory, name: str, make) -> Path:
    """``name``: a read-only directory ``make(path)`` fills once for the whole run, however many
    pytest-xdist workers ask (the first makes it under a lock, the others wait for it, then all
    read it). Each worker made its own copy of the session's populations: a second synthesis and
    a second link of month 1 on the CI's two cores for the same bytes. Beside it, templates that
    ``apiserver.linked_home`` links from it are shared the same way."""
    from apiserver import made_once

    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent          # the run's directory, over each worker's own
    return made_once(root / name, make)


@pytest.fixture(scope="session")
def synth_month1(tmp_path_factory) -> Path:
    from linkage.synth import synthesise

    return shared_dir(tmp_path_factory, "synth1", lambda out: synthesise(2000, 7, out, month=1))


@pytest.fixture(scope="session")
def synth_month2(tmp_path_factory) -> Path:
    from linkage.synth import synthesise

    return shared_dir(tmp_path_factory, "synth2", lambda out: synthesise(2000, 7, out, month=2))


@pytest.fixture(scope="session")
def synth_realistic(tmp_path_factory) -> Path:
    """Month 1 at realistic difficulty (easy data leaves the review queue nearly empty); read-only:
    copy it to change it."""
    from linkage.synth import synthesise

    return shared_dir(tmp_path_factory, "synth_realistic",
                      lambda out: synthesise(2000, 7, out, month=1, level="realistic"))


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
def realistic_model(synth_realistic) -> Path:
    """The model ``linkage link`` trained on the session's realistic month 1 (the model.json of
    its CLI-linked copy, which tests/test_review.py and tests/test_synth_difficulty.py link
    anyway), read-only: for realistic populations whose test is not about training."""
    import json

    from apiserver import template

    when = date.fromisoformat(json.loads((synth_realistic / "manifest.json").read_text())["extract_date"])
    return template(synth_realistic, when, via_cli=True) / "data" / "model.json"


@pytest.fixture(scope="session")
def chromium():
    """One Chromium for the session's page tests; each module opens a profile of its own
    (tests/browserpages.py ``Profile``), so modules share the browser, never cookies or storage."""
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
