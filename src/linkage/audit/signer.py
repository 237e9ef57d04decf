"""Where the audit log's Ed25519 signing key lives, and the one thing done with it: sign.

The key should not sit beside the log it protects: whoever can rewrite the data
directory could otherwise re-sign a rewritten log. In order of preference:

- ``audit_sign_command``: a command (an HSM or KMS client) that reads the message on
  stdin and prints the raw or base64 Ed25519 signature; ``audit_public_key_file`` names
  its public key. The private key never enters this process.
- ``audit_key_pem`` (env ``LINKAGE_AUDIT_KEY_PEM``) or ``audit_key_file``: a PKCS#8 PEM
  held outside the data directory.
- otherwise ``<home>/keys/audit_ed25519.pem``, created on first run (``in_data_dir``).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shlex
import subprocess
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from linkage.errors import ConfigError
from linkage.files import create_once
from linkage.store.keys import refuse_lost_key

__all__ = ["Signer", "load_public_key", "public_pem", "signer_from_settings"]

_MAC_LABEL = b"linkage audit line MAC key v1"


def public_pem(key: Ed25519PublicKey) -> str:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def load_public_key(pem: str | bytes) -> Ed25519PublicKey:
    key = serialization.load_pem_public_key(pem.encode() if isinstance(pem, str) else pem)
    if not isinstance(key, Ed25519PublicKey):
        raise ConfigError("the audit public key is not an Ed25519 key")
    return key


def _private(pem: bytes, where: str) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"the audit signing key from {where} is not a PEM private key: {exc}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError(f"the audit signing key from {where} is not an Ed25519 key")
    return key


def _keyed(log: Path) -> bool:
    """Whether the log's lines were MACed under a key: its last line is of version 2 or later (a
    first-format log, unkeyed throughout, may be carried on under a new key). Unreadable: keyed."""
    with open(log, "rb") as fh:
        fh.seek(max(0, fh.seek(0, os.SEEK_END) - 65536))
        lines = [line for line in fh.read().splitlines() if line.strip()]
    try:
        return bool(lines) and "v" in json.loads(lines[-1])
    except (ValueError, TypeError):
        return True


def _default_key(home: Path, database: str | None = None) -> Ed25519PrivateKey:
    path = home / "keys" / "audit_ed25519.pem"
    if path.exists():
        return _private(path.read_bytes(), str(path))
    # The log's lines are MACed and its checkpoints signed under this key: a new one would carry
    # the log on under another key (the lines before no longer verify). Moved out of the data
    # directory, it is named by LINKAGE_AUDIT_KEY_FILE. ``database``: the PostgreSQL audit log's
    # URL, whose lines a second server without the first one's key would carry on.
    logged = [f for f in ("log.jsonl", "checkpoints.jsonl") if (home / "audit" / f).is_file()
              and (home / "audit" / f).stat().st_size and (f != "log.jsonl" or _keyed(home / "audit" / f))]
    if database:
        from linkage.audit.pg import holds_keyed_entries

        logged += ["in PostgreSQL"] if holds_keyed_entries(database) else []
    refuse_lost_key(path, f"the audit log ({', '.join(logged)}) was signed with it" if logged else None)
    path.parent.mkdir(parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    return _private(create_once(path, pem), str(path))                  # another server's, if it won


class Signer:
    """Signs checkpoints; derives the key that authenticates each log line."""

    def __init__(self, *, key: Ed25519PrivateKey | None = None, command: str | None = None,
                 public_key: Ed25519PublicKey | None = None, where: str = "", in_data_dir: bool = False) -> None:
        if key is None and not (command and public_key):
            raise ConfigError("an audit sign command needs audit_public_key_file")
        self._key, self._command = key, command
        self.public_key = key.public_key() if key is not None else public_key
        self.where, self.in_data_dir = where, in_data_dir
        # Ed25519 signatures are deterministic, so a signature over a fixed label is a
        # secret only the key holder can compute: it keys the per-line MAC, whatever signs.
        self.mac_key = hashlib.sha256(self.sign(_MAC_LABEL)).digest()

    def sign(self, message: bytes) -> bytes:
        if self._key is not None:
            return self._key.sign(message)
        try:
            done = subprocess.run(shlex.split(self._command), input=message, capture_output=True, timeout=30,
                                  check=True)
        except (OSError, subprocess.SubprocessError) as exc:
            raise ConfigError(f"audit sign command failed: {exc}") from None
        try:
            sig = done.stdout if len(done.stdout) == 64 else base64.b64decode(done.stdout.strip(), validate=True)
            self.public_key.verify(sig, message)
        except (InvalidSignature, ValueError):
            raise ConfigError("audit sign command's signature does not verify with audit_public_key_file") from None
        return sig

    def public_key_pem(self) -> str:
        return public_pem(self.public_key)

    @classmethod
    def default(cls, home: Path, database: str | None = None) -> Signer:
        return cls(key=_default_key(Path(home), database), where=str(Path(home) / "keys" / "audit_ed25519.pem"),
                   in_data_dir=True)


def signer_from_settings(home: Path, settings) -> Signer:
    """The signer the settings name; the on-first-run key in ``home/keys`` if none."""
    if settings.audit_sign_command:
        if not settings.audit_public_key_file:
            raise ConfigError("LINKAGE_AUDIT_SIGN_COMMAND needs LINKAGE_AUDIT_PUBLIC_KEY_FILE")
        pub = load_public_key(Path(settings.audit_public_key_file).read_bytes())
        return Signer(command=settings.audit_sign_command, public_key=pub, where="audit_sign_command")
    if settings.audit_key_pem is not None:
        return Signer(key=_private(settings.audit_key_pem.get_secret_value().encode(), "LINKAGE_AUDIT_KEY_PEM"),
                      where="LINKAGE_AUDIT_KEY_PEM")
    if settings.audit_key_file:
        path = Path(settings.audit_key_file)
        if not path.exists():
            raise ConfigError(f"audit_key_file {path} does not exist")
        inside = Path(home).resolve() in path.resolve().parents
        return Signer(key=_private(path.read_bytes(), str(path)), where=str(path), in_data_dir=inside)
    return Signer.default(Path(home), settings.audit_database())
