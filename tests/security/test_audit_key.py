"""An audit log is never carried on under another signing key than the one it was written with.

Session 23 refused a missing ``keys/audit_ed25519.pem`` when the data directory's own log file held
keyed lines. Two ways past it remained: a second server sharing the PostgreSQL audit log, started
without the first server's key (its data directory holds no log file, so a new key was made), and
any server given another key than the log's (``LINKAGE_AUDIT_KEY_FILE`` naming the wrong file, on
either backend). ``linkage serve`` started and answered every request; each entry it wrote was
MACed under the new key, no checkpoint could ever be sealed again, and ``audit verify`` reported
every earlier line as forged. Now the command stops with one line and makes no key.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

import incli
from apiserver import free_port

pytestmark = pytest.mark.e2e


def _key_file(path: Path) -> Path:
    pem = Ed25519PrivateKey.generate().private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                     serialization.NoEncryption())
    path.write_bytes(pem)
    path.chmod(0o600)
    return path


def _first_server(home: Path, env: dict) -> None:
    """What a first server leaves: entries written and sealed under its key (made in this process,
    under ``env``'s settings: an interpreter of its own was a second or more of start-up each)."""
    from linkage.audit import open_audit_log
    from linkage.audit.signer import signer_from_settings
    from linkage.config import get_settings

    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    get_settings.cache_clear()
    try:
        log = open_audit_log(home, 3, signer_from_settings(home, get_settings()))
        try:
            for i in range(4):
                log.append({"request_id": f"r{i}", "action": "view", "decision": "allow"})
        finally:
            log.close()
    finally:
        os.environ.clear()
        os.environ.update(saved)
        get_settings.cache_clear()


def _env(**extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LINKAGE_AUDIT")}
    return {**env, **extra}


def _serve_refused(home: Path, env: dict) -> str:
    """``linkage serve`` must stop at once with one line; the line."""
    server = subprocess.Popen([sys.executable, "-m", "linkage.cli", "serve", "--port", str(free_port()),
                               "--data-dir", str(home)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        _, err = server.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        server.terminate()
        server.communicate(timeout=20)
        pytest.fail("linkage serve started, carrying the audit log on under another key")
    said = [line for line in err.decode().splitlines() if line.startswith("error:")]
    assert server.returncode == 2 and len(said) == 1 and "Traceback" not in err.decode(), err.decode()
    return said[0]


def test_a_second_server_on_the_postgresql_log_without_the_first_ones_key_is_refused(tmp_path, postgres_url):
    env = _env(LINKAGE_AUDIT_URL=postgres_url)
    _first_server(tmp_path / "first", env)
    second = tmp_path / "second"
    said = _serve_refused(second, env)
    assert "keys/audit_ed25519.pem" in said and "PostgreSQL" in said and "restore" in said, said
    assert not (second / "keys" / "audit_ed25519.pem").exists()


def test_a_server_given_another_key_than_the_logs_is_refused_on_either_backend(tmp_path, postgres_url):
    for name, extra in (("file", {}), ("postgresql", {"LINKAGE_AUDIT_URL": postgres_url})):
        home = tmp_path / name
        first = _key_file(tmp_path / f"{name}-first.pem")
        _first_server(home, _env(LINKAGE_AUDIT_KEY_FILE=str(first), **extra))
        other = _key_file(tmp_path / f"{name}-other.pem")
        said = _serve_refused(home, _env(LINKAGE_AUDIT_KEY_FILE=str(other), **extra))
        assert "another signing key" in said and str(other) in said, (name, said)


def test_the_right_key_still_serves_and_verify_still_reports_a_wrong_one(tmp_path):
    """The check refuses only a foreign key: the log's own carries on (also after junk was appended
    to it), a new log takes any key, and `audit verify` under a wrong key reports, not refuses."""
    from linkage.audit.log import AuditLog
    from linkage.audit.signer import Signer, _private

    home = tmp_path / "data"
    first = _key_file(tmp_path / "first.pem")
    _first_server(home, _env(LINKAGE_AUDIT_KEY_FILE=str(first)))
    with open(home / "audit" / "log.jsonl", "a") as fh:
        fh.write('{"seq": 5, "hash": "' + "0" * 64 + '", "v": 2, "mac": "forged"}\n')
    log = AuditLog(home, signer=Signer(key=_private(first.read_bytes(), "first")))
    log.refuse_another_key()
    log.close()
    fresh = AuditLog(tmp_path / "new", signer=Signer(key=Ed25519PrivateKey.generate()))
    fresh.refuse_another_key()
    fresh.close()
    other = _key_file(tmp_path / "other.pem")
    env = {k: None for k in os.environ if k.startswith("LINKAGE_AUDIT")}
    out = incli.run("audit", "verify", "--data-dir", str(home), env={**env, "LINKAGE_AUDIT_KEY_FILE": str(other)})
    assert out.returncode == 1 and "TAMPERED" in out.stderr, out.stderr
