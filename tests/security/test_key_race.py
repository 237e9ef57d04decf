"""Two servers started at once on one new data directory (the compose file's two API servers, the
systemd units) each find no key and make one. Whichever writes second must take the first one's
key: before, the token key's second writer crashed on the first one's file, and a reader could
read a key half-written. Here the other server wins the race at the worst moment: after our check
that no key exists, before our write."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from linkage.access import tokens
from linkage.audit import signer
from linkage.files import create_once
from linkage.store import keys


def _theirs_written_meanwhile(monkeypatch, module, name: str, path: Path, content: bytes) -> None:
    """``module.name`` (the key generator) first lets the other server write its key to ``path``."""
    real = getattr(module, name)

    def generate(*args, **kwargs):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, generate)


def test_the_token_key_of_the_server_that_won_is_the_one_both_use(tmp_path, monkeypatch):
    theirs = tokens.JsonWebKey.generate_key("OKP", "Ed25519", is_private=True)
    path = tmp_path / "keys" / "token_ed25519.jwk.json"
    _theirs_written_meanwhile(monkeypatch, tokens.JsonWebKey, "generate_key", path,
                              json.dumps(theirs.as_dict(is_private=True)).encode())
    ours = tokens._load_or_create_jwk(tmp_path)
    assert ours.as_dict(is_private=True) == theirs.as_dict(is_private=True)
    assert [p.name for p in path.parent.iterdir()] == [path.name]        # no temporary file left


def test_the_audit_key_of_the_server_that_won_is_the_one_both_use(tmp_path, monkeypatch):
    theirs = Ed25519PrivateKey.generate()
    pem = theirs.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                               serialization.NoEncryption())
    path = tmp_path / "keys" / "audit_ed25519.pem"
    _theirs_written_meanwhile(monkeypatch, signer.Ed25519PrivateKey, "generate", path, pem)
    ours = signer._default_key(tmp_path)
    raw = serialization.Encoding.Raw, serialization.PublicFormat.Raw
    assert ours.public_key().public_bytes(*raw) == theirs.public_key().public_bytes(*raw)


def test_the_secret_key_of_the_process_that_won_is_the_one_both_use(tmp_path, monkeypatch):
    path = keys.secret_path(tmp_path, "db.key")
    theirs = "theirs-" + "k" * 36
    _theirs_written_meanwhile(monkeypatch, keys.secrets, "token_urlsafe", path, theirs.encode())
    assert keys.load_or_create_key(tmp_path, "db.key") == theirs


def test_many_creators_at_once_agree_on_one_whole_file(tmp_path):
    path = tmp_path / "key"
    got: list[bytes] = []
    start = threading.Barrier(16)

    def make(i: int) -> None:
        start.wait()
        got.append(create_once(path, f"key number {i}".encode() * 1000))

    threads = [threading.Thread(target=make, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(got)) == 1 and got[0] == path.read_bytes()
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["key"]


def test_a_key_that_cannot_be_written_is_named_not_its_part_file(tmp_path):
    """A data directory on a read-only mount, or a keys directory gone: the one line named
    ``keys/.audit_ed25519.pem.x8k2fj1q.part``, a file nobody asked for and that never existed."""
    import pytest

    wanted = tmp_path / "gone" / "audit_ed25519.pem"
    with pytest.raises(FileNotFoundError) as caught:
        create_once(wanted, b"key")
    assert caught.value.filename == str(wanted) and ".part" not in str(caught.value), caught.value
