"""Drive the staff web pages in a real browser: Debian's chromium through Playwright.

For page tests: ``browser()`` (one per session: the ``chromium`` fixture in conftest),
``Profile`` (one per module and its server: each test's ``page()`` starts signed out),
``sign_in``, ``accessible`` (axe-core, injected outside the page so the page's CSP still
applies to everything else),
``shot`` (a screenshot to look at, taken only when asked: docs/screenshots/ with ``make screenshots``,
or the temporary directory with LINKAGE_TEST_SHOTS=1, so a test run never rewrites committed files), ``add_user``.
"""

from __future__ import annotations

import asyncio
import os
import re
import sqlite3
import tempfile
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

from argon2 import PasswordHasher

from linkage.access.orgs import OrgRegistry
from linkage.access.users import UserRegistry
from linkage.store.state import ServiceState

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
AXE = (Path(__file__).parent / "axe" / "axe.min.js").read_text()
# `make screenshots` sets LINKAGE_TEST_SCREENSHOTS=docs/screenshots to refresh the committed ones.
SCREENSHOTS = Path(os.environ.get("LINKAGE_TEST_SCREENSHOTS")
                   or Path(tempfile.gettempdir()) / "linkage-screenshots")
PASSWORD = "a long synthetic password 1"
# Loopback http in tests: the cookie cannot be Secure (the setting refuses this beyond loopback).
ENV = {"LINKAGE_WEB_COOKIE_SECURE": "false"}
# How long an action, a navigation or an ``expect`` waits (ms). Playwright's 5 s for ``expect`` and
# 30 s for the rest are short on a loaded 2-core CI machine running the server, the browser and
# a second pytest worker; each is a poll, so a page that is ready passes as soon as it is.
WAIT_MS, EXPECT_MS = 120_000, 60_000
_QUICK = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)      # ``add_user``'s stored hashes


@contextmanager
def browser():
    from playwright.sync_api import sync_playwright

    from playwright.sync_api import expect

    expect.set_options(timeout=EXPECT_MS)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield b
        finally:
            b.close()


def _profile(b, base_url: str):
    """A new browser profile (no cookies): axe-core loaded into every document, Playwright's waits."""
    context = b.new_context(base_url=base_url, viewport={"width": 1024, "height": 800})
    context.set_default_timeout(WAIT_MS)
    context.set_default_navigation_timeout(WAIT_MS)
    context.add_init_script(script=AXE)
    return context


def _tab(context):
    """A new tab, its console errors kept."""
    p = context.new_page()
    p.console_errors = []
    p.on("console", lambda m: m.type == "error" and p.console_errors.append(m.text))
    return p


@contextmanager
def page(b, base_url: str):
    """A fresh browser profile (no cookies), axe-core loaded into every document, console errors kept."""
    context = _profile(b, base_url)
    try:
        yield _tab(context)
    finally:
        context.close()


class Profile:
    """One browser profile and tab for a module's page tests, against its one server. A profile
    of its own per test (or a tab: each is a renderer of its own) cost Chromium about 1.2 CPU s
    of the 2.8 s a test's sign-in and first pages took (docs/benchmarks.md "Session 29: suite, the
    web pages"). Each ``page()`` starts as a new profile would: signed out (every cookie gone,
    the tab's session storage cleared: the staff pages keep nothing else in the browser), on a
    blank document, no console errors; only the cache of the static files stays, as in anyone's
    browser."""

    def __init__(self, b, base_url: str) -> None:
        self._origin = base_url.rstrip("/") + "/"
        self._context = _profile(b, base_url)
        self._tab = _tab(self._context)

    @contextmanager
    def page(self):
        p = self._tab
        if p.url.startswith(self._origin):
            p.evaluate("sessionStorage.clear()")
        p.goto("about:blank")
        self._context.clear_cookies()
        p.console_errors.clear()
        yield p

    def close(self) -> None:
        self._context.close()


def add_user(home: Path, email: str, name: str, org_name: str, org_type: str, code: str, role: str) -> str:
    """Register the organisation (once) and a person in it with ``PASSWORD``; returns the user id.

    The password is stored hashed at argon2id's least work. argon2 reads its parameters from the
    stored hash, so the server's real check at each sign-in pays that work too, not the product's
    0.2 CPU s (64 MiB, three passes): over 80 sign-ins and 40 registrations are written in the
    page and security tests, none of which is about the hash's strength (tests/test_users.py,
    test_import_cost.py and conftest's ``quick_hashes`` keep the product's parameters where they
    are the subject). A wrong password is still refused by the product's check: the lock-out
    tests of tests/security/test_web.py fail when it accepts one."""
    from linkage.access import users

    state = ServiceState(home)
    orgs = OrgRegistry(state)
    org = orgs.by_name(org_name) or orgs.add(org_name, org_type, code)
    product, users._hasher = users._hasher, _QUICK
    try:
        return UserRegistry(state, orgs).add(email, name, org.org_id, role, PASSWORD)[0].user_id
    finally:
        users._hasher = product


def through(p, locator) -> None:
    """Click something that loads a new page, and wait for that page (not the old one) to load."""
    with p.expect_navigation():
        locator.click()


def sign_in(p, email: str, password: str = PASSWORD) -> None:
    p.goto("/app/sign-in")
    p.get_by_label("Email address").fill(email)
    p.get_by_label("Password", exact=True).fill(password)
    through(p, p.get_by_role("button", name="Sign in", exact=True))


def fill_lookup(p, forename, surname, dob, postcode=""):
    """Fill the lookup form with a child's details and send it."""
    p.get_by_label("First name").fill(forename)
    p.get_by_label("Last name").fill(surname)
    p.get_by_label("Day").fill(str(dob.day))
    p.get_by_label("Month").fill(str(dob.month))
    p.get_by_label("Year").fill(str(dob.year))
    p.get_by_label("Postcode (optional)").fill(postcode or "")
    through(p, p.get_by_role("button", name="Find child"))


def accessible(p) -> None:
    """No serious or critical WCAG 2.2 A/AA violation on the page as it stands; GOV.UK Frontend ran."""
    violations = p.evaluate("""async () => {
        const r = await axe.run(document, {runOnly: {type: 'tag',
            values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice']}});
        return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                                       nodes: v.nodes.map(n => n.target.join(' '))}));
    }""")
    bad = [v for v in violations if v["impact"] in ("serious", "critical")]
    assert not bad, bad
    # The inline script is allowed by its CSP hash, and the module script by 'self'.
    assert "govuk-frontend-supported" in p.evaluate("document.body.className")
    assert not [e for e in p.console_errors if "Content Security Policy" in e], p.console_errors


def shot(p, name: str) -> Path | None:
    """The page photographed, with ``make screenshots`` (LINKAGE_TEST_SCREENSHOTS set) or
    LINKAGE_TEST_SHOTS=1 (into the temporary directory); otherwise nothing. A full-page
    photograph is Chromium's rendering and PNG encoding of the whole page, which no test reads
    or asserts on, paid some 40 times a suite on the CI's two cores."""
    if not (os.environ.get("LINKAGE_TEST_SCREENSHOTS") or os.environ.get("LINKAGE_TEST_SHOTS")):
        return None
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    p.screenshot(path=str(path), full_page=True)
    return path


def age_sessions(home: Path, user_id: str, idle: float = 0, since_sign_in: float = 0) -> int:
    """Make a person's sessions look ``idle`` seconds unused and ``since_sign_in`` seconds old."""
    with sqlite3.connect(home / "service.sqlite") as con:
        return con.execute("UPDATE web_sessions SET seen_at = seen_at - ?, created_at = created_at - ? "
                           "WHERE user_id = ?", (idle, since_sign_in, user_id)).rowcount


def csrf_token(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def run_async(coro):
    """``asyncio.run(coro)`` in a thread of its own: once the session's browser (Playwright's sync
    API) has started in this process, it keeps an event loop running in the main thread, where
    ``asyncio.run`` refuses to start another."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()
