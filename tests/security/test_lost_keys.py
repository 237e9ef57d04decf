"""A key that data was made under, found missing, is refused, never made again.

``keys/db.key`` already was: a new key would not open the database. The other keys were made
afresh whenever their file was missing (a data directory restored without ``keys/``, a second
server given the shared PostgreSQL state but not the first server's keys, the audit key moved
out of the data directory without ``LINKAGE_AUDIT_KEY_FILE``). ``linkage serve`` then started
as if nothing were wrong: every consent's evidence, break-glass justification and review note
sealed before could no longer be opened; every organisation was issued a second pseudonym for
each child it already held one for (its own records no longer joined); and the audit log went
on under a new signing key, so the lines before no longer verified. Now the command stops with
one line naming the key and what was made under it, and makes no key file.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from apiserver import free_port, linked_home
from conftest import EXTRACT_DATE
from registry import register

pytestmark = pytest.mark.e2e

WHAT = {"state.key": "text sealed under it", "pseudonym.key": "pseudonyms issued", "audit_ed25519.pem": "audit log"}


@pytest.fixture(scope="module")
def template(tmp_path_factory, synth_month1) -> Path:
    """A linked data directory whose state holds a sealed note and an issued pseudonym, and an
    audit log with entries: what a serving instance has after its first day."""
    from linkage.access.pseudonyms import Pseudonyms
    from linkage.audit.log import AuditLog
    from linkage.link.review import ReviewDecisions
    from linkage.store.sealed import Sealer
    from linkage.store.state import ServiceState

    home = tmp_path_factory.mktemp("lost-keys") / "data"
    linked_home(home, synth_month1, EXTRACT_DATE, children=0)
    client, _ = register(home, "Desk", "school", "admissions", org="Hill School")
    state = ServiceState(home)
    ReviewDecisions(state, Sealer(home)).add([("a", "b", None, None, 0.7, 1.0)], decision="match",
                                             reviewer="Ann", note="checked with the school", channel="cli")
    Pseudonyms(home, state).form(client.org.org_id, "C-1")
    state.close()
    log = AuditLog(home, checkpoint_every=3)
    for i in range(4):
        log.append({"request_id": f"r{i}", "action": "view", "decision": "allow"})
    log.close()
    _settled(home)
    return home


def _settled(home: Path) -> None:
    """Everything in ``service.sqlite`` itself, not in a write-ahead log that a connection left to the
    garbage collector deletes when it closes, possibly while a test copies the directory."""
    import gc
    import sqlite3

    gc.collect()
    con = sqlite3.connect(home / "service.sqlite")
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()


def _copy(template: Path, home: Path) -> None:
    import shutil

    shutil.copytree(template, home, ignore=shutil.ignore_patterns("*-wal", "*-shm"))


def _serve_refuses(home: Path, started: str = "", imported: set[str] | None = None) -> str:
    """The one error line of a ``linkage serve`` that must refuse to start. ``imported``: filled with
    the top-level packages the command imported before it refused (``python -X importtime``)."""
    server = subprocess.Popen([sys.executable, *(["-X", "importtime"] if imported is not None else []), "-m",
                               "linkage.cli", "serve", "--port", str(free_port()), "--data-dir", str(home)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out, err = server.communicate(timeout=90)
    except subprocess.TimeoutExpired:
        server.terminate()
        server.communicate(timeout=20)
        pytest.fail(f"linkage serve started {started}")
    said = [line for line in err.decode().splitlines() if line.startswith("error:")]
    assert server.returncode == 2 and len(said) == 1 and "Traceback" not in err.decode(), err.decode()
    if imported is not None:
        imported.update(line.split("|")[-1].strip().split(".")[0] for line in err.decode().splitlines()
                        if line.startswith("import time:"))
    return said[0]


@pytest.mark.parametrize("key", list(WHAT))
def test_a_key_data_was_made_under_is_refused_when_missing_not_made_again(template, tmp_path, key):
    home = tmp_path / "data"
    _copy(template, home)
    (home / "keys" / key).unlink()
    said = _serve_refuses(home, f"without keys/{key}, and made a new one: {(home / 'keys' / key).exists()}")
    assert f"keys/{key}" in said and WHAT[key] in said and "restore" in said, said
    assert not (home / "keys" / key).exists()


def test_a_new_data_directory_still_makes_its_keys(tmp_path):
    """Nothing made yet: the keys are made as before (here by registering an organisation and
    sealing a first note)."""
    from linkage.access.pseudonyms import Pseudonyms
    from linkage.store.sealed import Sealer
    from linkage.store.state import ServiceState

    home = tmp_path / "data"
    state = ServiceState(home)
    assert Sealer(home, state=state).open(Sealer(home, state=state).seal("x", "c"), "c") == "x"
    assert Pseudonyms(home, state).form("org-1", "C-1").startswith("P-")
    assert {p.name for p in (home / "keys").iterdir()} >= {"state.key", "pseudonym.key"}


def test_a_pseudonym_key_swapped_for_another_is_refused(template, tmp_path):
    """A whole, valid key, but not the one the issued forms were made with (a second server given
    keys of its own): serving with it would give every organisation a second form per child."""
    import secrets
    home = tmp_path / "data"
    _copy(template, home)
    (home / "keys" / "pseudonym.key").write_text(secrets.token_urlsafe(32))
    imported: set[str] = set()
    said = _serve_refuses(home, imported=imported)
    assert "keys/pseudonym.key" in said and "pseudonyms issued" in said and "restore" in said, said
    # Refused before the application is loaded: each refusal once cost the command ~1.2 CPU s
    # importing FastAPI, Splink and pandas it never used (service/startchecks.py).
    assert "linkage" in imported and not imported & {"fastapi", "splink", "pandas"}, sorted(imported)


BROKEN = [b"", b"\n", b"abc123", "k\u00e9y".encode() * 12, b"\xff\xfe" * 30]


@pytest.mark.parametrize("key", ["db.key", "state.key", "pseudonym.key", "token_ed25519.jwk.json"])
def test_an_empty_key_file_stops_the_server_in_one_line_and_is_left_as_it_is(template, tmp_path, key):
    """An empty copy of a key (a failed restore, a full disk) stops ``linkage serve`` in one line
    naming the file, and nothing is written over it."""
    home = tmp_path / "data"
    _copy(template, home)
    (home / "keys" / key).write_bytes(b"")
    said = _serve_refuses(home)
    assert f"keys/{key}" in said and "restore" in said, said
    assert "Binder Error" not in said
    assert (home / "keys" / key).read_bytes() == b""


@pytest.mark.parametrize("content", BROKEN)
def test_a_cut_short_or_binary_key_file_is_refused_not_used(tmp_path, content):
    """Every reader of ``keys/``: an empty, cut-short or non-text file is refused naming it, never
    used as a key nor replaced by a new one."""
    from linkage.access.tokens import _load_or_create_jwk
    from linkage.errors import LinkageError
    from linkage.store.keys import load_or_create_key

    (tmp_path / "keys").mkdir()
    for name in ("db.key", "state.key", "pseudonym.key"):
        (tmp_path / "keys" / name).write_bytes(content)
        with pytest.raises(LinkageError, match=f"keys/{name}.*restore"):
            load_or_create_key(tmp_path, name)
        assert (tmp_path / "keys" / name).read_bytes() == content
    (tmp_path / "keys" / "token_ed25519.jwk.json").write_bytes(content)
    with pytest.raises(LinkageError, match="token_ed25519.jwk.json.*restore"):
        _load_or_create_jwk(tmp_path)


def test_a_state_key_swapped_for_another_is_refused(template, tmp_path):
    """A whole, valid ``state.key``, but not the one the state's text was sealed with (a second server
    given keys of its own, a wrong backup): serving with it, every consent's evidence, break-glass
    justification and review note failed only when read, and new text was sealed under a second key.
    Refused at start in one line (as ``pseudonym.key`` is), the file left as it is."""
    import secrets
    home = tmp_path / "data"
    _copy(template, home)
    swapped = secrets.token_urlsafe(32)
    (home / "keys" / "state.key").write_text(swapped)
    said = _serve_refuses(home)
    assert "keys/state.key" in said and "sealed" in said and "restore" in said, said
    assert (home / "keys" / "state.key").read_text() == swapped
