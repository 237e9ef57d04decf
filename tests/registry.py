"""One way for tests to register an organisation's client, whatever the registry's shape."""

from __future__ import annotations

from pathlib import Path

from linkage.access.clients import ClientRegistry
from linkage.access.orgs import CODE_FORMATS
from linkage.store.state import ServiceState

# A plausible official code per organisation type: the n-th free one.
_DEFAULT_CODE = {"ap_school": lambda n: str(140000 + n), "school": lambda n: str(100000 + n),
                 "social_care": lambda n: str(800 + n), "la_education": lambda n: str(800 + n),
                 "dpo": lambda n: str(800 + n), "health": lambda n: f"R{n:02d}"}


def register(home: Path, name: str, agency_type: str, role: str, *, org: str | None = None,
             code: str | None = None):
    """Register (or reuse, by name) organisation ``org`` of ``agency_type`` with official ``code``, and a
    client of it called ``name`` in ``role``. Returns ``(client, secret)``; ``client.client_id`` is the id,
    ``client.org.org_id`` its organisation's."""
    clients = ClientRegistry(ServiceState(Path(home)))
    orgs, org_name = clients.orgs, org or name
    found = orgs.by_name(org_name)
    if found is None or found.org_type != agency_type:
        if code is None and agency_type in CODE_FORMATS:
            taken = {o.code for o in orgs.list() if o.org_type == agency_type}
            code = next(c for c in map(_DEFAULT_CODE[agency_type], range(1, 200)) if c not in taken)
        found = orgs.add(org_name, agency_type, code or "")
    return clients.add(name, found.org_id, role)
