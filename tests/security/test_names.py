"""Names people read in the audit log and on the DPO's pages, registered to mislead them.

"One name, one organisation" was checked with ``lower()``: an organisation registered as
"Оak AP Academy" (a Cyrillic О), "ＯＡＫ AP Academy" (full-width) or "Oak AP\u200bAcademy" (a
zero-width space) sat beside the real Oak AP Academy, and the DPO read the same name for
both. A name holding a right-to-left override (U+202E) reversed the text after it wherever
it was shown. Each is refused at registration by the real CLI, for organisations, clients and
staff; a name an identity provider asserts loses such characters instead.
"""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from linkage.access.orgs import OrgRegistry
from linkage.access.users import UserRegistry
from linkage.cli import app
from linkage.store.state import ServiceState


def cli(home, *args: str):
    """The real ``linkage`` command, in process (each spawned CLI costs seconds on a loaded machine)."""
    done = CliRunner().invoke(app, [*args, "--data-dir", str(home)], input="a long synthetic password 1\n")
    done.said = " ".join(done.output.split())
    return done


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    home = tmp_path_factory.mktemp("names") / "data"
    done = cli(home, "orgs", "add", "--name", "Oak AP Academy", "--type", "ap_school", "--code", "141234")
    assert done.exit_code == 0, done.output
    return home


@pytest.mark.parametrize("name", ["Оak AP Academy", "ＯＡＫ AP Academy", "oak ap academy", "Oak-AP Academy",
                                  "Oak AP\u200bAcademy", "Oak AP Acad\u0435my"])
def test_a_second_organisation_whose_name_reads_the_same_is_refused(home, name):
    done = cli(home, "orgs", "add", "--name", name, "--type", "school", "--code", "100001")
    assert done.exit_code == 2 and ("reads the same" in done.said or "invisible" in done.said), done.output
    assert [o.name for o in OrgRegistry(ServiceState(home)).list()] == ["Oak AP Academy"]


@pytest.mark.parametrize("hidden", ["\u202e", "\u2066", "\u200f", "\u200d", "\ufeff", "\x1b", "\u00ad"])
def test_invisible_or_direction_characters_are_refused_in_every_registered_name(home, hidden):
    org = cli(home, "orgs", "add", "--name", f"Elm{hidden} School", "--type", "school", "--code", "100002")
    client = cli(home, "clients", "add", "--name", f"admissions{hidden} desk", "--org", "141234",
                 "--role", "admissions")
    user = cli(home, "users", "add", "--email", "amy@oak.example", "--name", f"Amy{hidden} Lee", "--org", "141234",
               "--role", "admissions", "--password-stdin")
    for done in (org, client, user):
        assert done.exit_code == 2 and "invisible or text-direction" in done.said, done.output
    state = ServiceState(home)
    assert not state.execute("SELECT 1 FROM clients").fetchone() and not state.execute("SELECT 1 FROM users").fetchone()


def test_distinct_names_in_any_script_still_register(home):
    for name, code in (("Ysgol Gymraeg Llundain", "100003"), ("Szkoła Podstawowa", "100004"),
                       ("St Mary's CE Primary", "100005"), ("St Mary's Catholic Primary", "100006")):
        done = cli(home, "orgs", "add", "--name", name, "--type", "school", "--code", code)
        assert done.exit_code == 0, done.output


def test_a_name_an_identity_provider_asserts_loses_what_a_reader_could_not_see(home):
    users = UserRegistry(ServiceState(home))
    idp = {"issuer": "https://idp.example", "subject": "eve-1", "email_verified": True}
    user = users.provision("eve@oak.example", "Eve\u202e Adams\u200b", "141234", "admissions", **idp)
    assert user.name == "Eve Adams"
    assert users.provision("eve@oak.example", "\u202e\u200b", "141234", "admissions", **idp).name == "eve@oak.example"
