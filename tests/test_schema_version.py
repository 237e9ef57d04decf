"""Schema stamps: a database written by a newer linkage is refused and left alone; an older one is
upgraded in one transaction (a failure half-way changes nothing) and stamped."""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
from contextlib import contextmanager

import duckdb
import pytest

from linkage.errors import StoreError
from linkage.store import schema as store_schema
from linkage.store.db import DB_FILE, Store
from linkage.store.state import ServiceState
from linkage.store.state import schema as state_schema
from linkage.store.state.postgres import PostgresState
from linkage.store.version import STATE_VERSION, STORE_VERSION

KEY = "k" * 32
# The DDL each schema version is: a change to the DDL that does not bump the version fails here.
STORE_DDL = {1: "3d3099bc36c3e03f"}
STATE_DDL = {1: "ba22b141a15b7e3d", 2: "9ee3fd775af895af", 3: "430d9dd0932e8ac2"}


def _digest(*parts: str) -> str:
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def test_each_schema_version_is_pinned_to_its_ddl():
    store = _digest(*store_schema.all_ddl(), store_schema.STAMP_DDL)
    assert store == STORE_DDL[STORE_VERSION], (
        f"store.schema's DDL changed: bump STORE_VERSION in store/version.py and add {{version: {store!r}}} to STORE_DDL")
    state = _digest(state_schema.SCHEMA, state_schema.STAMP)
    assert state == STATE_DDL[STATE_VERSION], (
        f"store.state.schema changed: bump STATE_VERSION in store/version.py and add {{version: {state!r}}} to STATE_DDL")


def _raw(home):
    """The store's own DuckDB connection, with none of linkage's opening steps."""
    con = duckdb.connect(":memory:")
    from linkage.store.db import httpfs_extension_path
    con.execute(f"LOAD '{httpfs_extension_path()}'")
    con.execute(f"ATTACH '{home / DB_FILE}' AS store (ENCRYPTION_KEY '{KEY}')")
    return con


def _columns(con, table):
    return {r[0] for r in con.execute("SELECT column_name FROM duckdb_columns() WHERE database_name = 'store' "
                                      "AND table_name = ?", [table]).fetchall()}


def test_a_store_or_snapshot_a_newer_linkage_wrote_is_refused_in_one_line_and_left_alone(tmp_path):
    home = tmp_path / "home"
    Store(home, key=KEY).close()
    con = _raw(home)
    con.execute("UPDATE store.schema_version SET version = version + 1, written_by = '9.9'")
    con.execute("DROP TABLE store.twin_names")          # what a newer schema might have moved
    con.close()
    snapshot = tmp_path / "snap.duckdb"
    shutil.copy(home / DB_FILE, snapshot)
    for kwargs in ({}, {"read_only": True}, {"read_only": True, "file": snapshot}):
        with pytest.raises(StoreError) as caught:
            Store(home, key=KEY, **kwargs)
        message = str(caught.value)
        assert "written by linkage 9.9" in message and "upgrade linkage" in message and "\n" not in message
        assert message.startswith("the snapshot") is ("file" in kwargs)
    con = _raw(home)
    assert "twin_names" not in {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    con.close()


def test_an_older_store_is_upgraded_in_one_transaction_or_not_at_all(tmp_path, monkeypatch):
    home = tmp_path / "home"
    Store(home, key=KEY).close()
    con = _raw(home)                                   # as a store from before the stamp and the queue's ids
    con.execute("DROP TABLE IF EXISTS store.schema_version")
    for column in ("pair_id", "first_run", "cluster_size", "priority"):
        con.execute(f"ALTER TABLE store.review_queue DROP COLUMN {column}")
    con.close()
    broken = [*store_schema.all_ddl(), "ALTER TABLE store.no_such_table ADD COLUMN x BIGINT"]
    monkeypatch.setattr("linkage.store.db.all_ddl", lambda: broken)
    with pytest.raises(StoreError):
        Store(home, key=KEY)
    con = _raw(home)
    assert "priority" not in _columns(con, "review_queue") and not _columns(con, "schema_version")
    con.close()
    monkeypatch.undo()
    Store(home, key=KEY).close()
    con = _raw(home)
    assert {"pair_id", "first_run", "cluster_size", "priority"} <= _columns(con, "review_queue")
    assert con.execute("SELECT version FROM store.schema_version").fetchall() == [(STORE_VERSION,)]
    con.close()


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request, tmp_path):
    if request.param == "sqlite":
        return tmp_path, None
    return tmp_path, request.getfixturevalue("postgres_url")


@contextmanager
def _bare(home, url):
    """The state's tables' columns, read without linkage's opening steps."""
    if url:
        state = PostgresState(home, url, schema=False)
        yield state.columns
        state.close()
    else:
        con = sqlite3.connect(home / "service.sqlite")
        yield lambda table: {r[1] for r in con.execute(f"PRAGMA table_info({table})")}
        con.close()


def test_service_state_a_newer_linkage_wrote_is_refused_and_left_alone(backend):
    home, url = backend
    state = ServiceState(home, url)
    state.execute("UPDATE schema_version SET version = version + 1, written_by = '9.9'")
    state.execute("DROP TABLE pseudonyms")
    state.close()
    with pytest.raises(StoreError) as caught:
        ServiceState(home, url)
    assert "written by linkage 9.9" in str(caught.value) and "upgrade linkage" in str(caught.value)
    assert "\n" not in str(caught.value) and "postgresql://" not in str(caught.value)
    with _bare(home, url) as columns:
        assert not columns("pseudonyms")


def test_older_service_state_is_upgraded_in_one_transaction_or_not_at_all(backend, monkeypatch):
    home, url = backend
    state = ServiceState(home, url)
    for table in ("schema_version", "pseudonyms", "clients"):
        state.execute(f"DROP TABLE IF EXISTS {table}")
    # A state from before organisations were registered: its clients named their own agency.
    state.execute("CREATE TABLE clients (client_id TEXT PRIMARY KEY, agency TEXT NOT NULL)")
    state.execute("INSERT INTO clients VALUES ('c1', 'Hill School')")
    state.close()
    monkeypatch.setattr(state_schema, "SCHEMA", state_schema.SCHEMA + ";\nCREATE TABLE broken (x NOSUCHTYPE[[)")
    with pytest.raises(Exception):
        ServiceState(home, url)
    with _bare(home, url) as columns:
        assert "agency" in columns("clients") and not columns("clients_v0") and not columns("schema_version")
    monkeypatch.undo()
    state = ServiceState(home, url)
    assert state.execute("SELECT agency FROM clients_v0").fetchall()[0][0] == "Hill School"
    assert "org_id" in state.columns("clients")
    assert state.scalar("SELECT version FROM schema_version") == STATE_VERSION
    state.close()


def test_a_version_1_state_gains_the_identity_providers_subject_and_keeps_its_people(backend):
    """Version 2 records the identity provider's issuer and subject for each person (``user_subjects``,
    one per issuer) and client (whom its tokens stand for, ``access.subjects``). A state version 1
    wrote, whose users table ``access.users`` made, is upgraded in place: its people and clients kept,
    each subject one holder's."""
    from linkage.access.clients import ClientRegistry
    from linkage.access.orgs import OrgRegistry
    from linkage.access.users import UserRegistry
    from linkage.errors import LinkageError

    home, url = backend
    state = ServiceState(home, url)
    org = OrgRegistry(state).add("Oak AP Academy", "ap_school", "140001")
    for statement in ("DROP TABLE user_subjects", "DROP INDEX IF EXISTS clients_idp",
                      *(f"ALTER TABLE clients DROP COLUMN {c}" for c in ("idp_issuer", "idp_subject")),
                      "UPDATE schema_version SET version = 1, written_by = '0.9'"):
        state.execute(statement)
    state.execute("INSERT INTO users (user_id, email, name, org_id, role, created_at) VALUES "
                  "('u_1', 'amy@oak.example', 'Amy', ?, 'admissions', '2026-01-01')", (org.org_id,))
    state.execute("INSERT INTO clients (client_id, name, org_id, role, secret_hash, created_at) VALUES "
                  "('lk_1', 'Desk', ?, 'admissions', 'scrypt$AA==$AA==', '2026-01-01')", (org.org_id,))
    state.close()
    with _bare(home, url) as columns:
        assert "idp_subject" not in columns("clients") and not columns("user_subjects")
    state = ServiceState(home, url)
    assert state.scalar("SELECT version FROM schema_version") == STATE_VERSION == 3
    assert {"idp_issuer", "idp_subject"} <= state.columns("clients")
    users = UserRegistry(state)
    assert users.set_subject("amy@oak.example", "https://idp.example/", "f0a1").user_id == "u_1"
    assert users.by_subject("https://idp.example", "f0a1").email == "amy@oak.example"
    users.set_subject("u_1", "https://api-idp.example", "f0a1")          # another issuer: another name
    assert users.subjects("u_1") == {"https://api-idp.example": "f0a1", "https://idp.example": "f0a1"}
    assert ClientRegistry(state).get("lk_1").idp_subject is None
    bo, _ = users.add("bo@oak.example", "Bo", "140001", "admissions")
    with pytest.raises(LinkageError):                       # one subject, one holder
        users.set_subject(bo.user_id, "https://idp.example", "f0a1")
    with pytest.raises(LinkageError):
        ClientRegistry(state).add("Feed", "140001", "admissions", idp_issuer="https://idp.example", idp_subject="f0a1")
    for row in (("https://idp.example", "f0a1", bo.user_id), ("https://idp.example", "b-2", "u_1")):
        with pytest.raises(Exception):                      # and the database says so too
            state.execute("INSERT INTO user_subjects VALUES (?, ?, ?, '2026-01-01')", row)
    state.close()


def test_a_version_2_state_gains_revoked_at_and_keeps_its_people_and_clients(backend):
    """Version 3 keeps ``revoked_at`` for organisations, clients and people (a provider's token issued
    before it is refused: ``access.clients``). A state version 2 wrote is upgraded in place, every row
    kept, none revoked (0), and a disable then sets it."""
    from linkage.access.clients import ClientRegistry
    from linkage.access.users import UserRegistry

    home, url = backend
    state = ServiceState(home, url)
    clients = ClientRegistry(state)
    clients.orgs.add("Oak AP Academy", "ap_school", "140001")
    desk, _ = clients.add("Desk", "140001", "admissions")
    UserRegistry(state, clients.orgs).add("amy@oak.example", "Amy", "140001", "admissions")
    for table in ("organisations", "clients", "users"):
        state.execute(f"ALTER TABLE {table} DROP COLUMN revoked_at")
    state.execute("UPDATE schema_version SET version = 2, written_by = '0.9'")
    state.close()
    state = ServiceState(home, url)
    assert state.scalar("SELECT version FROM schema_version") == STATE_VERSION == 3
    clients = ClientRegistry(state)
    assert clients.get(desk.client_id).revoked_at == 0
    assert UserRegistry(state, clients.orgs).find("amy@oak.example").revoked_at == 0
    assert clients.set_active(desk.client_id, False).revoked_at > 0
    state.close()

