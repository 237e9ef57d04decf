"""Why each withheld part of a record was withheld, asked of the policy rather than listed per role.

For every category the decision denied, the policy is asked again with one fact changed:
would a parent's or carer's consent have allowed it? Would another purpose? Break-glass?
The first change that would allow it is the reason; a refusal of consent on record is
said as such; and if nothing would, the category is not shared with the caller's role.
So a person reads why, in words, and the words cannot drift from the policy.
"""

from __future__ import annotations

from linkage.consent import ConsentState
from linkage.policy import Decision, PolicyEngine, Principal

__all__ = ["REASONS", "withheld_reasons"]

# Reason code -> what a person reads ("... because it ...").
REASONS = {
    "consent_refused": "a parent or carer has refused consent to share it with your organisation",
    "needs_consent": "it needs consent from a parent or carer, and none is recorded for your organisation",
    "other_purpose": "it is shared with your role only for another purpose",
    "break_glass": "it is shared with your role only in an emergency (break-glass), which is reviewed",
    "role": "it is not shared with your organisation's role",
}

_PURPOSES = ("admission", "safeguarding", "cme", "care")


def withheld_reasons(policy: PolicyEngine, who: Principal, purpose: str | None, decision: Decision,
                     consent: ConsentState) -> dict[str, str]:
    """Denied category -> reason code (a key of ``REASONS``)."""
    purpose = purpose or ""
    out: dict[str, str] = {}
    for cat in decision.denied:
        given = {**consent.permit, cat: True}
        refused = {k: v for k, v in consent.deny.items() if k != cat}
        if consent.deny.get(cat) and policy.decide(who, decision.action, purpose, [cat], given, refused).allowed:
            out[cat] = "consent_refused"
        elif policy.decide(who, decision.action, purpose, [cat], given, consent.deny).allowed:
            out[cat] = "needs_consent"
        elif any(policy.decide(who, decision.action, p, [cat], consent.permit, consent.deny).allowed
                 for p in _PURPOSES if p != purpose):
            out[cat] = "other_purpose"
        elif policy.decide(who, decision.action, purpose, [cat], consent.permit, consent.deny, True).allowed:
            out[cat] = "break_glass"
        else:
            out[cat] = "role"
    return out
