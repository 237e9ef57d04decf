"""What ``linkage serve`` checks before any worker starts, in a module that imports no more than
they need: the supervisor of several workers never serves, so it need not load the service's
views, Splink and pandas (about 0.6 CPU s of every multi-worker start) to read its keys."""

from __future__ import annotations

from pathlib import Path

from linkage.access.pseudonyms import Pseudonyms
from linkage.audit import open_audit_log
from linkage.audit.signer import signer_from_settings
from linkage.config import Settings
from linkage.store.sealed import Sealer
from linkage.store.snapshots import current_id, refuse_rollback
from linkage.store.state import ServiceState

__all__ = ["check_keys", "check_snapshot_order"]


def check_keys(home: Path, settings: Settings | None = None) -> None:
    """The service state's keys read (or made, for a new data directory) before a server starts:
    one that is missing while something made under it exists is refused in one line by the
    command, not raised inside each worker's start-up. With ``settings``, the audit log too: one
    written under another key than the one these settings give, or one that does not verify after
    its last checkpoint, is refused (``ChainedLog.refuse_damaged``)."""
    state = ServiceState(home)
    try:
        Sealer(home, state=state)
        Pseudonyms(home, state)
    finally:
        state.close()
    if settings is not None:
        audit = open_audit_log(home, signer=signer_from_settings(home, settings))
        try:
            audit.refuse_another_key()
            audit.refuse_damaged()
        finally:
            audit.close()


def check_snapshot_order(home: Path) -> None:
    """Before a server starts: the snapshot ``current`` names is not older than one a server of this
    deployment has served already (``refuse_rollback``), refused in one line by the command."""
    state = ServiceState(home)
    try:
        refuse_rollback(state, current_id(home))
    finally:
        state.close()
