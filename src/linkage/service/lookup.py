"""Find the child behind an incoming pupil's demographics, as NHS PDS does it.

A lookup names a child only on a confident, unambiguous match, and then says just
enough to confirm it: names, date of birth, postcode district, the pseudonym, the
probability and, in words, what agreed. Confident means all of:

- the match probability is at least ``match_threshold``;
- the runner-up's match weight is at least ``lookup_margin_bits`` below the best's
  (it is at least 2**bits times less likely), so no second child is near it;
- the evidence names this child: forename, surname and date of birth all agree (exactly
  or as a nickname, a typo, a swap), or the UPN or NHS number agrees exactly. A guessed
  surname on a known forename and birthday is not enough.

Otherwise the answer names nobody and asks for an identifier. Lookups are rate-limited
per client, and a confident one gives the caller's organisation a reason to open that
child's full record for ``relationship_days``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from linkage.errors import LinkageError
from linkage.link.lookup import Candidate, LookupQuery
from linkage.link.scoring import match_weight
from linkage.service.context import Ctx
from linkage.service.schemas import LookupMatch, LookupRequest, LookupResponse
from linkage.views.child import child_documents, demographics
from linkage.views.fields import Field, build, columns

__all__ = ["LOOKUP_FIELDS", "NO_SINGLE_MATCH", "NotReady", "best_match", "confident", "explain", "lookup",
           "match_weight"]

NO_SINGLE_MATCH = "no single match: add UPN, NHS number or postcode"
_NOBODY = ""     # the child id a miss reads consents for: no child has it

_NAMES = {"forename": "forename", "surname": "surname", "dob": "date of birth"}

# Each comparison level, in words, and which facts it confirms ("identifier" for a UPN or
# NHS number). A level a custom model adds falls back to "<comparison> agrees/differs".
_LEVELS: dict[tuple[str, str], tuple[str | None, frozenset[str]]] = {
    ("forename", "exact"): ("first name agrees", frozenset({"forename"})),
    ("forename", "nickname"): ("first name is a nickname", frozenset({"forename"})),
    ("forename", "forename and surname swapped"): ("first and last names swapped",
                                                  frozenset({"forename", "surname"})),
    ("forename", "swapped, with a typo"): ("first and last names swapped, with a typo",
                                          frozenset({"forename", "surname"})),
    ("forename", "jw >= 0.92"): ("first name spelt slightly differently", frozenset({"forename"})),
    ("forename", "one edit"): ("first name spelt slightly differently", frozenset({"forename"})),
    ("forename", "middle name used"): ("first name matches a middle name", frozenset({"forename"})),
    ("forename", "one name, in one word or two"): ("first name agrees, written as one word or two",
                                                  frozenset({"forename"})),
    ("forename", "sounds alike"): ("first name sounds the same, spelt differently", frozenset({"forename"})),
    ("forename", "same consonants (a name written in Arabic script)"): (
        "first name agrees in its consonants (a name written in Arabic script)", frozenset({"forename"})),
    ("forename", "different"): ("first name differs", frozenset()),
    ("household", "same surname, same postcode"): ("last name and postcode agree", frozenset({"surname"})),
    ("household", "same surname, same district"): ("last name agrees; postcode differs within its district",
                                                   frozenset({"surname"})),
    ("household", "same surname, elsewhere"): ("last name agrees; postcode differs", frozenset({"surname"})),
    ("household", "related surname, same postcode"): ("last name similar; postcode agrees",
                                                      frozenset({"surname"})),
    ("household", "same or related surname, postcode one edit"): (
        "last name agrees or is similar; postcode differs by one character", frozenset({"surname"})),
    ("household", "related surname"): ("last name similar", frozenset({"surname"})),
    ("household", "different surname, same postcode"): ("last name differs; postcode agrees", frozenset()),
    ("household", "different"): ("last name differs", frozenset()),
    ("dob", "exact"): ("date of birth agrees", frozenset({"dob"})),
    ("dob", "day and month transposed"): ("date of birth has day and month swapped", frozenset({"dob"})),
    ("dob", "one character"): ("date of birth differs by one digit", frozenset({"dob"})),
    ("dob", "within a month"): ("date of birth within a month", frozenset()),
    ("dob", "different"): ("date of birth differs", frozenset()),
    ("address", "postcode agrees: no extra evidence"): (None, frozenset()),
    ("address", "exact"): ("address agrees", frozenset()),
    ("address", "jw >= 0.9"): ("address similar", frozenset()),
    ("address", "different"): ("address differs", frozenset()),
    ("upn", "exact"): ("UPN agrees", frozenset({"identifier"})),
    ("upn", "former UPN"): ("former UPN agrees", frozenset({"identifier"})),
    ("upn", "one edit"): ("UPN differs by one character", frozenset()),
    ("upn", "different"): ("UPN differs", frozenset()),
    ("nhs_number", "exact"): ("NHS number agrees", frozenset({"identifier"})),
    ("nhs_number", "one edit"): ("NHS number differs by one character", frozenset()),
    ("nhs_number", "different"): ("NHS number differs", frozenset()),
    ("middle_name", "exact"): ("middle name agrees", frozenset()),
    ("middle_name", "jw >= 0.9"): ("middle name spelt slightly differently", frozenset()),
    ("middle_name", "different"): ("middle name differs", frozenset()),
    ("sex", "exact"): ("sex agrees", frozenset()),
    ("sex", "different"): ("sex differs", frozenset()),
}
_ORDER = ["forename", "middle_name", "household", "dob", "address", "upn", "nhs_number", "sex"]


class NotReady(LinkageError):
    """No linked population yet: HTTP 503."""


def _levels(c: Candidate) -> list[tuple[str, str, bool]]:
    levels = [(name, label, True) for name, label in c.agreed.items()]
    levels += [(name, label, False) for name, label in c.disagreed.items()]
    return sorted(levels, key=lambda x: (_ORDER.index(x[0]) if x[0] in _ORDER else len(_ORDER), x[0]))


def explain(c: Candidate) -> str:
    """What agreed and what differed, in words."""
    phrases = []
    for name, label, agreed in _levels(c):
        phrase = _LEVELS.get((name, label), (f"{name.replace('_', ' ')} {'agrees' if agreed else 'differs'}",))[0]
        if phrase and phrase not in phrases:
            phrases.append(phrase)
    return "; ".join(phrases) or "nothing compared"


def _confirms(c: Candidate) -> set[str]:
    return {fact for name, label in c.agreed.items() for fact in _LEVELS.get((name, label), (None, ()))[1]}


def confident(found: list[Candidate], threshold: float, margin_bits: float) -> Candidate | None:
    """The one child these candidates name, or None (see the module's rule)."""
    if not found or found[0].match_probability < threshold:
        return None
    best = found[0]
    if len(found) > 1 and match_weight(best.match_probability) - match_weight(found[1].match_probability) \
            < margin_bits:
        return None
    facts = _confirms(best)
    if "identifier" not in facts and not {"forename", "surname", "dob"} <= facts:
        return None
    return best


def best_match(services, query: LookupRequest) -> Candidate | None:
    """The one child ``query`` names by the module's rule, or None. Children further below the
    best than the margin cannot change that, so the search neither lists nor fully scores them."""
    if services.lookup is None:
        raise NotReady("no linked population yet: run `linkage link`")
    settings = services.settings
    found = services.lookup.search(LookupQuery(**query.model_dump()), limit=2, min_probability=0.0,
                                   within_bits=settings.lookup_margin_bits)
    return confident(found, settings.match_threshold, settings.lookup_margin_bits)


def _district(doc) -> str | None:
    """The outward code of the child's latest postcode (records come newest first)."""
    pc = next((r["postcode"] for r in doc["records"] if r["postcode"]), None)
    return pc.split()[0] if pc else None


@dataclass
class _Found:
    """What a lookup's answer is built from; the child's demographics worked out once, and
    only if a field that reads them is allowed."""

    doc: dict
    candidate: Candidate
    pseudonym: str

    @cached_property
    def demographics(self) -> dict:
        return demographics(self.doc)


# The answer's fields -> the category each comes from.
LOOKUP_FIELDS: dict[str, Field] = {
    "child_id": Field("identity.demographics", lambda s: s.pseudonym),
    "forename": Field("identity.demographics", lambda s: s.demographics["forename"], ("records",)),
    "surname": Field("identity.demographics", lambda s: s.demographics["surname"], ("records",)),
    "date_of_birth": Field("identity.demographics", lambda s: s.demographics["date_of_birth"], ("records",)),
    "match_probability": Field("identity.demographics", lambda s: s.candidate.match_probability),
    "reason": Field("identity.demographics", lambda s: explain(s.candidate)),
    "postcode_district": Field("identity.address", lambda s: _district(s.doc), ("records",)),
}


def lookup(*, ctx: Ctx, query: LookupRequest) -> LookupResponse:
    services = ctx.services
    services.lookup_limiter.check(ctx.caller.client_id)
    # Confirming a match needs the child's names: without them there is nothing to show.
    decision = ctx.authorise("lookup", ["identity.demographics", "identity.address"],
                             require=("identity.demographics",))
    best = best_match(services, query)
    # A withheld match and a miss give the same answer; they must not be told apart by the work done
    # either (the answer's timing): a miss reads the caller's consents too, for an id no child has.
    child_id = best.child_id if best is not None else _NOBODY
    hidden = services.consents.hides_identity(child_id, ctx.caller, ctx.purpose, former=services.former_ids(child_id),
                                              split_from=services.split_from(child_id))
    if best is not None and hidden:
        # A recorded refusal of identity data: the caller is told nothing, the DPO and the child's
        # subject access report are told the child was matched and withheld.
        ctx.record("lookup.withheld", "withheld", [best.child_id], [], decision.bases(), decision.policy_version,
                   outcome="no_single_match", reason="consent_refused")
        return LookupResponse(match=None, message=NO_SINGLE_MATCH, lawful_basis=decision.bases())
    if best is None:
        ctx.record("lookup", "allow", [], [], decision.bases(), decision.policy_version, outcome="no_single_match")
        return LookupResponse(match=None, message=NO_SINGLE_MATCH, lawful_basis=decision.bases())
    doc = child_documents(services.documents, [best.child_id], columns(LOOKUP_FIELDS, decision.allowed))
    doc = doc.get(best.child_id, {"records": []})
    body, shown = build(LOOKUP_FIELDS, _Found(doc, best, ctx.pseudonym(best.child_id)), decision.allowed)
    services.relationships.grant(ctx.org, [best.child_id], "lookup")
    ctx.record("lookup", "allow", [best.child_id], sorted(shown), [decision.allowed[c] for c in shown],
               decision.policy_version, outcome="match")
    body.setdefault("postcode_district", None)
    return LookupResponse(match=LookupMatch(**body), lawful_basis=sorted({decision.allowed[c] for c in shown}))
