"""An identity provider's token issued before a disable, an enable or a change of subject is refused.

Our own tokens carry the client's generation, which disabling moves on: a token from before stays
dead when the client or its organisation is enabled again. A provider's tokens carry no generation
of ours, so one taken before an organisation was disabled (for a suspected break-in, say) worked
again the moment it was enabled, and one of a person whose subject was moved away and back, or who
was disabled and enabled, likewise, until it expired. The register now keeps ``revoked_at`` for
each organisation, client and person, and a provider's token whose ``iat`` is before it is refused
(401, reason ``token_before_revocation`` for the DPO)."""

from __future__ import annotations

import time

import pytest

from linkage.access.clients import ClientRegistry
from linkage.access.tokens import AuthError, TokenClaims
from linkage.access.users import UserRegistry
from linkage.store.state import ServiceState

ISSUER = "https://idp.example.gov.uk"


def _claims(subject: str, org: str, role: str, issued_at: float) -> TokenClaims:
    return TokenClaims(subject, org, ISSUER, "j1", True, role, subject=subject, issued_at=issued_at)


@pytest.fixture()
def registers(tmp_path):
    state = ServiceState(tmp_path)
    clients = ClientRegistry(state)
    clients.orgs.add("Northshire Children's Services", "social_care", "873")
    clients.add("Case system", "873", "social_worker", idp_issuer=ISSUER, idp_subject="case-1")
    users = UserRegistry(state, clients.orgs)
    users.add("sam@northshire.example", "Sam Shah", "873", "social_worker")
    users.set_subject("sam@northshire.example", ISSUER, "sam-1")
    yield clients, users
    state.close()


def _refused(clients: ClientRegistry, claims: TokenClaims) -> str | None:
    try:
        clients.caller(claims)
    except AuthError as exc:
        return exc.reason or str(exc)
    return None


@pytest.mark.parametrize("subject", ["case-1", "sam-1"])
def test_a_provider_token_from_before_an_organisations_disable_is_refused_after_its_enable(registers, subject):
    clients, _ = registers
    before = _claims(subject, "873", "social_worker", time.time() - 60)
    assert _refused(clients, before) is None
    clients.orgs.set_active("873", False)
    assert _refused(clients, before) is not None
    clients.orgs.set_active("873", True)
    assert _refused(clients, before) == "token_before_revocation"
    assert _refused(clients, _claims(subject, "873", "social_worker", time.time() + 1)) is None   # a new one


def test_a_provider_token_from_before_a_clients_or_persons_disable_is_refused_after_the_enable(registers):
    clients, users = registers
    feed = next(c for c in clients.list() if c.idp_subject == "case-1")
    old_feed, old_sam = (_claims(s, "873", "social_worker", time.time() - 60) for s in ("case-1", "sam-1"))
    clients.set_active(feed.client_id, False)
    clients.set_active(feed.client_id, True)
    users.set_active("sam@northshire.example", False)
    users.set_active("sam@northshire.example", True)
    assert (_refused(clients, old_feed), _refused(clients, old_sam)) == ("token_before_revocation",) * 2
    assert _refused(clients, _claims("sam-1", "873", "social_worker", time.time() + 1)) is None


def test_a_provider_token_from_before_a_persons_subject_moved_away_and_back_is_refused(registers):
    """A subject recorded wrongly (another person's) and put right: the tokens issued to it before
    are not the person's to use."""
    clients, users = registers
    old = _claims("sam-1", "873", "social_worker", time.time() - 60)
    users.set_subject("sam@northshire.example", ISSUER, "sam-2")
    users.set_subject("sam@northshire.example", ISSUER, "sam-1")
    assert _refused(clients, old) == "token_before_revocation"
    assert _refused(clients, _claims("sam-1", "873", "social_worker", time.time() + 1)) is None
