"""The token endpoint's flow: throttle, authenticate against the register, audit failures, issue.

Every failed authentication and every lock-out is a server log line and a
``security.*`` audit entry (client id as claimed, the caller's network prefix,
never the secret), so a guessing attack is visible to the DPO as well as to ops.
"""

from __future__ import annotations

import ipaddress
import logging

from linkage.access.clients import Login
from linkage.errors import LinkageError, TooManyRequests
from linkage.policy import Principal
from linkage.service.container import Services
from linkage.service.context import Ctx
from linkage.service.schemas import TokenResponse

__all__ = ["InvalidClient", "issue_token", "network"]

log = logging.getLogger("linkage.security")


class InvalidClient(LinkageError):
    """Unknown client, wrong secret, or a disabled client or organisation: one answer for all (401)."""


def network(address: str) -> str:
    """The caller's network, not its address: a /24 (IPv4) or /48 (IPv6) prefix."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return "unknown"
    return str(ipaddress.ip_network(f"{ip}/{24 if ip.version == 4 else 48}", strict=False))


def _security(services: Services, action: str, client_id: str, address: str, request_id: str, **extra) -> None:
    known = services.clients.get(client_id)
    if known is None:
        # An unregistered id is only a claim: recorded as such, never as the actor, so a guess
        # typed as "user:<staff id>" cannot put a member of staff into a child's access report.
        caller, extra = Principal("", "", "", ""), {"claimed_client": client_id, **extra}
    else:
        caller = known.principal()
    where = network(address)
    log.warning("%s client_id=%r from=%s %s", action, client_id, where,
                " ".join(f"{k}={v!r}" for k, v in extra.items()))
    # "refused", as every security event is: the DPO finds them all under one decision.
    Ctx(services, caller, None, request_id).record(action, "refused", remote=where, **extra)


def issue_token(*, services: Services, client_id: str, secret: str, address: str,
                request_id: str) -> TokenResponse:
    """A token for a client that proves its secret; 429 past the limits or while locked out."""
    by_client, by_address = services.token_limits
    where = network(address)
    by_address.check(address)
    # Per client id from this network: a stranger filling the bucket must not throttle the holder.
    by_client.check(f"{client_id} {where}")
    login: Login = services.clients.authenticate(client_id, secret, network=where)
    if login.client is not None:
        c = login.client
        token, ttl = services.tokens.issue(c.client_id, c.org.org_id, c.generation)
        return TokenResponse(access_token=token, expires_in=ttl)
    _security(services, "security.auth_failed", client_id, address, request_id, reason=login.outcome)
    for scope, seconds in zip(login.locks, login.lock_seconds):
        # "network": this network is locked out of the client; "everywhere": every network that
        # never obtained a token for it is (access/lockout.py). Each run in a row locks for longer.
        _security(services, "security.lockout", client_id, address, request_id, scope=scope,
                  failures=services.clients.lockout_after, seconds=seconds)
    if login.outcome == "locked" or login.locked_now:
        refused = TooManyRequests("this client is locked out after repeated wrong secrets", login.retry_after)
        refused.audited = True          # the security event above is the refusal's entry
        raise refused
    raise InvalidClient("unknown client or wrong secret")
