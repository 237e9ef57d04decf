"""Numbers and times typed where the service reads them by Python's rules, not the schema's.

``str.isdigit`` is true of ``²`` and ``١٢``: ``int`` refuses the first (a ``ValueError`` past
the check) and reads the second as 12. A time whose offset takes it past the calendar
(``0001-01-01T00:00+01:00``) raises ``OverflowError`` where it is moved to UTC, and so does a year
past C's int in ``date``: neither is a ``ValueError``. Any organisation's client got a 500 from
``GET /v1/identity/changes?since=²`` (or such a time), any member of staff from the lookup page
with a date of birth in the year 9999999999 (the DPO's person search too) and the CME officer from
``/app/cme?age_from=²``; and any local user stopped every ``linkage serve --workers`` from
starting with a file named ``/dev/shm/linkage-workers-²-x``. Each is now refused as any other
value out of range (``linkage.digits.whole_number``: ASCII digits only).
"""

from __future__ import annotations

import httpx
import pytest

from apiserver import Server
from browserpages import ENV, PASSWORD, add_user, csrf_token
from test_consent_merge import call, linked_world

pytestmark = pytest.mark.e2e

AMY, CAM = "amy@oak-ap.example", "cam@northshire.example"


@pytest.fixture(scope="module")
def world(tmp_path_factory, synth_month1):
    w, _ = linked_world(tmp_path_factory, synth_month1, "typed-numbers")
    add_user(w["home"], AMY, "Amy Oak", "Oak AP Academy", "ap_school", "140001", "admissions")
    add_user(w["home"], CAM, "Cam Price", "Northshire Education", "la_education", "802", "cme_officer")
    w["server"] = Server(w["home"], env=ENV)
    yield w
    w["server"].stop()


def _signed_in(world, email: str) -> httpx.Client:
    c = httpx.Client(base_url=world["server"].url, timeout=30)
    r = c.post("/app/sign-in", data={"email": email, "password": PASSWORD,
                                     "csrf_token": csrf_token(c.get("/app/sign-in").text)})
    assert r.status_code == 303, r.text
    return c


@pytest.mark.parametrize("since", ["\u00b2", "\u0661\u0662", "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
def test_identity_changes_refuse_a_since_python_reads_past_the_schema(world, since):
    r = call(world, "oak", "GET", "/v1/identity/changes", params={"since": since})
    assert r.status_code == 422, (r.status_code, r.text)
    assert "since must be a run number or an ISO 8601 time" in r.text
    # A time within the calendar is still read (one with an offset as the same moment in UTC).
    for fine in ("2000-01-01T00:30:00+01:00", "0001-01-01T00:00:00", "9999-12-31T23:59:59+00:00"):
        assert call(world, "oak", "GET", "/v1/identity/changes", params={"since": fine}).status_code == 200, fine


def test_the_lookup_page_refuses_a_year_past_the_calendar(world, year="9999999999"):
    c = _signed_in(world, AMY)
    form = {"forename": "Ann", "surname": "Smith", "dob-day": "1", "dob-month": "2", "dob-year": year,
            "purpose": "admission", "csrf_token": csrf_token(c.get("/app/lookup").text)}
    r = c.post("/app/lookup", data=form)
    c.close()
    assert r.status_code == 400, (r.status_code, r.text[:300])
    assert "Date of birth must be a real date" in r.text


def test_the_cme_page_refuses_digits_that_are_not_ascii(world):
    c = _signed_in(world, CAM)
    r = c.get("/app/cme", params={"age_from": "\u00b2", "page": "\u00b2"})
    c.close()
    assert r.status_code == 400, (r.status_code, r.text[:300])
    assert "Age from must be a whole number from 0 to 25" in r.text


def test_a_file_any_local_user_names_in_dev_shm_does_not_stop_the_server(tmp_path):
    from linkage.api.balance import _sweep

    planted = tmp_path / "linkage-workers-\u00b2-x"
    planted.write_bytes(b"")
    # A pid past a C long raised OverflowError from os.kill (not an OSError): the same stop.
    huge = tmp_path / ("linkage-workers-" + "9" * 25 + "-x")
    huge.write_bytes(b"")
    _sweep(tmp_path)                        # raised ValueError: every ``serve --workers`` start failed
    assert planted.exists()                 # not a board of ours: left alone
    assert not huge.exists()                # no process can hold that number: a dead board, swept


def test_a_directory_named_so_in_the_stores_own_tmp_does_not_stop_it_opening(tmp_path):
    from linkage.store import Store

    home = tmp_path / "home"
    (home / "tmp" / "\u00b2.1").mkdir(parents=True, mode=0o700)
    (home / "tmp" / ("9" * 25 + ".1")).mkdir(mode=0o700)
    Store(home, memory_limit="1GB").close()
    assert (home / "tmp" / "\u00b2.1").is_dir()
    assert not (home / "tmp" / ("9" * 25 + ".1")).exists()
