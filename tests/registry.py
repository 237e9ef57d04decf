"""One way for tests to register an organisation's client, whatever the registry's shape."""

from __future__ import annotations

from pathlib import Path

from linkage.access.clients import ClientRegistry
from linkage.store.state import ServiceState


def register(home: Path, name: str, agency_type: str, role: str, *, org: str | None = None,
             code: str | None = None):
    """Register (or reuse) organisation ``org`` of ``agency_type`` with official ``code``, and a
    client of it in ``role``. Returns ``(client, secret)``; ``client.client_id`` is the id."""
    return ClientRegistry(ServiceState(Path(home))).add(name, org or name, agency_type, role)
