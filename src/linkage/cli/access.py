"""``linkage orgs`` and ``linkage clients``: who may hold API clients, and the clients."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from linkage.cli.common import DataDir, _fail, console, err, record_change
from linkage.cli.output import Format, FormatOption, emit
from linkage.config import data_dir, get_settings
from linkage.errors import LinkageError


orgs_app = typer.Typer(no_args_is_help=True, help="Register the organisations that may have API clients.")


clients_app = typer.Typer(no_args_is_help=True, help="Register each organisation's API clients.")


def _registers(home: Optional[Path]):
    from linkage.access.clients import ClientRegistry
    from linkage.store.state import ServiceState

    clients = ClientRegistry(ServiceState(data_dir(home)))
    return clients.orgs, clients


@orgs_app.command("add")
def orgs_add(name: Annotated[str, typer.Option(help="Display name, e.g. Oak AP Academy.")],
             type_: Annotated[str, typer.Option("--type", help="ap_school | school | social_care | health | "
                                                              "la_education | dpo (policies/roles.yaml)")],
             code: Annotated[str, typer.Option(help="School URN (6 digits), NHS ODS code, or local-authority "
                                                    "code (3 digits).")],
             data_dir_: DataDir = None) -> None:
    """Register an organisation; its clients take their type and roles from it."""
    try:
        org = _registers(data_dir_)[0].add(name, type_, code)
    except LinkageError as exc:
        _fail(exc)
    record_change(data_dir_, "admin.org_added", org_id=org.org_id, org_type=org.org_type, agency=org.name)
    console.print(f"org_id: {org.org_id}  ({org.org_type} {org.code}, {org.name})")


@orgs_app.command("list")
def orgs_list(fmt: FormatOption = Format.table, data_dir_: DataDir = None) -> None:
    """Every registered organisation with its type, official code and status."""
    rows = [[o.org_id, o.name, o.org_type, o.code, "active" if o.active else "disabled"]
            for o in _registers(data_dir_)[0].list()]
    emit(["org_id", "name", "type", "code", "status"], rows, fmt, title="organisations", console=console)


def _set_org(ref: str, active: bool, home: Optional[Path]) -> None:
    try:
        org = _registers(home)[0].set_active(ref, active)
    except LinkageError as exc:
        _fail(exc)
    record_change(home, f"admin.org_{'enabled' if active else 'disabled'}", org_id=org.org_id, agency=org.name)
    said = ("its clients and people may sign in again (tokens and sessions from before stay ended)" if active
            else "its clients' tokens and its people's sessions end at once")
    console.print(f"{'enabled' if active else 'disabled'} {org.name} ({org.org_id}); {said}")


@orgs_app.command("disable")
def orgs_disable(org: Annotated[str, typer.Argument(help="org id or official code")],
                 data_dir_: DataDir = None) -> None:
    """Stop every client of an organisation, at once."""
    _set_org(org, False, data_dir_)


@orgs_app.command("enable")
def orgs_enable(org: Annotated[str, typer.Argument(help="org id or official code")],
                data_dir_: DataDir = None) -> None:
    _set_org(org, True, data_dir_)


def _print_secret(client_id: str, secret: str) -> None:
    console.print(f"client_id: {client_id}")
    console.print(f"client_secret: {secret}")
    console.print("[yellow]The secret is shown once and cannot be recovered; store it now.[/]")


def provider_issuer(given: Optional[str]) -> str:
    """The identity provider a subject is at: ``given``, else the API's (``LINKAGE_EXTERNAL_ISSUER``),
    else the staff sign-in's (``LINKAGE_OIDC_ISSUER``). A given issuer that is neither is said: a
    subject recorded at a misspelt one names no one, and the person's address stays open to whoever
    claims it first at the real one (``access.users.provider_sign_in``)."""
    from linkage.access.subjects import issuer_name

    s = get_settings()
    issuer = given or s.external_issuer or s.oidc_issuer
    if not issuer:
        _fail(LinkageError("no identity provider is configured: give --idp-issuer, or set LINKAGE_EXTERNAL_ISSUER"))
    trusted = {issuer_name(i) for i in (s.external_issuer, s.oidc_issuer) if i}
    if trusted and issuer_name(issuer) not in trusted:
        err.print(f"warning: {issuer_name(issuer)!r} is neither LINKAGE_EXTERNAL_ISSUER nor LINKAGE_OIDC_ISSUER "
                  f"({', '.join(sorted(trusted))}): no token from it is trusted here, so the subject recorded "
                  "names no one until it is (issuers are compared exactly, but for a trailing slash)",
                  markup=False, highlight=False)
    return issuer


@clients_app.command("add")
def clients_add(name: Annotated[str, typer.Option()],
                org: Annotated[str, typer.Option(help="The registered organisation's org id or official code.")],
                role: Annotated[str, typer.Option(help="One of the organisation type's roles "
                                                       "(policies/roles.yaml).")],
                idp_subject: Annotated[Optional[str], typer.Option(
                    help="A machine client of the identity provider: the subject (sub) its client credentials "
                         "tokens carry. It gets no secret here; its tokens must name this organisation and role.")
                ] = None,
                idp_issuer: Annotated[Optional[str], typer.Option(
                    help="The provider's issuer (default LINKAGE_EXTERNAL_ISSUER).")] = None,
                data_dir_: DataDir = None) -> None:
    """Register a client of an organisation and print its secret, once. Only a hash of the secret is kept.
    With --idp-subject, a machine client of the council's identity provider instead (no secret)."""
    issuer = provider_issuer(idp_issuer) if idp_subject is not None else None
    try:
        client, secret = _registers(data_dir_)[1].add(name, org, role, idp_issuer=issuer,
                                                           idp_subject=idp_subject.strip() if issuer else None)
    except LinkageError as exc:
        _fail(exc)
    record_change(data_dir_, "admin.client_added", target=client.client_id, org_id=client.org.org_id,
                  agency=client.agency, role=client.role,
                  **({"idp_issuer": client.idp_issuer, "idp_subject": client.idp_subject} if issuer else {}))
    if issuer:
        console.print(f"client_id: {client.client_id}  (the identity provider's {client.idp_subject!r} at "
                      f"{client.idp_issuer}; no secret here)", markup=False)
    else:
        _print_secret(client.client_id, secret)


@clients_app.command("list")
def clients_list(fmt: FormatOption = Format.table, data_dir_: DataDir = None) -> None:
    """Every client with its organisation, role and whether it may sign in now."""
    import time

    now = time.time()
    rows = [[c.client_id, c.name, c.agency, c.agency_type, c.role,
             "disabled" if c.disabled else "organisation disabled" if not c.org.active
             else "locked out of new networks" if c.locked_until > now else "active", c.idp_subject or ""]
            for c in _registers(data_dir_)[1].list()]
    emit(["client_id", "name", "organisation", "type", "role", "status", "idp_subject"], rows, fmt, title="clients",
         console=console)


@clients_app.command("rotate")
def clients_rotate(client_id: str, data_dir_: DataDir = None) -> None:
    """A new secret, printed once; the old secret and its tokens stop working at once."""
    try:
        secret = _registers(data_dir_)[1].rotate(client_id)
    except LinkageError as exc:
        _fail(exc)
    record_change(data_dir_, "admin.client_rotated", target=client_id)
    _print_secret(client_id, secret)


def _set_client(client_id: str, active: bool, home: Optional[Path]) -> None:
    try:
        _registers(home)[1].set_active(client_id, active)
    except LinkageError as exc:
        _fail(exc)
    record_change(home, f"admin.client_{'enabled' if active else 'disabled'}", target=client_id)
    console.print(f"disabled {client_id}; its tokens stop working at once" if not active
                  else f"enabled {client_id}; it needs a new token")


@clients_app.command("disable")
def clients_disable(client_id: str, data_dir_: DataDir = None) -> None:
    _set_client(client_id, False, data_dir_)


@clients_app.command("enable")
def clients_enable(client_id: str, data_dir_: DataDir = None) -> None:
    _set_client(client_id, True, data_dir_)

