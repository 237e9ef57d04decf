"""Every download's file name is made from what the person typed or the child's reference, and a
response header carries Latin-1 only: a data manager who filtered the quarantine by a reason in
another script (names are accepted in any) got a 500 and a traceback in the server's log, and the
connection dropped under the next request. Every download now names its file through
``safetext.attachment`` (ASCII letters, digits, ``-`` and ``_``)."""

from __future__ import annotations

import re
from contextlib import contextmanager

import httpx
import pytest

import outcomes_world
from apiserver import Server
from browserpages import ENV, PASSWORD, add_user, csrf_token
from registry import register

pytestmark = pytest.mark.e2e

TYPED = ["Ж", "日本", "سجل", "🙂", "\u202egpj.exe", 'a"; filename="x.exe', "a\\b/c", "é", "  ", "ok_reason-1"]
MANAGER, DPO, LEADER = "dee@la.example", "dana@dpo.example", "lee@oak-pru.example"
NAME = re.compile(r'attachment; filename="[A-Za-z0-9_-]+(\.[a-z]+)"')


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    home = tmp_path_factory.mktemp("download-names") / "data"
    outcomes_world.build(home).close()
    add_user(home, MANAGER, "Dee Manager", "Northshire Education", "la_education", "933", "data_manager")
    add_user(home, DPO, "Dana Officer", "Northshire DPO", "dpo", "934", "dpo")
    add_user(home, LEADER, "Lee Leader", "Oak PRU", "ap_school", "140001", "ap_leader")
    manager = register(home, "dm client", "la_education", "data_manager", org="Northshire Education")
    server = Server(home, env=ENV)
    yield {"home": home, "server": server, "manager": manager}
    server.stop()


@contextmanager
def signed_in(world, email: str):
    c = httpx.Client(base_url=world["server"].url, timeout=60)
    r = c.post("/app/sign-in", data={"email": email, "password": PASSWORD,
                                     "csrf_token": csrf_token(c.get("/app/sign-in").text)})
    assert r.status_code == 303 and r.headers["location"] == "/app/", r.text
    try:
        yield c
    finally:
        c.close()


def named(r: httpx.Response, ext: str) -> None:
    assert r.status_code == 200, (r.request.url, r.status_code, r.text[:300])
    assert NAME.fullmatch(r.headers["content-disposition"]), r.headers["content-disposition"]
    assert r.headers["content-disposition"].endswith(f'.{ext}"')


def test_every_download_is_named_in_ascii_whatever_was_typed(world):
    from linkage.access.pseudonyms import Pseudonyms
    from linkage.access.orgs import OrgRegistry
    from linkage.store.state import ServiceState

    with signed_in(world, MANAGER) as c:
        for typed in TYPED:
            named(c.get("/app/quarantine/export", params={"reason": typed}), "csv")
            named(c.get("/app/quarantine/export", params={"reason": typed, "source": "education"}), "csv")
    headers = {"Authorization": f"Bearer {world['server'].token(*world['manager'])}", "X-Purpose": "data_management"}
    for typed in TYPED:
        named(httpx.get(world["server"].url + "/v1/quarantine/export", params={"reason": typed}, headers=headers,
                        timeout=60), "csv")
    with signed_in(world, LEADER) as c:
        named(c.get("/app/outcomes.csv", params={"by": "setting", "cohort": "2024/25"}), "csv")
    state = ServiceState(world["home"])
    dpo_org = OrgRegistry(state).by_name("Northshire DPO").org_id
    ref = Pseudonyms(world["home"], state).form(dpo_org, "child-A")      # as the DPO's subject search issues it
    with signed_in(world, DPO) as c:
        for ext in ("csv", "pdf"):
            named(c.get(f"/app/dpo/subject/{ref}/report.{ext}"), ext)
    log = "".join(world["server"].output)
    assert "Traceback" not in log and "UnicodeEncodeError" not in log, log[-3000:]


def test_a_file_name_is_ascii_whatever_it_is_made_from():
    from linkage.safetext import attachment

    for typed in TYPED + ["", "x" * 500, "\r\nSet-Cookie: a=b", "\x00"]:
        value = attachment("quarantine", typed, ext="csv")
        value.encode("ascii")
        assert NAME.fullmatch(value) and len(value) < 120, value
