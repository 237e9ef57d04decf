"""``linkage consent holds`` and ``linkage consent lift``: the DPO's consent holds from the command line.

They call the running service as the DPO's API client (as ``audit witness`` does), never the state
directly: the sharing policy decides who may list and lift (the DPO under the purpose ``audit``;
never the held organisation), and the audit log names the DPO's client, as for the API and the page.
"""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from linkage.cli.audit import _client_token
from linkage.cli.common import _fail, console
from linkage.cli.output import Format, FormatOption, emit
from linkage.errors import LinkageError

consent_app = typer.Typer(no_args_is_help=True, help="The DPO's holds on organisations recording consent.")

Url = Annotated[str, typer.Option("--url", envvar="LINKAGE_URL", help="The service, e.g. https://linkage.example")]
Token = Annotated[Optional[str], typer.Option(envvar="LINKAGE_DPO_TOKEN", help="A DPO bearer token.")]
ClientId = Annotated[Optional[str], typer.Option(envvar="LINKAGE_DPO_CLIENT_ID", help="A DPO API client.")]
Secret = Annotated[Optional[str], typer.Option(envvar="LINKAGE_DPO_CLIENT_SECRET", help="Its secret.")]


def _call(method: str, url: str, path: str, token: Optional[str], client_id: Optional[str],
          secret: Optional[str], **kw):
    import httpx

    try:
        bearer = token or _client_token(url, client_id, secret)
        r = httpx.request(method, url.rstrip("/") + path, timeout=30, **kw,
                          headers={"Authorization": f"Bearer {bearer}", "X-Purpose": "audit"})
    except httpx.HTTPError as exc:
        raise LinkageError(f"the service at {url} did not answer: {type(exc).__name__}") from None
    if r.status_code >= 400:
        try:
            said = r.json().get("detail")
        except ValueError:
            said = None
        if isinstance(said, list):      # a field the service refused (422): its own words
            said = "; ".join(f"{'.'.join(map(str, d.get('loc', [])[1:]))}: {d.get('msg')}" for d in said
                             if isinstance(d, dict))
        raise LinkageError(f"HTTP {r.status_code}: {said if isinstance(said, str) and said else r.reason_phrase}")
    return r.json()


@consent_app.command("holds")
def holds(url: Url, token: Token = None, client_id: ClientId = None, client_secret: Secret = None,
          lifted: Annotated[bool, typer.Option(help="Also those lifted, with who, when and why.")] = True,
          fmt: FormatOption = Format.table) -> None:
    """Every organisation held from recording consent for a child, and (unless --no-lifted) each lifted."""
    try:
        rows = _call("GET", url, "/v1/audit/consent-holds", token, client_id, client_secret,
                     params={"lifted": str(lifted).lower()})
    except LinkageError as exc:
        _fail(exc)
    columns = ["status", "organisation_id", "organisation", "child_id", "also_held_for", "reason", "held_at",
               "lifted_at", "lifted_by", "note"]
    emit(columns, [[" ".join(h.get(k) or ()) if k == "also_held_for" else h.get(k) or "" for k in columns]
                   for h in rows], fmt, title="consent holds", console=console)


@consent_app.command("lift")
def lift(organisation: Annotated[str, typer.Argument(help="The held organisation's org id or official code.")],
         child_id: Annotated[str, typer.Argument(help="The child as `consent holds` lists it.")],
         note: Annotated[str, typer.Option(help="Why the hold is lifted (kept sealed; the DPO reads it).")],
         url: Url, token: Token = None, client_id: ClientId = None, client_secret: Secret = None) -> None:
    """Lift one organisation's hold for one child: it may record consent for the child again."""
    try:
        done = _call("POST", url, "/v1/audit/consent-holds/lift", token, client_id, client_secret,
                     json={"organisation": organisation, "child_id": child_id, "note": note})
    except LinkageError as exc:
        _fail(exc)
    console.print(f"lifted {done['organisation']}'s hold for {done['child_id']} ({done['lift_id']}); it may record "
                  "consent for the child again", markup=False)
