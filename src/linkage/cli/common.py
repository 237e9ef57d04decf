"""Shared by every command module: the console, the one-line error, the settings and the store.

The helpers keep the names they had when every command was in one module (``_fail``, ``_store``), so a
command's body reads the same in whichever module it lives.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.text import Text

from linkage.cli.output import make_console
from linkage.config import data_dir, get_settings
from linkage.errors import LinkageError
from linkage.files import private_umask
from linkage.safetext import visible


class App(typer.Typer):
    """The command line; a failure no command caught (a damaged block met mid-query) is still one line."""

    def __call__(self, *args, **kwargs):
        try:
            with _failures():
                return super().__call__(*args, **kwargs)
        except typer.Exit as exc:         # raised outside click's own handling
            raise SystemExit(exc.exit_code) from None


console = make_console()          # terminal width, or unwrapped when piped
err = make_console(stderr=True)


def _private_files() -> None:
    """Link children's records across agencies into one pseudonymous identifier."""
    # Everything a command creates (data directory, exports, libraries' own files) is 0600/0700.
    private_umask()


DataDir = Annotated[Optional[Path], typer.Option("--data-dir", help="Data directory (default ./.linkage or $LINKAGE_HOME).")]
# An export replaces an earlier export of its kind at its path; anything else there only with this.
Replace = Annotated[bool, typer.Option("--force", help="Replace the file at that path even if it is not an "
                                                      "earlier export of this kind (e.g. an extract).")]


def _settings():
    """The settings, or a one-line ConfigError (e.g. LINKAGE_DB_KEY too short: ``get_settings``)."""
    return get_settings()


def _store(home: Optional[Path], create: bool = False):
    """The store; unless ``create`` (a command that stores data), a data directory without a
    database is refused rather than made, so a mistyped --data-dir or LINKAGE_HOME is said, not
    answered with an empty new database ("no linkage run yet") beside the real one."""
    from linkage.store import Store
    from linkage.store.db import DB_FILE

    s = _settings()
    if not create and not (data_dir(home) / DB_FILE).exists():
        raise LinkageError(f"there is no linkage database in {data_dir(home).resolve()}: check --data-dir or "
                           "LINKAGE_HOME (default ./.linkage); `linkage ingest` makes one")
    store = Store(data_dir(home), key=s.db_key.get_secret_value() if s.db_key else None,
                  memory_limit=s.memory_limit, threads=s.threads)
    if store.compacted:
        before, after = store.compacted
        err.print(f"the previous run did not finish; the database was compacted from {before:,} to {after:,} bytes")
    elif store.compact_failed:
        err.print(f"the previous run did not finish, and compacting the database failed: {store.compact_failed}",
                  markup=False, soft_wrap=True)
    return store


@contextmanager
def _reading(home: Optional[Path], create: bool = False):
    """The store, closed however the block ends."""
    store = _store(home, create)
    try:
        yield store
    finally:
        store.close()


def _fail(exc: Exception) -> None:
    # The message can carry what the user typed or a file held: shown as text, never as markup.
    err.print(Text.assemble(("error:", "bold red"), " ", visible(exc)))
    raise typer.Exit(2)


def audit_log(home: Optional[Path]):
    """The data directory's audit log, opened with the servers' checkpoint and signing settings."""
    from linkage.audit import open_audit_log
    from linkage.audit.signer import signer_from_settings

    home = data_dir(home)
    s = get_settings()
    return open_audit_log(home, s.audit_checkpoint_every, signer_from_settings(home, s))


def record_change(home: Optional[Path], action: str, **detail) -> None:
    """An administrator's change to the registers (``admin.*``), in the audit log: who may call the
    API or sign in is the DPO's business too, and the command line left no trace. Written after the
    change is made; never a secret or a password. ``operator``: the account that ran the command."""
    import getpass

    try:
        operator = getpass.getuser()
    except (KeyError, OSError):
        operator = "unknown"
    try:
        log = audit_log(home)
        try:
            log.refuse_another_key()        # run without the servers' key settings: say so, write nothing
            log.append({"request_id": "", "client_id": None, "action": action, "decision": "allow",
                        "channel": "cli", "operator": operator, "children": [], "fields": [], **detail})
        finally:
            log.close()
    except (LinkageError, OSError) as exc:
        _fail(LinkageError(f"the change was made but could not be recorded in the audit log: {exc}"))


@contextmanager
def _failures(home: Optional[Path] = None) -> Iterator[None]:
    """Every expected failure as one line and exit 2: ours, DuckDB's and the OS's (disk full)."""
    import duckdb

    from linkage.store.db import DB_FILE, failure_line

    try:
        yield
    except LinkageError as exc:
        _fail(exc)
    except (duckdb.Error, OSError) as exc:
        _fail(LinkageError(failure_line(exc, data_dir(home) / DB_FILE if home else None)))
    except Exception as exc:
        if not _interrupted(exc):
            raise
        # Ctrl-C inside a DuckDB query arrives as RuntimeError("Query interrupted") raised from the
        # KeyboardInterrupt (click says only "Aborted!" for the bare one): a traceback, before.
        err.print(Text.assemble(("stopped:", "bold red"), " Ctrl-C before the command finished; run it again"))
        raise typer.Exit(130) from None


def _interrupted(exc: BaseException | None) -> bool:
    """Whether ``exc`` is, or was raised from, an interruption (Ctrl-C)."""
    seen = 0
    while exc is not None and seen < 20:
        if isinstance(exc, KeyboardInterrupt):
            return True
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return False


def _publish(store, failed: str = "") -> str:
    """Publish the store as the snapshot servers serve; one line saying which."""
    from linkage.store.snapshots import publish

    s = get_settings()
    try:
        m = publish(store, s.snapshot_keep)
    except LinkageError as exc:
        raise LinkageError(f"{failed}publishing its snapshot failed: {exc}") from None
    when = (f"within {s.snapshot_poll_seconds:g} s" if s.snapshot_poll_seconds else "on SIGHUP")
    return (f"published snapshot {m.snapshot} (run {m.run_id}, {m.bytes:,} bytes); "
            f"running servers switch to it {when}")

