"""The organisation register: who may have clients at all, of which type, under which official code.

Organisations are registered by the local authority, never typed by a client: the
type decides the closed list of roles (``policies/roles.yaml``) and the opaque
``org_id`` keys pseudonyms, so two organisations that share a display name share
nothing else.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timezone

from linkage.errors import Conflict, LinkageError, NotFound
from linkage.policy import roles as policy_roles
from linkage.store.state import ServiceState

__all__ = ["CODE_FORMATS", "OrgRegistry", "Organisation"]

# Official code per organisation type: (what it is, pattern it must match after upper-casing).
_URN = ("a school URN (6 digits)", re.compile(r"[1-9]\d{5}"))
_LA = ("a local-authority code (3 digits)", re.compile(r"\d{3}"))
_ODS = ("an NHS ODS code (3 to 6 letters and digits, at least one letter)",
        re.compile(r"(?=[A-Z0-9]*[A-Z])[A-Z0-9]{3,6}"))
CODE_FORMATS = {"ap_school": _URN, "school": _URN, "social_care": _LA, "la_education": _LA, "dpo": _LA,
                "health": _ODS}


@dataclass(frozen=True)
class Organisation:
    org_id: str
    name: str
    org_type: str
    code: str
    active: bool
    created_at: str


def _org(row) -> Organisation:
    return Organisation(row["org_id"], row["name"], row["org_type"], row["code"], bool(row["active"]),
                        row["created_at"])


class OrgRegistry:
    def __init__(self, state: ServiceState, roles: dict[str, tuple[str, ...]] | None = None) -> None:
        self.state = state
        self.roles = roles if roles is not None else policy_roles()

    def add(self, name: str, org_type: str, code: str) -> Organisation:
        name, code = " ".join(name.split()), code.strip().upper()
        if not name or len(name) > 200:
            raise LinkageError("an organisation needs a name of at most 200 characters")
        if org_type not in self.roles:
            raise LinkageError(f"organisation type must be one of: {', '.join(self.roles)}")
        if org_type not in CODE_FORMATS:
            raise LinkageError(f"no official code format is known for organisation type {org_type}")
        what, pattern = CODE_FORMATS[org_type]
        if not pattern.fullmatch(code):
            raise LinkageError(f"the code of a {org_type} organisation must be {what}, not {code!r}")
        if self.state.execute("SELECT 1 FROM organisations WHERE org_type = ? AND code = ?",
                              (org_type, code)).fetchone():
            raise Conflict(f"a {org_type} organisation with code {code} is already registered")
        # Names are what people read in the audit log: one name, one organisation.
        if self.by_name(name):
            raise Conflict(f"an organisation named {name!r} is already registered")
        org = Organisation("org_" + secrets.token_hex(8), name, org_type, code, True,
                           datetime.now(timezone.utc).isoformat())
        self.state.execute("INSERT INTO organisations VALUES (?, ?, ?, ?, 1, ?)",
                           (org.org_id, org.name, org.org_type, org.code, org.created_at))
        return org

    def get(self, org_id: str) -> Organisation | None:
        row = self.state.execute("SELECT * FROM organisations WHERE org_id = ?", (org_id,)).fetchone()
        return _org(row) if row else None

    def by_name(self, name: str) -> Organisation | None:
        row = self.state.execute("SELECT * FROM organisations WHERE lower(name) = lower(?)",
                                 (" ".join(name.split()),)).fetchone()
        return _org(row) if row else None

    def find(self, ref: str) -> Organisation:
        """By register id or official code; a code that several types share must be given as an id."""
        ref = ref.strip()
        if org := self.get(ref):
            return org
        rows = self.state.execute("SELECT * FROM organisations WHERE code = ?", (ref.upper(),)).fetchall()
        if not rows:
            raise NotFound(f"no organisation is registered with id or code {ref!r}")
        if len(rows) > 1:
            raise LinkageError(f"code {ref} belongs to several organisations: give the org id")
        return _org(rows[0])

    def identify(self, ref: str) -> tuple[str, str] | None:
        """(org id, type) of the organisation with this id or official code, or None."""
        try:
            org = self.find(ref)
        except LinkageError:
            return None
        return org.org_id, org.org_type

    def list(self) -> list[Organisation]:
        return [_org(r) for r in self.state.execute("SELECT * FROM organisations ORDER BY created_at")]

    def set_active(self, ref: str, active: bool) -> Organisation:
        org = self.find(ref)
        self.state.execute("UPDATE organisations SET active = ? WHERE org_id = ?", (int(active), org.org_id))
        return self.get(org.org_id)
