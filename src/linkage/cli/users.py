"""``linkage users``: the people who sign in to the web pages."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from linkage.cli.access import provider_issuer
from linkage.cli.common import DataDir, _fail, console, record_change
from linkage.config import data_dir, get_settings
from linkage.errors import LinkageError

_SUBJECT_HELP = ("Whom the council's identity provider knows them as (its sub): its tokens for them are known "
                 "by it, whatever else they claim. Recorded by itself at their first sign-in with the provider.")
_ISSUER_HELP = "The provider's issuer (default LINKAGE_EXTERNAL_ISSUER, else LINKAGE_OIDC_ISSUER)."

users_app = typer.Typer(no_args_is_help=True, help="Register the staff who sign in to the web pages (/app).")


def _users(home: Optional[Path]):
    from linkage.access.users import UserRegistry
    from linkage.store.state import ServiceState

    s = get_settings()
    return UserRegistry(ServiceState(data_dir(home)), lockout_after=s.lockout_after_failures,
                        lockout_seconds=s.lockout_seconds)


def _password(stdin: bool) -> str | None:
    if not stdin:
        return None
    if sys.stdin.isatty():
        return typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    return sys.stdin.readline().rstrip("\n")


@users_app.command("add")
def users_add(email: Annotated[str, typer.Option(help="Their work email: they sign in with it.")],
              name: Annotated[str, typer.Option(help="Their full name, as the audit log will show it.")],
              org: Annotated[str, typer.Option(help="Their registered organisation's org id or official code.")],
              role: Annotated[str, typer.Option(help="One of the organisation type's roles (policies/roles.yaml).")],
              password_stdin: Annotated[bool, typer.Option(
                  "--password-stdin", help="Read the password from stdin (or a prompt) instead of "
                                           "printing a one-time one.")] = False,
              idp_subject: Annotated[Optional[str], typer.Option(help=_SUBJECT_HELP)] = None,
              idp_issuer: Annotated[Optional[str], typer.Option(help=_ISSUER_HELP)] = None,
              data_dir_: DataDir = None) -> None:
    """Register a person. Prints a one-time password unless --password-stdin; only an argon2 hash is kept."""
    from linkage.access.subjects import issuer_name

    issuer = provider_issuer(idp_issuer) if idp_subject is not None else None
    users, given = _users(data_dir_), _password(password_stdin)
    try:
        with users.state.transaction():        # both or neither
            user, password = users.add(email, name, org, role, given)
            if issuer:
                user = users.set_subject(user.user_id, issuer, idp_subject.strip())
    except LinkageError as exc:
        _fail(exc)
    record_change(data_dir_, "admin.user_added", target=user.user_id, target_person=user.email, org_id=user.org.org_id,
                  agency=user.org.name, role=user.role,
                  **({"idp_issuer": issuer_name(issuer), "idp_subject": idp_subject.strip()} if issuer else {}))
    console.print(f"user_id: {user.user_id}  ({user.email}, {user.role} at {user.org.name})")
    if not password_stdin:
        console.print(f"password: {password}", markup=False)
        console.print("[yellow]The password is shown once; hand it over in person.[/]")


@users_app.command("list")
def users_list(data_dir_: DataDir = None) -> None:
    table = Table("user_id", "email", "name", "organisation", "role", "status", "identity provider's subject")
    now, users = time.time(), _users(data_dir_)
    for u in users.list():
        status = ("disabled" if u.disabled else "organisation disabled" if not u.org.active
                  else "locked out of new networks" if u.locked_until > now else "active")
        subjects = users.subjects(u.user_id)
        table.add_row(u.user_id, u.email, u.name, u.org.name, u.role, status,
                      "\n".join([f"{sub} ({iss})" for iss, sub in subjects.items()]
                                + [f"cleared, email match closed ({iss})" for iss in users.closed_matches(u.user_id)
                                   if iss not in subjects]))
    console.print(table)


@users_app.command("subject")
def users_subject(user: Annotated[str, typer.Argument(help="user id or email")],
                  idp_subject: Annotated[Optional[str], typer.Option(help=_SUBJECT_HELP)] = None,
                  idp_issuer: Annotated[Optional[str], typer.Option(help=_ISSUER_HELP)] = None,
                  clear: Annotated[bool, typer.Option("--clear", help="Forget it. Their email then names no one at "
                                                                      "the provider until a subject is recorded "
                                                                      "again, unless --allow-email-match.")] = False,
                  allow_email_match: Annotated[bool, typer.Option(
                      "--allow-email-match", help="With --clear: their next sign-in with the provider records its "
                                                  "subject, found by their (verified) email. Whoever signs in first "
                                                  "with that address becomes them.")] = False,
                  data_dir_: DataDir = None) -> None:
    """Record whom the identity provider knows this person as (before they first sign in with it, or
    for the API's issuer when it is not the staff sign-in's), or forget it."""
    from linkage.access.subjects import issuer_name

    if clear == (idp_subject is not None):
        _fail(LinkageError("give --idp-subject or --clear"))
    if allow_email_match and not clear:
        _fail(LinkageError("--allow-email-match goes with --clear"))
    issuer = issuer_name(provider_issuer(idp_issuer))
    try:
        done = _users(data_dir_).set_subject(user, issuer, None if clear else idp_subject.strip(),
                                             allow_email_match=allow_email_match)
    except LinkageError as exc:
        _fail(exc)
    subject = None if clear else idp_subject.strip()
    record_change(data_dir_, "admin.user_subject_set", target=done.user_id, target_person=done.email,
                  idp_issuer=issuer, idp_subject=subject,
                  **({"email_match": "open" if allow_email_match else "closed"} if clear else {}))
    said = repr(subject) if subject else (
        "no subject recorded; their next sign-in with the provider records one, found by their email"
        if allow_email_match else "no subject recorded; their email names no one there until one is recorded "
                                  "(--idp-subject, or --clear --allow-email-match)")
    console.print(f"{done.email} at {issuer}: {said}", markup=False)


def _set(ref: str, active: bool, home: Optional[Path]) -> None:
    try:
        user = _users(home).set_active(ref, active)
    except LinkageError as exc:
        _fail(exc)
    record_change(home, f"admin.user_{'enabled' if active else 'disabled'}", target=user.user_id, target_person=user.email)
    console.print(f"disabled {user.email}; they are signed out at once" if not active
                  else f"enabled {user.email}; they can sign in again", markup=False)


@users_app.command("disable")
def users_disable(user: Annotated[str, typer.Argument(help="user id or email")], data_dir_: DataDir = None) -> None:
    """Stop a person at once: their sessions end on their next click."""
    _set(user, False, data_dir_)


@users_app.command("enable")
def users_enable(user: Annotated[str, typer.Argument(help="user id or email")], data_dir_: DataDir = None) -> None:
    _set(user, True, data_dir_)


@users_app.command("password")
def users_password(user: Annotated[str, typer.Argument(help="user id or email")],
                   password_stdin: Annotated[bool, typer.Option("--password-stdin")] = False,
                   data_dir_: DataDir = None) -> None:
    """Set a new password (printed once unless --password-stdin); their sessions end."""
    try:
        password = _users(data_dir_).set_password(user, _password(password_stdin))
    except LinkageError as exc:
        _fail(exc)
    record_change(data_dir_, "admin.user_password_set", target=_users(data_dir_).find(user).user_id)
    if not password_stdin:
        console.print(f"password: {password}", markup=False)
