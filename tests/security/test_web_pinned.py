"""A staff page runs on the data its request started on, as the API's routes do.

The guard pins the served data for each request (``Services.enter``), so a snapshot retired
while a request runs is closed only after that request ends. The pages took their data from
the application's state when the session was read instead: a snapshot published between the
guard and the page (and retired, and closed, by a further switch while the page was still
working) was what the page read, not the pinned one. Here the switch is placed exactly there.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from browserpages import ENV, PASSWORD, add_user, csrf_token
from linkage.api.app import create_app
from linkage.config import get_settings
from linkage.service.container import Services, load_published

pytestmark = pytest.mark.e2e

DANA = "dana@shire.example"


def test_a_page_reads_the_data_pinned_for_its_request_not_one_published_meanwhile(tmp_path, monkeypatch):
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    home = tmp_path / "data"
    add_user(home, DANA, "Dana", "Shire LA", "la_education", "123", "data_manager")
    app = create_app(home, get_settings())
    with TestClient(app) as c:
        r = c.post("/app/sign-in", data={"email": DANA, "password": PASSWORD,
                                         "csrf_token": csrf_token(c.get("/app/sign-in").text)},
                   follow_redirects=False)
        assert r.status_code == 303, r.text
        assert c.get("/app/quarantine").status_code == 200
        pinned = app.state.services
        # A snapshot published and retired again, its data closed, as the watcher leaves one.
        gone = pinned.with_published(load_published(home, pinned.settings))
        assert gone.release_when_idle()
        enter = Services.enter

        def enter_then_switch(self):
            held = enter(self)
            app.state.services = gone          # published between the guard's pin and the page
            return held

        monkeypatch.setattr(Services, "enter", enter_then_switch)
        try:
            page = c.get("/app/quarantine")
        finally:
            monkeypatch.setattr(Services, "enter", enter)
            app.state.services = pinned
        assert page.status_code == 200, page.text[:300]
