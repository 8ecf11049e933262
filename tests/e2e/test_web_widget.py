"""The website chat widget in a real headless Chromium (Debian's `chromium` via Playwright).

Two back ends:
* `echo_site`: the support page server (`supportbot web`, the real command) and a scripted
  stand-in for Rasa that runs our real MaskingSocketIOInput channel (tests/e2e/browser/
  echo_rasa.py). Fast, no model needed: widget behaviour, safety, accessibility, reconnects.
  Marked `browser` only.
* `rasa_site`: the same page server in front of the real Rasa + action server + demo database
  (the `bot_stack` fixture of tests/e2e/conftest.py). Marked `browser` and `e2e`: a refund
  conversation up to the one-time-code step, reload, card-number masking checked in the
  tracker, a dropped connection mid-conversation.

Browser traffic to the Rasa side goes through `DroppingProxy`, so a test can cut the network.
Screenshots go to var/screenshots/ (desktop 1280x800 and phone 390x844).
"""
from __future__ import annotations

import json
import os
import random
import re
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from supportbot.privacy import mask_card_numbers

from .browser.helpers import (
    DESKTOP,
    PHONE,
    ConsoleWatch,
    DroppingProxy,
    chromium_missing_reason,
    echo_rasa,
    free_port,
    get_json,
    launch_chromium,
    other_site,
    page_server,
    screenshot,
    skip_or_fail,
)

pytestmark = pytest.mark.browser

CARD = "4111 1111 1111 1111"  # a Luhn-valid test number
CARD_DIGITS = CARD.replace(" ", "")
MASKED = "**** **** **** 1111"


# ----------------------------------------------------------------------------- fixtures

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


@dataclass
class Site:
    web_url: str  # the support page server
    rasa_url: str  # Rasa (or the echo stand-in), direct
    proxy: DroppingProxy  # what the browser talks to instead of rasa_url
    shop_port: int  # the port of a site embedding the widget that Rasa allows (CORS origins)


@pytest.fixture(scope="module")
def echo_site(tmp_path_factory):
    logs = tmp_path_factory.mktemp("echo-site")
    web_port, shop_port = free_port(), free_port()
    allowed = [f"http://127.0.0.1:{web_port}", f"http://127.0.0.1:{shop_port}"]
    with echo_rasa(logs, allowed) as rasa_url:
        target = urlsplit(rasa_url)
        with DroppingProxy(target.hostname, target.port) as proxy:
            with page_server(proxy.url, logs, port=web_port) as web_url:
                yield Site(web_url, rasa_url, proxy, shop_port)


@pytest.fixture(scope="module")
def rasa_site(bot_stack, tmp_path_factory):
    logs = tmp_path_factory.mktemp("rasa-site")
    target = urlsplit(bot_stack.rasa_url)
    with DroppingProxy(target.hostname, target.port) as proxy:
        # on the port whose origin the stack allows (tests/e2e/conftest.py)
        with page_server(proxy.url, logs, port=bot_stack.web_port) as web_url:
            yield Site(web_url, bot_stack.rasa_url, proxy, bot_stack.shop_port)


@pytest.fixture
def context(browser):
    ctx = browser.new_context(viewport=DESKTOP)
    ctx.set_default_timeout(15000)
    yield ctx
    ctx.close()


@pytest.fixture
def page(context):
    p = context.new_page()
    p.console_watch = ConsoleWatch(p)
    return p


# ----------------------------------------------------------------------------- widget driver

class Widget:
    """What a user sees and does, located by role and label (shadow DOM is pierced)."""

    def __init__(self, page, title: str = "Customer Support"):
        self.page = page
        self.launcher = page.get_by_role("button", name=re.compile(r"^Support chat"))
        self.dialog = page.get_by_role("dialog", name=title)
        self.log = page.get_by_role("log", name="Conversation")
        self.input = page.get_by_label("Your message")
        self.close_button = page.get_by_role("button", name="Close chat")
        self.typing = page.locator(".sbw-typing")
        self.status = page.locator(".sbw-status")

    def open(self) -> None:
        self.launcher.click()
        self.dialog.wait_for(state="visible")

    def bot_texts(self) -> list[str]:
        return self.page.locator(".sbw-msg-bot .sbw-bubble").all_inner_texts()

    def user_texts(self) -> list[str]:
        bubbles = self.page.locator(".sbw-msg-user .sbw-bubble").all_inner_texts()
        return [t.replace("You:", "", 1).strip() for t in bubbles]

    def session_id(self) -> str | None:
        return self.page.evaluate("window.SupportbotWidget.sessionId()")

    def wait_connected(self, timeout: float = 20) -> None:
        self.page.wait_for_function("() => !!(window.SupportbotWidget && window.SupportbotWidget.isConnected())",
                                    timeout=timeout * 1000)

    def wait_for_replies(self, before: int, timeout: float = 45, settle: float = 1.2) -> list[str]:
        """New bot messages after `before` of them, once the burst has settled."""
        bubbles = self.page.locator(".sbw-msg-bot")
        deadline = time.monotonic() + timeout
        while bubbles.count() <= before:
            if time.monotonic() > deadline:
                raise AssertionError(f"no bot reply within {timeout}s; log: {self.bot_texts()[-3:]}")
            time.sleep(0.1)
        count, stable_since = bubbles.count(), time.monotonic()
        while time.monotonic() - stable_since < settle:
            time.sleep(0.1)
            if bubbles.count() != count:
                count, stable_since = bubbles.count(), time.monotonic()
        return [t.replace("Assistant:", "", 1).strip() for t in self.bot_texts()[before:]]

    def say(self, text: str, **wait) -> list[str]:
        before = self.page.locator(".sbw-msg-bot").count()
        self.input.fill(text)
        self.input.press("Enter")
        return self.wait_for_replies(before, **wait)

    def click_reply(self, name, **wait) -> list[str]:
        before = self.page.locator(".sbw-msg-bot").count()
        self.page.locator(".sbw-quick-replies").get_by_role("button", name=name).first.click()
        return self.wait_for_replies(before, **wait)

    def stored(self) -> str:
        """Everything the widget keeps in localStorage, as one string."""
        return self.page.evaluate("JSON.stringify(Object.assign({}, window.localStorage))")


def received(site: Site) -> list[dict]:
    return get_json(f"{site.rasa_url}/received")


def expect():
    from playwright.sync_api import expect as _expect

    return _expect


# ============================================================================ echo back end

def test_one_script_tag_loads_everything_from_the_page_server_and_nothing_else(echo_site, page):
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto(echo_site.web_url + "/")
    w = Widget(page)
    w.open()
    assert w.say("hello")[-1] == "You said: hello"
    origins = {f"{urlsplit(u).scheme}://{urlsplit(u).netloc}" for u in requests if not u.startswith("data:")}
    assert origins <= {echo_site.web_url, echo_site.proxy.url}, origins  # no CDN, no third party
    assert f"{echo_site.web_url}/widget.css" in requests
    assert f"{echo_site.web_url}/socket.io.min.js" in requests
    assert page.console_watch.errors == []  # includes CSP violations
    assert page.evaluate("window.io === undefined || typeof window.io === 'function'")


def test_keyboard_only_use_with_aria_roles_and_focus_management(echo_site, page):
    page.goto(echo_site.web_url + "/")
    w = Widget(page)
    expect()(w.launcher).to_have_attribute("aria-expanded", "false")
    expect()(w.launcher).to_have_attribute("aria-haspopup", "dialog")
    # Tab from the top of the page: the skip link, then the chat launcher
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    expect()(w.launcher).to_be_focused()
    page.keyboard.press("Enter")
    expect()(w.dialog).to_be_visible()
    expect()(w.launcher).to_have_attribute("aria-expanded", "true")
    expect()(w.input).to_be_focused()  # focus moves into the dialog
    expect()(w.dialog).to_have_attribute("aria-modal", "false")  # a panel beside the page
    expect()(w.log).to_have_attribute("aria-live", "polite")
    expect()(page.get_by_role("status").filter(has_text="We usually answer")).to_have_count(1)
    # Enter sends, Shift+Enter is a new line
    page.keyboard.type("first line")
    page.keyboard.press("Shift+Enter")
    page.keyboard.type("second line")
    expect()(w.input).to_have_value("first line\nsecond line")
    before = page.locator(".sbw-msg-bot").count()
    page.keyboard.press("Enter")
    replies = w.wait_for_replies(before)
    assert replies[-1] == "You said: first line\nsecond line"
    expect()(w.input).to_have_value("")
    expect()(w.input).to_be_focused()
    # the close button is reachable; Esc closes and gives focus back to the launcher
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Shift+Tab")
    expect()(w.close_button).to_be_focused()
    page.keyboard.press("Escape")
    expect()(w.dialog).to_be_hidden()
    expect()(w.launcher).to_be_focused()
    expect()(w.launcher).to_have_attribute("aria-expanded", "false")


def test_quick_replies_send_the_payload_and_show_the_title(echo_site, page):
    page.goto(echo_site.web_url + "/")
    w = Widget(page)
    w.open()
    assert w.say("/buttons")[-1] == "Why would you like a refund?"
    group = page.get_by_role("group", name="Suggested replies")
    expect()(group.get_by_role("button")).to_have_count(2)
    screenshot(page, "echo-desktop-quick-replies")
    replies = w.click_reply("No longer needed")
    assert w.user_texts()[-1] == "No longer needed"
    assert replies[-1] == 'You said: /inform{"refund_reason":"no_longer_needed"}'
    expect()(group).to_have_count(0)  # answered: the buttons are gone
    expect()(w.input).to_be_focused()
    sid = w.session_id()
    last = [m for m in received(echo_site) if m["sender_id"] == sid][-1]
    assert last["text"] == '/inform{"refund_reason":"no_longer_needed"}'


def test_message_text_is_never_html_links_are_safe_newlines_and_images_render(echo_site, page):
    page.goto(echo_site.web_url + "/")
    w = Widget(page)
    w.open()
    # HTML from the bot (or the user) is shown as text
    w.say("/html")
    bubble = page.locator(".sbw-msg-bot .sbw-bubble").last
    expect()(bubble).to_contain_text('<img src=x onerror="window.__xss=1"><b>bold</b>')
    expect()(bubble.locator("img, b")).to_have_count(0)
    w.say("<script>window.__xss=2</script><img src=y onerror=window.__xss=3>")
    expect()(page.locator(".sbw-msg-user .sbw-bubble").last).to_contain_text("<script>window.__xss=2</script>")
    assert page.evaluate("window.__xss") is None
    # URLs become links that open in a new tab without access to this page
    w.say("/link")
    links = page.locator(".sbw-msg-bot .sbw-bubble").last.locator("a")
    expect()(links).to_have_count(1)
    expect()(links).to_have_attribute("href", "https://help.example/refunds?x=1&y=2")
    expect()(links).to_have_text("https://help.example/refunds?x=1&y=2")  # trailing "." left out
    expect()(links).to_have_attribute("target", "_blank")
    assert "noopener" in links.get_attribute("rel")
    # single newlines stay inside a bubble; a blank line starts a new bubble (Rasa splits)
    assert w.say("/multiline")[-2:] == ["First line\nSecond line", "A new bubble"]
    assert w.say("/custom")[-1] == "Custom line 1\nCustom line 2"
    w.say("/image")
    image = page.locator(".sbw-msg-bot img.sbw-image").last
    expect()(image).to_have_attribute("alt", "Image sent by the assistant")
    page.wait_for_function("(img) => img.complete && img.naturalWidth > 0", arg=image.element_handle())
    screenshot(page, "echo-desktop-rich-messages")
    assert page.console_watch.csp_violations() == []


def test_typing_indicator_while_the_bot_is_working(echo_site, page):
    page.goto(echo_site.web_url + "/")
    w = Widget(page)
    w.open()
    w.wait_connected()
    w.input.fill("/slow")
    w.input.press("Enter")
    expect()(w.typing).to_be_visible()
    expect()(page.get_by_role("status").filter(has_text="The assistant is typing")).to_have_count(1)
    screenshot(page, "echo-desktop-typing")
    expect()(page.locator(".sbw-msg-bot .sbw-bubble").last).to_contain_text("Sorry for the wait.", timeout=10000)
    expect()(w.typing).to_be_hidden()


def test_conversation_survives_a_reload_and_card_numbers_are_masked_everywhere(echo_site, page):
    page.goto(echo_site.web_url + "/")
    w = Widget(page)
    w.open()
    w.say("hello")
    w.say(f"my card is {CARD}")
    sid = w.session_id()
    assert w.user_texts()[-1] == f"my card is {MASKED}"  # the page never shows it back
    mine = [m for m in received(echo_site) if m["sender_id"] == sid]
    assert [m["text"] for m in mine] == ["hello", f"my card is {MASKED}"]  # the server masked it
    before = w.bot_texts()

    page.reload()
    w = Widget(page)
    expect()(w.dialog).to_be_visible()  # still open after the reload
    assert w.bot_texts() == before
    assert w.session_id() == sid
    stored = w.stored()
    assert CARD not in stored and CARD_DIGITS not in stored
    assert w.say("still there?")[-1] == "You said: still there?"  # the room was rejoined
    assert [m["sender_id"] for m in received(echo_site) if m["text"] == "still there?"] == [sid]
    # a new conversation only on request
    page.evaluate("window.SupportbotWidget.reset()")
    w.wait_connected()
    assert w.session_id() not in (None, sid)
    assert w.user_texts() == []


def test_widget_masks_like_the_server(echo_site, page):
    page.goto(echo_site.web_url + "/")
    page.wait_for_function("() => !!window.SupportbotWidget")
    samples = [
        CARD, CARD_DIGITS, "4111-1111-1111-1111", "pay with 5500000000000004 now", "378282246310005",
        "4111 1111 1111 1112", "order 100000001", "1234567890123", "x6011111111111117y",
        "two: 4111111111111111 and 5500 0000 0000 0004.", "4111111111111111111", "41111111111111111",
        # every separator of the hardening issue, and the order-reference exception
        "4111.1111.1111.1111", "4111  1111  1111  1111", "4111\t1111\t1111\t1111", "4111\n1111\n1111\n1111",
        "4111/1111/1111/1111", "4111\u00a01111\u00a01111\u00a01111", "4111\u202f1111\u202f1111\u202f1111",
        "4111\u2013 1111\u2014 1111_1111", " ".join(["\uff14\uff11\uff11\uff11"] + ["\uff11" * 4] * 3),
        "4111 1111 1111 1111 12/27", "100000001 100000002", "100000001 4242",
        "order 100000001 card 4111 1111 1111 1111",
        "1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3", "4111....1111 1111 1111",
    ]
    got = page.evaluate("(xs) => xs.map((x) => window.SupportbotWidget.maskCardNumbers(x))", samples)
    assert got == [mask_card_numbers(s) for s in samples]


def test_reconnects_after_a_dropped_connection_without_losing_the_conversation(echo_site, page):
    page.goto(echo_site.web_url + "/")
    w = Widget(page)
    w.open()
    w.say("before the drop")
    sid = w.session_id()
    history = w.bot_texts()

    echo_site.proxy.drop(down_for=4)  # the network goes away for 4 seconds
    expect()(w.status).to_contain_text("Reconnecting", timeout=5000)
    screenshot(page, "echo-desktop-reconnecting")
    # typed while offline: shown at once, delivered after the reconnect
    w.input.fill("typed while offline")
    w.input.press("Enter")
    expect()(page.locator(".sbw-msg-bot .sbw-bubble").last).to_contain_text(
        "You said: typed while offline", timeout=25000)
    expect()(w.status).not_to_contain_text("Reconnecting")
    assert w.session_id() == sid
    assert w.bot_texts()[: len(history)] == history
    assert w.say("after the drop")[-1] == "You said: after the drop"
    texts = [m["text"] for m in received(echo_site) if m["sender_id"] == sid]
    assert texts == ["before the drop", "typed while offline", "after the drop"]


def test_phone_sized_screen_gets_a_full_screen_chat(echo_site, browser):
    ctx = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True, device_scale_factor=2)
    try:
        page = ctx.new_page()
        page.goto(echo_site.web_url + "/")
        w = Widget(page)
        launcher_box = w.launcher.bounding_box()
        assert launcher_box["x"] + launcher_box["width"] <= PHONE["width"]
        assert launcher_box["y"] + launcher_box["height"] <= PHONE["height"]
        screenshot(page, "echo-phone-closed")
        w.launcher.tap()
        expect()(w.dialog).to_be_visible()
        box = w.dialog.bounding_box()
        assert (round(box["x"]), round(box["y"])) == (0, 0)
        assert (round(box["width"]), round(box["height"])) == (PHONE["width"], PHONE["height"])
        expect()(w.launcher).to_be_hidden()  # the full-screen chat has its own close button
        expect()(w.dialog).to_have_attribute("aria-modal", "true")  # full screen: modal
        w.close_button.focus()
        page.keyboard.press("Shift+Tab")  # focus stays inside: wraps to the last control
        expect()(page.get_by_role("button", name="Send message")).to_be_focused()
        page.keyboard.press("Tab")
        expect()(w.close_button).to_be_focused()
        w.say("/buttons")
        screenshot(page, "echo-phone-open")
        w.close_button.tap()
        expect()(w.launcher).to_be_visible()
    finally:
        ctx.close()


def test_embeddable_on_a_configured_site_with_one_script_tag(echo_site, page):
    """A shop on another origin (one of SUPPORTBOT_CORS_ORIGINS), with hostile CSS, adds only
    the script tag."""
    html = f"""<!doctype html><html><head><title>Shop</title><link rel="icon" href="data:,">
      <style>button {{ background: red !important; font-size: 40px !important; }}
             div {{ border: 5px solid lime !important; }}</style></head>
      <body><h1>A shop</h1>
      <script src="{echo_site.web_url}/widget.js" data-rasa-url="{echo_site.proxy.url}"
              data-title="Shop help"></script></body></html>"""
    with other_site(html, port=echo_site.shop_port) as shop:
        requests: list[str] = []
        page.on("request", lambda r: requests.append(r.url))
        page.goto(f"{shop}/")
        w = Widget(page, title="Shop help")
        w.open()
        assert w.say("hello from the shop")[-1] == "You said: hello from the shop"
        # the widget's own files come from the page server, whatever the embedding site is
        assert f"{echo_site.web_url}/widget.css" in requests
        assert f"{echo_site.web_url}/socket.io.min.js" in requests
        # the page's CSS does not reach into the widget (shadow DOM)
        color = w.launcher.evaluate("(b) => getComputedStyle(b).backgroundColor")
        assert color != "rgb(255, 0, 0)"
        assert page.console_watch.errors == []


def test_long_polling_fallback_across_origins(echo_site, page):
    """With websockets unavailable the widget uses HTTP long-polling, which needs the CORS
    headers `rasa run --cors` adds (the echo server configures CORS the same way)."""
    html = f"""<!doctype html><html><head><title>Polling</title><link rel="icon" href="data:,"></head>
      <body><script src="{echo_site.web_url}/widget.js" data-rasa-url="{echo_site.proxy.url}"
      data-transports="polling" data-title="Polling help"></script></body></html>"""
    with other_site(html, port=echo_site.shop_port) as site:
        urls: list[str] = []
        page.on("request", lambda r: urls.append(r.url))
        page.goto(f"{site}/")
        w = Widget(page, title="Polling help")
        w.open()
        assert w.say("over polling")[-1] == "You said: over polling"
        assert any("transport=polling" in u for u in urls)
        assert not any("transport=websocket" in u for u in urls)
        assert page.console_watch.errors == []


def test_a_site_that_is_not_configured_cannot_talk_to_the_bot(echo_site, page):
    """Before: Rasa answered any origin (`--cors "*"`, and websockets know no CORS), so any
    site could run the widget - or a script of its own - against the bot in its visitors'
    browsers. Now only SUPPORTBOT_CORS_ORIGINS may connect, over websocket or polling."""
    for transports in ("websocket", "polling"):
        html = f"""<!doctype html><html><head><title>Evil</title><link rel="icon" href="data:,"></head>
          <body><script src="{echo_site.web_url}/widget.js" data-rasa-url="{echo_site.proxy.url}"
          data-transports="{transports}" data-title="Evil help"></script></body></html>"""
        with other_site(html) as evil:  # a port nobody configured
            page.goto(f"{evil}/")
            w = Widget(page, title="Evil help")
            w.open()
            w.input.fill(f"sent from {transports}")
            w.input.press("Enter")
            expect()(w.status).to_contain_text("Cannot reach the assistant", timeout=10000)
            time.sleep(1.0)
            assert not page.evaluate("window.SupportbotWidget.isConnected()")
            assert w.session_id() is None
    assert not [m for m in received(echo_site) if m["text"].startswith("sent from")]


def test_a_stored_session_id_without_its_token_gets_a_new_conversation(echo_site, page, browser):
    """Before: the widget's stored id was all a browser needed to join a conversation's room
    and read its replies. Now the server gives a conversation back only with its token."""
    page.goto(echo_site.web_url + "/")
    w = Widget(page)
    w.open()
    w.say("my secret conversation")
    victim = w.session_id()
    stored = json.loads(page.evaluate("JSON.stringify(Object.assign({}, window.localStorage))"))
    (key, raw), = stored.items()
    state = json.loads(raw)
    assert state["sessionId"] == victim and state["sessionToken"]

    attacker = browser.new_context(viewport=DESKTOP)
    try:
        ap = attacker.new_page()
        ap.goto(echo_site.web_url + "/")
        forged = {**state, "sessionToken": None, "messages": [], "open": False}
        ap.evaluate("([k, v]) => window.localStorage.setItem(k, v)", [key, json.dumps(forged)])
        ap.reload()
        aw = Widget(ap)
        aw.open()
        aw.wait_connected()
        assert aw.session_id() not in (None, victim)
        assert aw.say("hello?")[-1] == "You said: hello?"
        # the victim's next reply reaches the victim only
        assert w.say("still mine")[-1] == "You said: still mine"
        time.sleep(0.5)
        assert not any("still mine" in t for t in aw.bot_texts())
    finally:
        attacker.close()
    mine = [m for m in received(echo_site) if m["sender_id"] == victim]
    assert [m["text"] for m in mine] == ["my secret conversation", "still mine"]
    assert {m["metadata"]["channel"] for m in mine} == {"widget"}


# ============================================================================ real Rasa

@dataclass
class RefundOrder:
    reference: str
    email: str


@pytest.fixture(scope="module")
def refund_order(bot_stack, tmp_path_factory) -> RefundOrder:
    """An automatically refundable order of this test's own (PixelForge: no restrictions, paid
    by card 2 days ago), added with `supportbot db import`, so the demo orders other e2e tests
    refund cannot change where this conversation goes."""
    reference = f"19{random.randrange(10**7):07d}"
    email = f"widget-{uuid.uuid4().hex[:8]}@example.com"
    placed = (datetime.now(timezone.utc) - timedelta(days=2)).replace(microsecond=0).isoformat()
    document = {
        "format_version": 1,
        "customers": [{"client": "pixelforge", "email": email, "name": "Wanda Widget", "country": "DE"}],
        "orders": [{
            "reference": reference, "client": "pixelforge", "customer_email": email,
            "placed_at": placed, "currency": "EUR", "net_minor": 4118, "vat_minor": 782,
            "total_minor": 4900, "payment_method": "credit_card", "status": "paid",
            "items": [{"product_name": "PixelForge Photo Editor 5", "sku": "PF-PE5", "quantity": 1,
                       "unit_price_minor": 4900}],
            "payments": [{"kind": "charge", "status": "completed", "amount_minor": 4900,
                          "method": "credit_card", "card": {"brand": "visa", "last4": "4242"},
                          "occurred_at": placed}],
        }],
    }
    path = tmp_path_factory.mktemp("widget-order") / "order.json"
    path.write_text(json.dumps(document))
    result = subprocess.run([sys.executable, "-m", "supportbot.cli", "db", "import", str(path)],
                            env={**os.environ, **bot_stack.env}, capture_output=True, text=True)
    assert result.returncode == 0, f"supportbot db import failed:\n{result.stdout}\n{result.stderr}"
    return RefundOrder(reference, email)


def _mailed_to(outbox: Path, address: str, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(address in p.read_text(errors="replace") for p in outbox.glob("*.eml")):
            return True
        time.sleep(0.3)
    return False


def _asks_for(replies: list[str], *words: str) -> bool:
    text = " ".join(replies).lower()
    return any(word in text for word in words)


REASON_BUTTON = re.compile(r"no longer|don.t need", re.I)


def _go_to_code_step(w: Widget, order: RefundOrder) -> list[str]:
    """'I want a refund' -> email -> order reference -> reason button -> the code request,
    answering whatever the bot asks for, in the order it asks."""
    replies = w.say("I want a refund")
    given: set[str] = set()
    for _ in range(8):
        text = " ".join(replies).lower()
        reason = w.page.locator(".sbw-quick-replies button").filter(has_text=REASON_BUTTON)
        if {"email", "reference"} <= given and "code" in text:
            return replies
        if reason.count():
            replies = w.click_reply(REASON_BUTTON)
            given.add("reason")
        elif "email" in text and "email" not in given:
            replies = w.say(order.email)
            given.add("email")
        elif ("reference" in text or "order number" in text) and "reference" not in given:
            replies = w.say(order.reference)
            given.add("reference")
        else:
            raise AssertionError(f"unexpected bot turn after {sorted(given)}: {replies}")
    raise AssertionError(f"the bot never asked for the one-time code: {w.bot_texts()[-4:]}")


@pytest.mark.e2e
def test_refund_conversation_in_the_widget_with_reload_and_masking(
        rasa_site, bot_stack, refund_order, browser, context, page):
    page.goto(rasa_site.web_url + "/")
    w = Widget(page)
    w.open()
    _go_to_code_step(w, refund_order)
    sid = w.session_id()
    assert refund_order.email in w.user_texts() and refund_order.reference in w.user_texts()
    assert _mailed_to(bot_stack.outbox_dir, refund_order.email), "no one-time code was mailed"
    screenshot(page, "rasa-desktop-refund-code-step")

    # the conversation is Rasa's conversation `sid`, over our socket.io channel (as stored)
    user_events = bot_stack.user_events(sid)
    assert {e["input_channel"] for e in user_events} == {"socketio"}
    assert {e["metadata"]["channel"] for e in user_events} == {"widget"}
    assert any(refund_order.reference in (e.get("text") or "") for e in user_events)

    # reload: same conversation, same history, same Rasa session
    shown = w.bot_texts()
    page.reload()
    w = Widget(page)
    expect()(w.dialog).to_be_visible()
    assert w.bot_texts() == shown and w.session_id() == sid
    w.wait_connected()

    # a card number typed into the widget never reaches the tracker store
    w.say(f"I paid with {CARD}")
    user_events = bot_stack.user_events(sid)
    dump = json.dumps(user_events)
    assert CARD not in dump and CARD_DIGITS not in dump
    assert any(MASKED in (e.get("text") or "") for e in user_events)
    assert CARD not in w.stored() and CARD_DIGITS not in w.stored()
    screenshot(page, "rasa-desktop-after-reload")

    # the same conversation on a phone (localStorage carried over)
    phone = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True, device_scale_factor=2,
                                storage_state=context.storage_state())
    try:
        phone_page = phone.new_page()
        phone_page.goto(rasa_site.web_url + "/")
        pw = Widget(phone_page)
        expect()(pw.dialog).to_be_visible()
        expect()(phone_page.locator(".sbw-msg-user .sbw-bubble").last).to_contain_text(MASKED)
        expect()(phone_page.locator(".sbw-msg").last).to_be_in_viewport()  # scrolled to the end
        assert pw.session_id() == sid
        screenshot(phone_page, "rasa-phone-conversation")
    finally:
        phone.close()
    assert page.console_watch.csp_violations() == []


@pytest.mark.e2e
def test_real_rasa_conversation_continues_after_a_dropped_connection(rasa_site, bot_stack, page):
    page.goto(rasa_site.web_url + "/")
    w = Widget(page)
    w.open()
    first = w.say("hello")
    assert first, "no greeting from the bot"
    sid = w.session_id()

    rasa_site.proxy.drop(down_for=3)
    expect()(w.status).to_contain_text("Reconnecting", timeout=5000)
    w.wait_connected(timeout=30)
    replies = w.say("I want a refund")
    assert _asks_for(replies, "email", "reference", "order"), replies
    assert w.session_id() == sid
    texts = [e.get("text") for e in bot_stack.user_events(sid)]
    assert texts[-2:] == ["hello", "I want a refund"]


@pytest.mark.e2e
def test_long_polling_fallback_works_cross_origin_with_real_rasa(rasa_site, bot_stack, page):
    """Where websockets are blocked the widget falls back to HTTP long-polling, which crosses
    origins and so needs Rasa's CORS headers (`rasa run --cors`)."""
    html = f"""<!doctype html><html><head><title>Polling</title><link rel="icon" href="data:,"></head>
      <body><script src="{rasa_site.web_url}/widget.js" data-rasa-url="{rasa_site.proxy.url}"
      data-transports="polling" data-title="Polling help"></script></body></html>"""
    with other_site(html, port=rasa_site.shop_port) as site:
        polls: list[str] = []
        page.on("request", lambda r: polls.append(r.url) if "transport=polling" in r.url else None)
        page.goto(f"{site}/")
        w = Widget(page, title="Polling help")
        w.open()
        assert w.say("hello"), "no reply over long-polling"
        assert polls, "the widget did not use long-polling"
        assert not any("transport=websocket" in u for u in polls)
        user = bot_stack.user_events(w.session_id())
        assert [e["text"] for e in user] == ["hello"]
