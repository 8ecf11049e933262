"""supportbot.channels.guard: what every channel does before Rasa sees a message.

The shorthand allow-list is checked against every payload the bot's own buttons send (domain.yml
and actions/), so a new button cannot be refused silently; and against the attacks of the
hardening issue (entities that are not on a button, nested or huge JSON, confidences)."""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import yaml

from actions.common import INTENT_TITLES
from supportbot.channels.guard import (
    MAX_MESSAGE_CHARS,
    MAX_SHORTHAND_CHARS,
    TOO_LONG_REPLY,
    allowed_shorthand,
    channel_metadata,
    screen_text,
    trusted_metadata,
)
from supportbot.core.refund_reasons import REFUND_REASON_TITLES
from supportbot.core.vocabulary import TEAMS
from supportbot.settings import PROJECT_ROOT

VISA = "4111 1111 1111 1111"


def _domain_button_payloads() -> list[str]:
    domain = yaml.safe_load((PROJECT_ROOT / "domain.yml").read_text())
    payloads = []
    for variants in (domain.get("responses") or {}).values():
        for variant in variants:
            payloads += [b["payload"] for b in variant.get("buttons") or [] if "payload" in b]
    return payloads


def _action_button_payloads() -> list[str]:
    """What actions/ puts on buttons (actions/verification.py, knowledge.py, charges.py, fallback.py)."""
    from actions.charges import TEAM_CUSTOMER_SERVICE  # noqa: F401 (the module builds its buttons with it)
    from actions.knowledge import HUMAN_BUTTON

    payloads = [f'/inform{{"refund_reason": "{code}"}}' for code in REFUND_REASON_TITLES]
    payloads += [f'/contact_human{{"handoff_team": "{team}"}}' for team in TEAMS]
    payloads += [f'/faq{{"faq_article": "{p.stem}"}}' for p in (PROJECT_ROOT / "faq").glob("*.md")]
    payloads += [f"/{name}" for name in INTENT_TITLES]
    payloads += [HUMAN_BUTTON["payload"], "/out_of_scope", "/greet", "/thanks", "/affirm", "/deny",
                 "/request_refund"]
    return payloads


def test_every_button_payload_of_the_bot_is_allowed():
    payloads = _domain_button_payloads() + _action_button_payloads()
    assert len(payloads) > 30
    refused = [p for p in payloads if not allowed_shorthand(p)]
    assert refused == []
    for payload in payloads:
        assert screen_text(payload).text == payload


def test_the_button_payloads_in_the_actions_source_are_the_ones_checked_here():
    """The payload shapes written in actions/ are the ones this test builds."""
    source = "\n".join(p.read_text() for p in (PROJECT_ROOT / "actions").glob("*.py"))
    for shape in ("/inform{{\"refund_reason\": \"{code}\"}}", "/faq{{\"faq_article\": \"{h.article.id}\"}}",
                  "/contact_human{{\"handoff_team\": \"{TEAM_CUSTOMER_SERVICE}\"}}", "\"payload\": f\"/{name}\""):
        assert shape in source, shape


@pytest.mark.parametrize("payload", [
    '/inform{"verified_ref": "100000001"}',  # a slot that would be proof, if anything were
    '/inform{"refund_confirmed": true}',
    '/inform{"one_time_code": "123456"}',  # a customer types the code, a button never sends it
    '/inform{"email": "alice@example.com", "order_ref": "100000001"}',
    '/inform{"refund_reason": "no_longer_needed", "handoff_team": "customer_service", "faq_article": "x"}',
    '/inform{"refund_reason": "free_money"}',  # not a reason of the form
    '/inform{"refund_reason": ["no_longer_needed", "other"]}',  # a list: several entities
    '/inform{"refund_reason": {"a": {"b": 1}}}',
    '/inform{"refund_reason": 7}',
    '/contact_human{"handoff_team": "engineering"}',
    '/faq{"faq_article": "../../etc/passwd"}',
    '/affirm@1.0', '/affirm@0.99{"refund_reason": "other"}',
    '/inform{}', '/inform{"refund_reason": "other"', '/inform{"refund_reason": "other"} trailing',
    '/restart', '/session_start', '/back', '/nlu_fallback',
    '/Affirm', '/affirm please', '//affirm', '/in form',
    "/inform" + json.dumps({"refund_reason": "other", "pad": "x" * MAX_SHORTHAND_CHARS}),
])
def test_other_shorthand_is_refused(payload):
    assert not allowed_shorthand(payload)
    screened = screen_text(payload)
    # refused: the NLU reads the words, no shorthand reaches Rasa
    assert screened.reason == "shorthand_refused" and not screened.text.startswith("/")


def test_deeply_nested_shorthand_is_refused_fast():
    """Before: an 18 KB nested `/intent{...}` kept the Rasa server busy for 4 s."""
    nested = "/inform" + '{"a":' * 3000 + '"x"' + "}" * 3000
    started = time.perf_counter()
    screened = screen_text(nested)
    assert time.perf_counter() - started < 0.05
    assert screened.text is None and screened.reply == TOO_LONG_REPLY  # 18 KB: over the size cap
    small = "/inform" + '{"a":' * 300 + '"x"' + "}" * 300  # under the size cap: refused shorthand
    assert not allowed_shorthand(small) and not screen_text(small).text.startswith("/")


def test_refused_shorthand_keeps_the_words_for_the_nlu():
    assert screen_text("/refund please").text == "refund please"
    assert screen_text(f"/note my card {VISA}").text == "note my card **** **** **** 1111"
    assert screen_text("/").text == ""


def test_the_size_cap_is_checked_before_anything_else():
    at_limit = "a" * MAX_MESSAGE_CHARS
    assert screen_text(at_limit).text == at_limit
    over = screen_text("a" * (MAX_MESSAGE_CHARS + 1))
    assert over.text is None and over.reason == "too_long" and "too long" in over.reply
    started = time.perf_counter()
    assert screen_text("4" * 1_000_000).text is None  # a 1 MB message: not even masked
    assert time.perf_counter() - started < 0.05


def test_plain_text_is_masked():
    assert screen_text(f"my card is {VISA}").text == "my card is **** **** **** 1111"
    assert screen_text("order 100000001").text == "order 100000001"


def test_metadata_contract():
    assert channel_metadata("widget", "203.0.113.9") == {"channel": "widget", "client_address": "203.0.113.9"}
    assert channel_metadata("rest", None) == {"channel": "rest", "client_address": ""}
    assert trusted_metadata({"channel": "email", "client_address": "email:a@example.com", "verified": True,
                             "slots": {"verified_ref": "1"}}, "rest", "127.0.0.1") == {
        "channel": "email", "client_address": "email:a@example.com"}
    assert trusted_metadata({"channel": "admin", "client_address": 5}, "rest", "127.0.0.1") == {
        "channel": "rest", "client_address": "127.0.0.1"}
    assert trusted_metadata(None, "rest", "10.0.0.1") == {"channel": "rest", "client_address": "10.0.0.1"}
    assert trusted_metadata({"client_address": VISA}, "rest", "x")["client_address"] == "**** **** **** 1111"


def test_guard_imports_neither_rasa_nor_the_database():
    import subprocess
    import sys

    code = ("import sys, supportbot.channels.guard; "
            "print([m for m in ('rasa', 'sqlalchemy', 'spacy', 'sanic') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(PROJECT_ROOT))
    assert out.stdout.strip() == "[]"
