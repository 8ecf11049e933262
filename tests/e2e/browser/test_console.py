"""The review console in a real headless Chromium (Debian's `chromium` via Playwright).

The console is the real command (`supportbot console`) over a real SQLite database holding the
demo data set and demo conversations whose side effects the real domain core made
(tests/unit/console/demo_conversations.py: Alice's automatic refund with a ledger row, Bob's
handed-off refund, an email with a card number); the console's own background indexer indexes
them. Users are created with the real `supportbot users add --password-stdin`.

Screenshots: docs/screenshots/console-*.png (desktop 1280x800).
"""
from __future__ import annotations

import csv
import io
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.unit.console import demo_conversations

from .helpers import (
    DESKTOP,
    REPO,
    ConsoleWatch,
    chromium_missing_reason,
    free_port,
    launch_chromium,
    process,
    skip_or_fail,
)

pytestmark = pytest.mark.browser

SHOTS = REPO / "docs" / "screenshots"
LEAD = ("lead@example.com", "lead-password-123")
REVIEWER = ("reviewer@example.com", "reviewer-password-123")


@dataclass
class Console:
    url: str
    demo: demo_conversations.Demo


def _add_user(url: str, email: str, role: str, password: str) -> None:
    done = subprocess.run([sys.executable, "-m", "supportbot.cli", "users", "--url", url, "add",
                           email, "--role", role, "--password-stdin"], input=password + "\n",
                          capture_output=True, text=True, cwd=REPO, timeout=60)
    assert done.returncode == 0, done.stderr
    assert password not in done.stdout


@pytest.fixture(scope="module")
def console(tmp_path_factory):
    directory = tmp_path_factory.mktemp("console")
    url = f"sqlite:///{directory / 'console.db'}"
    demo = demo_conversations.build(url, directory / "outbox")
    _add_user(url, LEAD[0], "lead", LEAD[1])
    _add_user(url, REVIEWER[0], "reviewer", REVIEWER[1])
    port = free_port()
    args = [sys.executable, "-m", "supportbot.cli", "console", "--url", url, "--host", "127.0.0.1",
            "--port", str(port), "--index-every", "1"]
    with process(args, f"http://127.0.0.1:{port}/healthz", directory / "console.log", timeout=60):
        yield Console(f"http://127.0.0.1:{port}", demo)


@pytest.fixture(scope="module")
def browser():
    reason = chromium_missing_reason()
    if reason:
        skip_or_fail(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = launch_chromium(playwright)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def context(browser):
    ctx = browser.new_context(viewport=DESKTOP, accept_downloads=True)
    ctx.set_default_timeout(15000)
    yield ctx
    ctx.close()


def shot(page, name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"console-{name}.png"
    page.screenshot(path=str(path), full_page=False)
    return path


def login(page, console: Console, user: tuple[str, str], path: str = "/conversations") -> None:
    page.goto(console.url + path)
    assert "/login" in page.url
    page.get_by_label("Email").fill(user[0])
    page.get_by_label("Password").fill(user[1])
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(re.escape(console.url + path)))


def wait_until_indexed(page, console: Console, expected: int = 4, timeout: float = 40) -> None:
    """The console's background indexer picks the conversations up within seconds."""
    deadline = time.monotonic() + timeout
    total = -1
    while time.monotonic() < deadline:
        response = page.request.get(console.url + "/api/conversations")
        assert response.status == 200
        total = response.json()["total"]
        if total >= expected:
            return
        time.sleep(0.5)
    raise AssertionError(f"the console indexed {total} of {expected} conversations")


def test_a_lead_finds_reads_tags_and_exports_a_refund(console, context):
    page = context.new_page()
    watch = ConsoleWatch(page)
    login(page, console, LEAD)
    wait_until_indexed(page, console)
    page.reload()
    alice = console.demo.alice

    # find: filter "refund issued" (the filter lands in the URL: bookmarkable)
    page.locator("select[name=refund]").select_option("issued")
    page.get_by_role("button", name="Apply filters").click()
    page.wait_for_url(re.compile(r"refund=issued"))
    rows = page.get_by_role("table", name="Conversations").locator("tbody tr")
    assert rows.count() == 1 and alice in rows.first.inner_text()
    shot(page, "list-refund-issued")
    bookmarked = page.url

    # read: the refund with amount and ledger id, what the bot understood
    page.get_by_role("link", name=alice).click()
    page.wait_for_url(re.compile(re.escape(f"/conversations/{alice}")))
    issued = page.locator('.effect[data-kind="refund_issued"]')
    assert issued.count() == 1
    text = issued.inner_text()
    assert "Refund issued" in text and "49.00 EUR" in text
    assert issued.locator(".ledger-id").inner_text().strip() == str(console.demo.refund_id)
    assert "request_refund" in page.locator("#turn-1").inner_text()
    assert demo_conversations.CODE not in page.content()
    issued.scroll_into_view_if_needed()
    shot(page, "transcript-refund")

    # judge: a tag through htmx (only the panel is swapped: no navigation)
    url_before = page.url
    page.get_by_label("New tag").fill("textbook refund")
    page.get_by_role("button", name="Add tag").click()
    page.locator("#judge .tag", has_text="textbook-refund").wait_for()
    assert page.url == url_before
    page.get_by_role("button", name="Mark reviewed").click()
    page.locator("#judge .badge.reviewed").wait_for()
    shot(page, "transcript-tagged")

    # the bookmarked view still shows it, now with its tag
    page.goto(bookmarked)
    assert "textbook-refund" in page.get_by_role("table", name="Conversations").inner_text()

    # export the filtered list as CSV from the page
    with page.expect_download() as download_info:
        page.get_by_role("button", name="CSV").click()
    download = download_info.value
    body = Path(download.path()).read_text(encoding="utf-8")
    rows = list(csv.DictReader(io.StringIO(body)))
    assert [r["conversation_id"] for r in rows] == [alice]
    assert demo_conversations.CARD.replace(" ", "") not in body
    assert watch.errors == [], watch.errors


def test_judging_works_without_javascript(console, browser):
    ctx = browser.new_context(viewport=DESKTOP, java_script_enabled=False)
    try:
        page = ctx.new_page()
        login(page, console, REVIEWER)
        wait_until_indexed(page, console)
        page.goto(f"{console.url}/conversations/{console.demo.bob}")
        page.get_by_label("New tag").fill("no-js")
        page.get_by_role("button", name="Add tag").click()
        page.wait_for_url(re.compile(r"done=tag"))
        assert page.locator("#judge .tag", has_text="no-js").count() == 1
    finally:
        ctx.close()


def test_a_reviewer_cannot_open_user_management(console, context):
    page = context.new_page()
    login(page, console, REVIEWER)
    assert page.get_by_role("navigation").get_by_role("link", name="Users").count() == 0
    response = page.goto(console.url + "/users")
    assert response.status == 403
    assert "Only a lead" in page.content() and REVIEWER[0] not in page.locator("main").inner_text()
    shot(page, "reviewer-users-403")


def test_anonymous_requests_get_the_login_page_or_401(console, context):
    page = context.new_page()
    response = page.goto(console.url + "/conversations?refund=issued")
    assert response.status == 200 and "/login" in page.url
    assert page.get_by_label("Password").count() == 1
    shot(page, "login")
    api = page.request.get(console.url + "/api/conversations")
    assert api.status == 401 and api.json() == {"error": "login required"}
    # a deep link survives the login
    page.get_by_label("Email").fill(LEAD[0])
    page.get_by_label("Password").fill(LEAD[1])
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/conversations\?refund=issued"))


def test_a_form_without_its_csrf_token_is_refused(console, context):
    page = context.new_page()
    login(page, console, LEAD, "/users")
    form = page.locator("form[action='/users']")
    form.locator("input[name=csrf_token]").evaluate("input => input.remove()")
    page.get_by_label("Email", exact=True).fill("intruder@example.com")
    page.get_by_label(re.compile("^Password")).fill("a-long-enough-password")
    with page.expect_response(lambda r: r.url.endswith("/users") and r.request.method == "POST") as info:
        page.get_by_role("button", name="Add user").click()
    assert info.value.status == 403
    assert "CSRF" in page.content()
    shot(page, "csrf-refused")
    page.goto(console.url + "/users")
    assert "intruder@example.com" not in page.content()
