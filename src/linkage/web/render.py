"""Jinja with GOV.UK Frontend's macros, one ``render`` helper, and the pages' Content-Security-Policy.

The CSP allows scripts and styles from this service only. The one inline script,
GOV.UK Frontend's ``govuk-frontend-supported`` body class, is allowed by its hash,
read from the template itself so an upgrade cannot silently break it.
"""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path
from urllib.parse import urlsplit

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, PackageLoader, PrefixLoader, select_autoescape
from markupsafe import Markup

from linkage.access.orgs import TYPE_WORDS
from linkage.likelihood import percent
from linkage.outcomes.words import group, placement, setting
from linkage.web.charts import fitted

__all__ = ["AGENCY_WORDS", "NOTE_BOUND", "PREFIX", "agency", "count", "csp", "env", "group", "lowered", "placement",
           "render", "setting"]

PREFIX = "/app"
# A free-text note's bound as a form field: well above any note's own limit (1,000 or 2,000
# characters, checked by the page so that the note comes back with the reason), within the 64 KB
# body. At the field's own limit a long note pasted from an email was a bare "422" page, and lost.
NOTE_BOUND = 20_000
TEMPLATES = Path(__file__).parent / "templates"

env = Environment(
    loader=ChoiceLoader([FileSystemLoader(TEMPLATES),
                         PrefixLoader({"govuk_frontend_jinja": PackageLoader("govuk_frontend_jinja")})]),
    autoescape=select_autoescape(default=True, default_for_string=True), trim_blocks=True, lstrip_blocks=True)


def bdi(value) -> Markup:
    """Text from the data (a name, an address, a note) isolated from the text around it: a
    right-to-left name beside a date or another name cannot reorder what is read (``<bdi>``)."""
    if value is None or value == "":
        return Markup("")
    return Markup("<bdi>%s</bdi>") % value


env.filters["bdi"] = bdi
env.filters["percent"] = percent


def count(value):
    """A whole number as a reader reads it, with a comma every three digits (15,361 children; GOV.UK
    style); anything else (a rate, a suppressed figure, a list of them) as it is, a list joined by
    " / " as the outcomes tables and CSVs write it."""
    if isinstance(value, list):
        return " / ".join(str(count(v)) for v in value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"{value:,}"        # below 1,000 as str() writes it: 7, 12.5
    return "" if value is None else value


def lowered(text):
    """Words from a label put in the middle of a sentence: lower case, except an initialism
    (AP, GP, CME, EHC keep their capitals: "measuring AP outcomes", not "measuring ap outcomes")."""
    if not text:
        return text
    return " ".join(w if sum(c.isupper() for c in w) >= 2 else w.lower() for w in str(text).split(" "))


def org_type(code):
    """An organisation type code as a reader says it ("AP school"); an unknown code as it is."""
    return TYPE_WORDS.get(code, code) if code else code


# Each source of records as a reader says it (the child's record, the review page's "Agency" row).
AGENCY_WORDS = {"education": "School", "social_care": "Children's social care", "health": "Health"}


def agency(code):
    """A source's code as a reader says it ("Children's social care"); an unknown code as it is."""
    return AGENCY_WORDS.get(code, code) if code else code


env.filters["count"] = count
env.filters["setting"] = setting
env.filters["org_type"] = org_type
env.filters["agency"] = agency
env.filters["placement"] = placement
env.filters["lowered"] = lowered
env.filters["fitted"] = fitted


def _inline_script_hashes() -> list[str]:
    source = env.loader.get_source(env, "govuk_frontend_jinja/template.html")[0]
    scripts = re.findall(r"<script[^>]*>(.*?)</script>", source, re.S)
    if not scripts:
        raise RuntimeError("GOV.UK template has no inline script: check the CSP")
    return ["'sha256-" + base64.b64encode(hashlib.sha256(s.encode()).digest()).decode() + "'" for s in scripts]


def csp(form_targets: tuple[str, ...] = ()) -> str:
    """The pages' policy; ``form_targets``: where forms may also post (the identity provider)."""
    return "; ".join([
        "default-src 'none'", f"script-src 'self' {' '.join(_HASHES)}", "style-src 'self'", "img-src 'self'",
        "font-src 'self'", "connect-src 'self'", "manifest-src 'self'",
        "form-action 'self'" + "".join(f" {t}" for t in form_targets),
        "frame-ancestors 'none'", "base-uri 'none'"])


_HASHES = _inline_script_hashes()


def render(request: Request, template: str, status_code: int = 200, **context) -> HTMLResponse:
    """One page. Templates get ``staff`` (the signed-in person, or None), ``csrf_token`` and ``prefix``."""
    state = request.state
    context = {"staff": getattr(state, "staff", None), "csrf_token": getattr(state, "csrf", ""),
               "prefix": PREFIX, "request_id": getattr(state, "request_id", ""), **context}
    issuer = request.app.state.settings.oidc_issuer
    origin = "{0.scheme}://{0.netloc}".format(urlsplit(issuer)) if issuer else None
    return HTMLResponse(env.get_template(template).render(**context), status_code, headers={
        "content-security-policy": csp((origin,) if origin else ()), "x-frame-options": "DENY",
        "referrer-policy": "no-referrer", "cross-origin-opener-policy": "same-origin"})
