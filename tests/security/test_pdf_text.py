"""Text that matplotlib would read as TeX, in the DPO's subject access PDF, against a real server.

The PDF is drawn with matplotlib, which typesets anything between two ``$`` as mathematics. An
email address may hold ``$`` and ``\\`` (``[^@\\s]`` before the ``@``; an identity provider can
assert one): a member of staff whose email was ``$\\x$@oak.example`` made the subject access PDF of
every child they looked up fail (a 500 for the DPO), and one whose email held ``$\\phantom{...}$``
was invisible in it. Figure text is now never read as mathematics.
"""

from __future__ import annotations

import io

import httpx
import pytest
from pypdf import PdfReader

from apiserver import Server, linked_home
from browserpages import ENV, PASSWORD, add_user, csrf_token
from conftest import EXTRACT_DATE

pytestmark = pytest.mark.e2e

DPO = "dee@northshire.example"
ODD = ["$\\x$@oak.example", "$\\phantom{amy}$@oak.example", "amy$^$@oak.example"]


def _signed_in(url: str, email: str) -> httpx.Client:
    c = httpx.Client(base_url=url)
    r = c.post("/app/sign-in", data={"email": email, "password": PASSWORD, "csrf_token": csrf_token(c.get("/app/sign-in").text)})
    assert r.status_code == 303, r.text
    return c


def test_a_name_holding_tex_is_printed_as_written_in_the_subject_access_pdf(tmp_path_factory, synth_month1):
    home = tmp_path_factory.mktemp("pdf_text") / "data"
    (_, (forename, surname, dob, postcode)), = linked_home(home, synth_month1, EXTRACT_DATE, children=1)
    for email in ODD:
        add_user(home, email, "Amy Adeyemi", "Oak AP Academy", "ap_school", "140001", "admissions")
    add_user(home, DPO, "Dee Okafor", "Northshire Council", "dpo", "801", "dpo")
    server = Server(home, env=ENV)
    dob_fields = {"dob-day": str(dob.day), "dob-month": str(dob.month), "dob-year": str(dob.year)}
    try:
        for email in ODD:
            c = _signed_in(server.url, email)
            form = c.get("/app/lookup").text
            r = c.post("/app/lookup", data={"forename": forename, "surname": surname, "postcode": postcode,
                                            **dob_fields, "purpose": "admission", "csrf_token": csrf_token(form)})
            assert r.status_code == 200 and "no single match" not in r.text.lower(), r.text[:500]
        c = _signed_in(server.url, DPO)
        form = c.get("/app/dpo/subject").text
        r = c.post("/app/dpo/subject", data={"forename": forename, "surname": surname, "postcode": postcode,
                                             **dob_fields, "csrf_token": csrf_token(form)})
        assert r.status_code == 303, r.text[:500]
        pdf = c.get(r.headers["location"] + "/report.pdf")
        assert pdf.status_code == 200, pdf.status_code
        text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.content)).pages)
        for email in ODD:
            assert email in text, (email, text[:2000])
    finally:
        server.stop()
