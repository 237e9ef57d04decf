"""The organisation register: who may have clients at all, of which type, under which official code.

Organisations are registered by the local authority, never typed by a client: the
type decides the closed list of roles (``policies/roles.yaml``) and the opaque
``org_id`` keys pseudonyms, so two organisations that share a display name share
nothing else.
"""

from __future__ import annotations

import re
import secrets
import time
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timezone

from anyascii import anyascii

from linkage.errors import Conflict, LinkageError, NotFound
from linkage.policy import roles as policy_roles
from linkage.store.state import ServiceState

__all__ = ["CODE_FORMATS", "OrgRegistry", "Organisation", "display_name", "name_skeleton"]

# Official code per organisation type: (what it is, pattern it must match after upper-casing).
_URN = ("a school URN (6 digits)", re.compile(r"[1-9]\d{5}"))
_LA = ("a local-authority code (3 digits)", re.compile(r"\d{3}"))
_ODS = ("an NHS ODS code (3 to 6 letters and digits, at least one letter)",
        re.compile(r"(?=[A-Z0-9]*[A-Z])[A-Z0-9]{3,6}"))
CODE_FORMATS = {"ap_school": _URN, "school": _URN, "social_care": _LA, "la_education": _LA, "dpo": _LA,
                "health": _ODS}
# Each type as a reader says it (the pages; the CLI and the API keep the codes).
TYPE_WORDS = {"ap_school": "AP school", "school": "School", "social_care": "Children's social care",
              "la_education": "Local authority education", "dpo": "Data protection", "health": "Health"}


# Characters a reader cannot see, or that reorder what they see: controls, format characters
# (bidi overrides and isolates, zero-width joiners and spaces, the BOM), private use, surrogates,
# line and paragraph separators. A name shown in the audit log and on the DPO's pages is text.
_HIDDEN = {"Cc", "Cf", "Co", "Cs", "Zl", "Zp"}


def display_name(value: str, what: str, *, strip: bool = False) -> str:
    """A name as people will read it (NFC, single spaces, at most 200 characters); one holding
    an invisible or text-direction character is refused (``strip``: those characters are dropped,
    for names an identity provider asserts)."""
    name = " ".join(unicodedata.normalize("NFC", value).split())
    hidden = [ch for ch in name if unicodedata.category(ch) in _HIDDEN]
    if hidden and strip:
        name = " ".join("".join(ch for ch in name if ch not in hidden).split())
    elif hidden:
        raise LinkageError(f"{what} may not hold invisible or text-direction characters "
                           f"({', '.join(sorted({f'U+{ord(ch):04X}' for ch in hidden}))})")
    if not name or len(name) > 200:
        raise LinkageError(f"{what} must be a name of at most 200 characters")
    return name


def name_skeleton(name: str) -> str:
    """What a reader takes a name to say: compatibility forms, accents, case, spacing and
    punctuation ignored, and look-alike letters of other scripts (Cyrillic О, Greek Ο) read as
    the Latin ones. Two names with one skeleton are one name to a person reading the log."""
    bare = "".join(ch for ch in unicodedata.normalize("NFKD", name) if not unicodedata.combining(ch))
    return "".join(ch for ch in anyascii(bare).casefold() if ch.isalnum())


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

    def check_role(self, org_type: str, role: str) -> None:
        """The one place roles are checked (clients, people, and the roles an identity provider asserts)."""
        allowed = self.roles.get(org_type, ())
        if role not in allowed:
            raise LinkageError(f"role {role!r} is not a role of {org_type} organisations; "
                               f"valid roles: {', '.join(allowed)}")

    def add(self, name: str, org_type: str, code: str) -> Organisation:
        name, code = display_name(name, "an organisation's name"), code.strip().upper()
        if org_type not in self.roles:
            raise LinkageError(f"organisation type must be one of: {', '.join(self.roles)}")
        if org_type not in CODE_FORMATS:
            raise LinkageError(f"no official code format is known for organisation type {org_type}")
        what, pattern = CODE_FORMATS[org_type]
        if not pattern.fullmatch(code):
            raise LinkageError(f"the code of an organisation of type {org_type} must be {what}, not {code!r}")
        if self.state.execute("SELECT 1 FROM organisations WHERE org_type = ? AND code = ?",
                              (org_type, code)).fetchone():
            raise Conflict(f"an organisation of type {org_type} with code {code} is already registered")
        # Names are what people read in the audit log: one name, one organisation, and no second
        # name that reads the same (another script's look-alike letters, full-width forms, case).
        skeleton = name_skeleton(name)
        if same := next((o for o in self.list() if name_skeleton(o.name) == skeleton), None):
            raise Conflict(f"an organisation named {same.name!r} is already registered; {name!r} reads the same")
        org = Organisation("org_" + secrets.token_hex(8), name, org_type, code, True,
                           datetime.now(timezone.utc).isoformat())
        self.state.execute("INSERT INTO organisations (org_id, name, org_type, code, active, created_at) "
                           "VALUES (?, ?, ?, ?, 1, ?)",
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
        """Disabling stops every client and person of the organisation at once (each request reads
        the organisation) and ends what they hold: enabling again does not revive a token issued, or
        a web session begun, before (an organisation is disabled when it may have been broken into),
        as disabling a client or a person does not. An identity provider's tokens carry no generation
        of ours: any issued before this change, either way, is refused (``revoked_at``; one issued
        while the organisation was disabled is no better than one from before)."""
        org = self.find(ref)
        with self.state.transaction():
            self.state.execute("UPDATE organisations SET active = ?, revoked_at = ? WHERE org_id = ?",
                               (int(active), time.time(), org.org_id))
            if not active:
                for table in ("clients", "users"):
                    self.state.execute(f"UPDATE {table} SET generation = generation + 1 WHERE org_id = ?",
                                       (org.org_id,))
        return self.get(org.org_id)
