"""A page with nothing wrong never says "Error:" in its title, the first words a screen reader reads.

The base template prefixes the title when a page passes ``summary`` (the GOV.UK error summary) or
``errors``; the quarantine page passed its counts as ``summary``, so every visit to it was titled
"Error: Records held back" (seen on the 1,000,000-record store, docs/benchmarks.md "Session 33: api1m")."""

from __future__ import annotations

import re

import httpx
import pytest

import outcomes_world
from apiserver import Server
from browserpages import ENV, PASSWORD, add_user, csrf_token

pytestmark = pytest.mark.e2e

# Each person (their role) and the pages they open.
PAGES = {("dee@la.example", "data_manager"): ["/app/", "/app/quarantine", "/app/quarantine?source=health",
                                              "/app/review", "/app/quality"],
         ("cam@la.example", "cme_officer"): ["/app/", "/app/cme?purpose=cme", "/app/lookup"]}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    home = tmp_path_factory.mktemp("titles") / "data"
    outcomes_world.build(home).close()
    for email, role in PAGES:
        add_user(home, email, email.split("@")[0].title(), "Northshire Education", "la_education", "933", role)
    s = Server(home, env=ENV)
    yield s
    s.stop()


@pytest.mark.parametrize("person", PAGES)
def test_pages_without_a_problem_are_not_titled_error(server, person):
    email = person[0]
    with httpx.Client(base_url=server.url, timeout=60) as c:
        r = c.post("/app/sign-in", data={"email": email, "password": PASSWORD,
                                         "csrf_token": csrf_token(c.get("/app/sign-in").text)})
        assert r.status_code == 303, r.text
        for path in PAGES[person]:
            r = c.get(path)
            assert r.status_code == 200, (path, r.status_code)
            title = re.search(r"<title>(.*?)</title>", r.text, re.S).group(1).strip()
            assert not title.startswith("Error"), (path, title)
