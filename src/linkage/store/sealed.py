"""Free text sealed at rest in the service state (AES-256-GCM).

A break-glass justification is written by a social worker in a hurry and may
name the child or a parent; ``service.sqlite`` is otherwise pseudonymous, so
such text is stored sealed, bound to its row, under a key made on first run.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from linkage.errors import StoreError
from linkage.store.keys import load_or_create_key, secret_path
from linkage.store.state import ServiceState

__all__ = ["Sealer"]

_PREFIX = "sealed:v1:"
# Where the service state keeps sealed text.
_SEALED = (("consents", "evidence_ref"), ("break_glass", "justification"), ("break_glass", "review_note"),
           ("review_decisions", "note"), ("consent_hold_lifts", "note"))


def _sealed_text(state: ServiceState) -> str | None:
    """What sealed text the state holds, in words; None when it holds none."""
    found = [table for table, column in _SEALED if state.columns(table)      # (the holds' made on first use)
             and state.scalar(f"SELECT count(*) FROM {table} WHERE {column} LIKE ?", (_PREFIX + "%",))]
    return f"the service state holds text sealed under it ({', '.join(dict.fromkeys(found))})" if found else None


# Each sealed column, the key of its row, and the context its values were sealed with: one of
# each kind opened at start tells a swapped key (``Sealer._same_key_as_sealed``).
_SAMPLES = (("consents", "evidence_ref", "consent_id", lambda r: f"consent:{r[0]}:evidence_ref"),
            ("break_glass", "justification", "review_id", lambda r: r[0]),
            ("review_decisions", "note", "pair_id, decided_at", lambda r: f"review:{r[0]}:{r[1]}"),
            ("consent_hold_lifts", "note", "lift_id", lambda r: f"hold-lift:{r[0]}"))


class Sealer:
    def __init__(self, home: Path, purpose: str = "service state free text", *,
                 state: ServiceState | None = None) -> None:
        """``state``: the service state the sealed values are kept in; with it, a missing key is
        refused while the state holds text sealed under the lost one, and so is a key file swapped
        for another (``_same_key_as_sealed``)."""
        secret = load_or_create_key(Path(home), "state.key",
                                    made=(lambda: _sealed_text(state)) if state is not None else None).encode()
        key = HKDF(hashes.SHA256(), 32, salt=None, info=purpose.encode()).derive(secret)
        self._aead = AESGCM(key)
        if state is not None:
            self._same_key_as_sealed(Path(home), state)

    def _same_key_as_sealed(self, home: Path, state: ServiceState) -> None:
        """A whole key, but not the one the state's text was sealed with (a second server given keys
        of its own, a wrong backup): every consent's evidence, break-glass justification and review
        note would fail to open only when read, and new text would be sealed under a second key.
        A sealed value of each kind, opened at start, tells (one that opens is enough: a row altered
        by hand is not a wrong key); the file is left as it is."""
        tried = 0
        for table, column, keys, context in _SAMPLES:
            if not state.columns(table):        # (the holds' tables are made on first use)
                continue
            row = state.execute(f"SELECT {keys}, {column} FROM {table} WHERE {column} LIKE ? LIMIT 1",
                                (_PREFIX + "%",)).fetchone()
            if row is None:
                continue
            tried += 1
            try:
                self.open(row[column], context(row))
                return
            except (StoreError, ValueError):
                continue
        if tried:
            raise StoreError(f"{secret_path(home, 'state.key')} is not the key the service state's text was sealed "
                             "with (none of it opens): restore the key file from your backup (or copy it from the "
                             "first server: every server needs the same keys)")

    def seal(self, text: str, context: str) -> str:
        """``context`` (e.g. the row's id) is authenticated: a sealed value moved to another row fails."""
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, text.encode(), context.encode())
        return _PREFIX + base64.b64encode(nonce + sealed).decode()

    def open(self, value: str, context: str) -> str:
        if not value.startswith(_PREFIX):
            raise StoreError("value is not sealed")
        raw = base64.b64decode(value[len(_PREFIX):])
        try:
            return self._aead.decrypt(raw[:12], raw[12:], context.encode()).decode()
        except InvalidTag:
            raise StoreError("sealed value fails authentication (wrong key, or altered)") from None
