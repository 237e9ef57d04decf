"""``linkage audit`` and ``linkage state``: the audit log checked, exported, sealed and witnessed; the
service state (and the log with it) moved to PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from linkage.cli.common import DataDir, Replace, _fail, _failures, audit_log, console, err
from linkage.config import data_dir, get_settings
from linkage.errors import LinkageError
from linkage.files import check_replaceable, write_private


audit_app = typer.Typer(no_args_is_help=True, help="Check and export the audit log.")


state_app = typer.Typer(no_args_is_help=True, help="The service state's database.")


@state_app.command("migrate")
def state_migrate(to: Annotated[str, typer.Option(help="The empty PostgreSQL database, postgresql://...")],
                  data_dir_: DataDir = None) -> None:
    """Copy this data directory's service state and audit log into an empty PostgreSQL, once,
    with the servers stopped; then set LINKAGE_STATE_URL to it."""
    from linkage.access.relationships import Relationships
    from linkage.access.users import UserRegistry
    from linkage.audit import AuditLog
    from linkage.consent.holds import create_holds
    from linkage.audit.pg import PostgresAuditLog
    from linkage.audit.signer import signer_from_settings
    from linkage.store.state import ServiceState, is_postgres_url
    from linkage.store.state.migrate import copy_state
    from linkage.store.state.sqlite import SQLiteState

    home, s = data_dir(data_dir_), get_settings()
    if not is_postgres_url(to):
        _fail(LinkageError("--to must be a postgresql:// URL"))
    try:
        source, target = SQLiteState(home, "sqlite:///" + str(home / "service.sqlite")), ServiceState(home, to)
        Relationships(source, s.relationship_days), Relationships(target, s.relationship_days)
        UserRegistry(source), UserRegistry(target)      # its tables beside the schema's (email_match_closed)
        create_holds(source), create_holds(target)      # the consent register's (consent_holds, its lifts)
        counts = copy_state(source, target)
        signer = signer_from_settings(home, s)
        old = AuditLog(home, s.audit_checkpoint_every, signer)
        new = PostgresAuditLog(home, s.audit_checkpoint_every, signer, url=to)
        entries = new.import_file(old)
        new.close()
    except LinkageError as exc:
        _fail(exc)
    console.print(", ".join(f"{n} {t}" for t, n in counts.items()) + f"; {entries} audit entries. "
                  "Set LINKAGE_STATE_URL to the database and start the servers.")


@audit_app.command("verify")
def audit_verify(checkpoint: Annotated[Optional[list[Path]], typer.Option(
                     help="Checkpoint files exported earlier, e.g. held by the DPO.")] = None,
                 witness: Annotated[Optional[Path], typer.Option(
                     help="A witness directory (`linkage audit witness --store DIR`): its checkpoints, "
                          "checked with its pinned key.")] = None,
                 data_dir_: DataDir = None) -> None:
    """Find any edited, deleted, inserted, reordered, truncated or forged entry, and say where."""
    from linkage.audit.signer import load_public_key
    from linkage.audit.witness import Witness

    try:
        log = audit_log(data_dir_)
        extra = []
        for path in checkpoint or []:
            extra.extend(json.loads(path.read_text())["checkpoints"])
        witnessed, pinned, problems = [], None, []
        if witness is not None:
            w = Witness(witness)
            if w.pinned() is None:
                _fail(LinkageError(f"{witness} is not a witness directory (no pinned.pem)"))
            pinned, witnessed = load_public_key(w.pinned()), w.checkpoints()
            if log.public_key_pem().strip() != w.pinned().strip():
                problems.append("the service's audit key is not the key the witness pinned (log re-signed?)")
        problems += [str(p) for p in log.verify(extra, witnessed, pinned)]
        head = log.head()
    except LinkageError as exc:
        _fail(exc)
    if problems:
        for p in problems:
            err.print(f"[bold red]TAMPERED[/] {p}")
        raise typer.Exit(1)
    console.print(f"audit log intact: {head} entries, {len(log.checkpoints()) + len(extra)} signed checkpoints "
                  f"verified" + (f", {len(witnessed)} witnessed" if witness else ""))
    if witness is not None:
        last = witnessed[-1]["seq"] if witnessed else 0
        if head > last:
            console.print(f"{head - last} entries after the last witnessed checkpoint (seq {last}) are not "
                          "witnessed yet: run `linkage audit witness`")


@audit_app.command("checkpoints")
def audit_checkpoints(out: Path,
                      since: Annotated[int, typer.Option(min=0, help="Leaf digests from this seq on.")] = 0,
                      force: Replace = False, data_dir_: DataDir = None) -> None:
    """Export the signed checkpoints, the public key and the entries' leaf digests (no personal data).
    Writes nothing to the log; `linkage audit seal` signs a new checkpoint."""
    from linkage.audit.witness import export

    try:
        data = export(audit_log(data_dir_), since)
    except LinkageError as exc:
        _fail(exc)
    text = json.dumps(data, indent=2)
    with _failures(data_dir_):
        if not force:
            check_replaceable(out, text[:text.index(":")], "checkpoints export")   # '{\n  "public_key_pem"'
        write_private(out, text)
    console.print(f"wrote {len(data['checkpoints'])} checkpoints to {out}")


@audit_app.command("seal")
def audit_seal(acknowledge: Annotated[bool, typer.Option(
                   help="Seal even over lines the service did not write (after reading `linkage audit "
                        "verify`), recording that in the log.")] = False,
               data_dir_: DataDir = None) -> None:
    """Sign a checkpoint over the log's head now."""
    try:
        cp = audit_log(data_dir_).checkpoint(acknowledge)
    except LinkageError as exc:
        _fail(exc)
    console.print(f"sealed: checkpoint at seq {cp['seq']}")


@audit_app.command("witness")
def audit_witness(store: Annotated[Path, typer.Option(help="The witness's own directory, off the server.")],
                  from_: Annotated[Optional[str], typer.Option(
                      "--from", help="A file from `linkage audit checkpoints`, or the service's URL "
                                     "(default: the data directory on this machine).")] = None,
                  token: Annotated[Optional[str], typer.Option(envvar="LINKAGE_WITNESS_TOKEN",
                                                               help="A DPO bearer token, for a URL.")] = None,
                  client_id: Annotated[Optional[str], typer.Option(envvar="LINKAGE_WITNESS_CLIENT_ID")] = None,
                  client_secret: Annotated[Optional[str], typer.Option(envvar="LINKAGE_WITNESS_CLIENT_SECRET",
                                                                       help="A DPO client, for a URL.")] = None,
                  max_unsealed: Annotated[float, typer.Option(
                      help="Fail if an entry has waited longer than this (seconds) for a checkpoint.")] = 120.0,
                  data_dir_: DataDir = None) -> None:
    """Keep the service's checkpoints; fail if the log was rewritten, truncated or re-signed since,
    or if sealing has stalled."""
    from linkage.audit.witness import FileSource, HttpSource, LocalSource, Witness

    try:
        if from_ and from_.startswith(("http://", "https://")):
            source = HttpSource(from_, lambda: token or _client_token(from_, client_id, client_secret))
        elif from_:
            source = FileSource(Path(from_))
        else:
            source = LocalSource(audit_log(data_dir_))
        outcome = Witness(store).observe(source, max_unsealed)
    except LinkageError as exc:
        err.print(f"[bold red]WITNESS FAILED[/] {exc}")
        raise typer.Exit(1)
    for note in outcome.notes:
        console.print(note)
    latest = outcome.latest["seq"] if outcome.latest else 0
    console.print(f"witnessed {len(outcome.accepted)} new checkpoints; latest seq {latest}, consistent with "
                  "everything witnessed before")
    if outcome.stalled:
        err.print(f"[bold red]WITNESS FAILED[/] {outcome.stalled}")
        raise typer.Exit(1)


def _client_token(url: str, client_id: Optional[str], secret: Optional[str]) -> str:
    import httpx

    if not (client_id and secret):
        raise LinkageError("a URL needs --token or a DPO client (--client-id, --client-secret)")
    r = httpx.post(url.rstrip("/") + "/oauth/token", data={"grant_type": "client_credentials"},
                   auth=(client_id, secret), timeout=30)
    if r.status_code != 200:
        raise LinkageError(f"token request refused: HTTP {r.status_code}")
    return r.json()["access_token"]

