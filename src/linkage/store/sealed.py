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
from linkage.store.keys import load_or_create_key
from linkage.store.state import ServiceState

__all__ = ["Sealer"]

_PREFIX = "sealed:v1:"
# Where the service state keeps sealed text.
_SEALED = (("consents", "evidence_ref"), ("break_glass", "justification"), ("break_glass", "review_note"),
           ("review_decisions", "note"))


def _sealed_text(state: ServiceState) -> str | None:
    """What sealed text the state holds, in words; None when it holds none."""
    found = [table for table, column in _SEALED
             if state.scalar(f"SELECT count(*) FROM {table} WHERE {column} LIKE ?", (_PREFIX + "%",))]
    return f"the service state holds text sealed under it ({', '.join(dict.fromkeys(found))})" if found else None


class Sealer:
    def __init__(self, home: Path, purpose: str = "service state free text", *,
                 state: ServiceState | None = None) -> None:
        """``state``: the service state the sealed values are kept in; with it, a missing key is
        refused while the state holds text sealed under the lost one."""
        secret = load_or_create_key(Path(home), "state.key",
                                    made=(lambda: _sealed_text(state)) if state is not None else None).encode()
        key = HKDF(hashes.SHA256(), 32, salt=None, info=purpose.encode()).derive(secret)
        self._aead = AESGCM(key)

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
