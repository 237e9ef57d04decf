"""Ask Cedar, per data category, whether a client may act for a purpose.

The policy set and schema are parsed once; every answer carries the lawful
bases of the permits that allowed it and the policy version (a hash of the
policy text), which go into the audit log.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import cedarpy
import yaml

from linkage.errors import ConfigError
from linkage.policy.roles import named_in_policies, roles
from linkage.resources import defaults_dir

__all__ = ["Decision", "PolicyEngine", "Principal", "default_policy_dir"]


def default_policy_dir() -> Path:
    return defaults_dir("policies")


@dataclass(frozen=True)
class Principal:
    """Who asks: a registered client of a registered organisation, in one of its type's roles."""

    client_id: str
    agency: str            # the organisation's display name
    agency_type: str       # the organisation's type
    role: str
    org_id: str = ""       # the organisation's register id: pseudonyms and consents hang off this
    org_code: str = ""     # its official code: school URN, ODS code or local-authority code


@dataclass
class Decision:
    action: str
    allowed: dict[str, str] = field(default_factory=dict)   # category -> lawful basis
    denied: list[str] = field(default_factory=list)
    policy_version: str = ""

    @property
    def any(self) -> bool:
        return bool(self.allowed)

    def bases(self) -> list[str]:
        return sorted(set(self.allowed.values()))


class PolicyEngine:
    def __init__(self, directory: Path | None = None) -> None:
        directory = Path(directory or default_policy_dir())
        texts = [p.read_text(encoding="utf-8") for p in sorted(directory.glob("*.cedar"))]
        if not texts:
            raise ConfigError(f"no .cedar policies in {directory}")
        text = "\n".join(texts)
        schema_text = (directory / "schema.cedarschema").read_text(encoding="utf-8")
        self.version = hashlib.sha256((text + schema_text).encode()).hexdigest()[:16]
        try:
            self._policies = cedarpy.PolicySet.from_str(text)
            self._schema = cedarpy.Schema.from_str(schema_text)
        except ValueError as exc:
            raise ConfigError(f"policies in {directory} do not parse: {exc}") from None
        validation = cedarpy.validate_policies(text, schema_text)
        if not validation.validation_passed:
            raise ConfigError(f"policies fail the schema: {[str(e) for e in validation.errors]}")
        as_json = cedarpy.policies_to_json_str(text)
        self.roles = roles(directory)
        types, named = named_in_policies(as_json)
        unknown = sorted(types - self.roles.keys()) + sorted(named - {r for rs in self.roles.values() for r in rs})
        if unknown:
            raise ConfigError(f"policies name organisation types or roles not in roles.yaml: {unknown}")
        parsed = json.loads(as_json)["staticPolicies"]
        self._basis = {pid: p.get("annotations", {}).get("lawful_basis", "") for pid, p in parsed.items()}
        self._basis.update({p["annotations"]["id"]: self._basis[pid] for pid, p in parsed.items()
                            if "id" in p.get("annotations", {})})
        self.categories: dict[str, dict] = yaml.safe_load((directory / "categories.yaml").read_text())
        groups = sorted({c["group"] for c in self.categories.values()})
        self._static_entities = (
            [{"uid": {"type": "CategoryGroup", "id": g}, "attrs": {}, "parents": []} for g in groups]
            + [{"uid": {"type": "Category", "id": cid}, "attrs": {"source": c["source"]},
                "parents": [{"type": "CategoryGroup", "id": c["group"]}]} for cid, c in self.categories.items()])

    def decide(self, principal: Principal, action: str, purpose: str,
               categories: list[str] | None = None, consent: dict[str, bool] | None = None,
               consent_denied: dict[str, bool] | None = None, break_glass: bool = False,
               context: dict[str, str | bool] | None = None) -> Decision:
        """One Cedar request per category, evaluated as a batch.

        ``context`` adds the facts an action's own context type declares (for the
        consent actions: the recipient's type, whether the caller is the recipient).

        A decision depends only on the request and the policy set parsed at start-up, so
        repeated requests (the same client asking about children with the same consent
        state) are answered from a cache.
        """
        categories = tuple(categories or self.categories)
        consent, consent_denied = consent or {}, consent_denied or {}
        allowed, denied = self._decide(principal, action, purpose, categories,
                                       tuple(bool(consent.get(c)) for c in categories),
                                       tuple(bool(consent_denied.get(c)) for c in categories), break_glass,
                                       tuple(sorted((context or {}).items())))
        return Decision(action, dict(allowed), list(denied), self.version)

    @functools.lru_cache(maxsize=8192)
    def _decide(self, principal: Principal, action: str, purpose: str, categories: tuple[str, ...],
                consent: tuple[bool, ...], consent_denied: tuple[bool, ...],
                break_glass: bool, extra: tuple[tuple[str, str | bool], ...] = (),
                ) -> tuple[tuple[tuple[str, str], ...], tuple[str, ...]]:
        entities = self._static_entities + [{
            "uid": {"type": "Client", "id": principal.client_id},
            "attrs": {"agency": principal.agency, "agency_type": principal.agency_type, "role": principal.role},
            "parents": []}]
        requests = [{
            "principal": {"type": "Client", "id": principal.client_id},
            "action": {"type": "Action", "id": action},
            "resource": {"type": "Category", "id": cat},
            "context": {"purpose": purpose, "consent": given, "consent_denied": refused,
                        "break_glass": break_glass, **dict(extra)},
        } for cat, given, refused in zip(categories, consent, consent_denied)]
        results = cedarpy.is_authorized_batch(requests, self._policies, entities, self._schema)
        allowed, denied = [], []
        for cat, res in zip(categories, results):
            if res.allowed:
                bases = sorted({self._basis.get(r, "") for r in res.diagnostics.reasons} - {""})
                allowed.append((cat, "; ".join(bases)))
            else:
                denied.append(cat)
        return tuple(allowed), tuple(denied)

    def fields_for(self, categories) -> set[str]:
        return {f for c in categories for f in self.categories[c]["fields"]}
