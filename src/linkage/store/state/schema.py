"""The service state's tables, in portable DDL, and the upgrades of older files.

It holds no names, dates of birth or addresses: only pseudonymous identifiers,
hashes of secrets, consent decisions, and clerical review decisions (record keys,
an append-only log; free-text notes sealed).
"""

from __future__ import annotations

from linkage.store.state.base import ServiceState
from linkage.store.version import STATE_VERSION, __version__, check_not_newer

__all__ = ["SCHEMA", "prepare"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS organisations (
  org_id TEXT PRIMARY KEY, name TEXT NOT NULL, org_type TEXT NOT NULL, code TEXT NOT NULL,
  active INTEGER NOT NULL DEFAULT 1, created_at TEXT NOT NULL, revoked_at REAL NOT NULL DEFAULT 0,
  UNIQUE (org_type, code));
CREATE TABLE IF NOT EXISTS clients (
  client_id TEXT PRIMARY KEY, name TEXT NOT NULL, org_id TEXT NOT NULL REFERENCES organisations (org_id),
  role TEXT NOT NULL, secret_hash TEXT NOT NULL, created_at TEXT NOT NULL, disabled INTEGER NOT NULL DEFAULT 0,
  generation INTEGER NOT NULL DEFAULT 0, failed_logins INTEGER NOT NULL DEFAULT 0,
  locked_until REAL NOT NULL DEFAULT 0, idp_issuer TEXT, idp_subject TEXT, revoked_at REAL NOT NULL DEFAULT 0);
CREATE UNIQUE INDEX IF NOT EXISTS clients_idp ON clients(idp_issuer, idp_subject);
CREATE TABLE IF NOT EXISTS users (
  user_id TEXT PRIMARY KEY, email TEXT NOT NULL UNIQUE, name TEXT NOT NULL,
  org_id TEXT NOT NULL REFERENCES organisations (org_id), role TEXT NOT NULL, password_hash TEXT,
  created_at TEXT NOT NULL, disabled INTEGER NOT NULL DEFAULT 0, generation INTEGER NOT NULL DEFAULT 0,
  failed_logins INTEGER NOT NULL DEFAULT 0, locked_until REAL NOT NULL DEFAULT 0,
  revoked_at REAL NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS user_subjects (
  idp_issuer TEXT NOT NULL, idp_subject TEXT NOT NULL, user_id TEXT NOT NULL REFERENCES users (user_id),
  recorded_at TEXT NOT NULL, PRIMARY KEY (idp_issuer, idp_subject), UNIQUE (user_id, idp_issuer));
CREATE TABLE IF NOT EXISTS consents (
  consent_id TEXT PRIMARY KEY, child_id TEXT NOT NULL, category TEXT NOT NULL,
  recipient_kind TEXT NOT NULL CHECK (recipient_kind IN ('organisation', 'type')), recipient TEXT NOT NULL,
  purpose TEXT NOT NULL, provision TEXT NOT NULL CHECK (provision IN ('permit', 'deny')),
  given_by TEXT NOT NULL, method TEXT NOT NULL, evidence_ref TEXT NOT NULL,
  given_on TEXT NOT NULL, expires_on TEXT,
  recorder_org TEXT NOT NULL, recorder_type TEXT NOT NULL, recorded_by TEXT NOT NULL, recorded_at TEXT NOT NULL,
  withdrawn_at TEXT, withdrawn_by TEXT);
CREATE INDEX IF NOT EXISTS consents_child ON consents(child_id);
CREATE TABLE IF NOT EXISTS break_glass (
  review_id TEXT PRIMARY KEY, request_id TEXT, client_id TEXT, child_id TEXT, justification TEXT,
  at TEXT, reviewed_by TEXT, reviewed_at TEXT, outcome TEXT, review_note TEXT);
CREATE TABLE IF NOT EXISTS pseudonyms (
  org_id TEXT NOT NULL, pseudonym TEXT NOT NULL, child_id TEXT NOT NULL, PRIMARY KEY (org_id, pseudonym));
CREATE TABLE IF NOT EXISTS review_decisions (
  decision_id INTEGER PRIMARY KEY AUTOINCREMENT, pair_id TEXT NOT NULL, record_key_l TEXT NOT NULL,
  record_key_r TEXT NOT NULL, content_sha_l TEXT, content_sha_r TEXT, decision TEXT NOT NULL, kind TEXT NOT NULL,
  child_id TEXT, match_probability REAL, match_weight REAL, reviewer TEXT NOT NULL, note TEXT NOT NULL,
  channel TEXT NOT NULL, client_id TEXT, decided_at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS review_decisions_pair ON review_decisions(pair_id);
"""

# Columns later versions added to tables an older one made: the identity provider's issuer and
# subject (OpenID Connect Core 5.7: together, the one stable name of a client there), by which its
# tokens are matched to a registered machine client (a person's are in ``user_subjects``, one per
# issuer, since the staff sign-in and the API may be told apart by their provider: ``access.users``).
_ADDED = {"clients": ("idp_issuer", "idp_subject")}
# ``revoked_at`` (epoch seconds): an identity provider's token issued before it is refused. Its tokens
# carry no generation of ours, so disabling (or enabling) an organisation, a client or a person, or
# moving a person's subject, organisation or role, sets it (``access.clients._provider_caller``).
_FLOORS = ("organisations", "clients", "users")

# Tables from before organisations were registered: their clients named their own agency and
# pseudonyms hung off that free text, so neither can be trusted. Kept, renamed, for the record.
_SUPERSEDED = {"clients": "agency", "pseudonyms": "agency"}


def _retire_unverified_consents(state: ServiceState) -> None:
    """Consents from before recipients were organisations are kept aside, never evaluated.

    That table keyed consent on the recipient's type and let anyone record it, so its
    permits cannot be trusted; it is renamed for a consent officer to re-record from.
    """
    cols = state.columns("consents")
    if "actor" in cols and "recipient_kind" not in cols:
        state.execute(state.dialect.rename_table("consents", "consents_unverified"))
        state.execute("DROP INDEX IF EXISTS consents_child")


# Which schema last wrote the state (``store.version``): one row, replaced by each upgrade.
STAMP = "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL, written_by TEXT NOT NULL)"


def _stamp(state: ServiceState) -> tuple[int, str] | None:
    if not state.columns("schema_version"):
        return None
    row = state.execute("SELECT version, written_by FROM schema_version ORDER BY version DESC LIMIT 1").fetchone()
    return (int(row[0]), str(row[1])) if row else None


def prepare(state: ServiceState) -> None:
    """Refuse state a newer linkage wrote; otherwise, in one transaction, set older tables aside,
    create whatever is missing and stamp it (nothing to do when the stamp is this version's)."""
    with state.transaction():
        state._lock_schema()
        found = _stamp(state)
        check_not_newer(f"the service state ({state.where()})", found, STATE_VERSION)
        if found is not None and found[0] == STATE_VERSION:
            return
        _retire_unverified_consents(state)
        for table, old_column in _SUPERSEDED.items():
            if old_column in state.columns(table):
                state.execute(state.dialect.rename_table(table, f"{table}_v0"))
        for table, names in _ADDED.items():
            if state.columns(table):            # made by an older version: before SCHEMA indexes them
                _add_columns(state, table, names)
        for table in _FLOORS:
            if state.columns(table) and "revoked_at" not in state.columns(table):
                state.execute(f"ALTER TABLE {table} ADD COLUMN revoked_at {state.dialect.real} NOT NULL DEFAULT 0")
        state.create(SCHEMA)
        _add_columns(state, "break_glass", ("outcome", "review_note"))
        state.append_only("review_decisions")
        state.create(STAMP)
        state.execute("DELETE FROM schema_version")
        state.execute("INSERT INTO schema_version (version, written_by) VALUES (?, ?)", (STATE_VERSION, __version__))


def _add_columns(state: ServiceState, table: str, names: tuple[str, ...]) -> None:
    """Text columns a table made by an older version lacks (the DPO's review outcome and note, the
    identity provider's subject)."""
    for name in names:
        if name not in state.columns(table):
            state.execute(f"ALTER TABLE {table} ADD COLUMN {name} TEXT")
