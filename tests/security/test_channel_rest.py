"""Attacks on Rasa's REST channel (supportbot.channels.masking.MaskingRestInput), through the
real Rasa server with the trained model (tests/e2e/conftest.py `bot_stack`).

Before: anyone could POST any `sender` (a missing one landed in the shared `default`
conversation); malformed bodies gave 500; a 1 MB message kept the server busy for 13 s; an 18 KB
nested `/intent{...}` for 4 s; `/intent{...}` could set any entity; metadata was stored as sent;
card numbers with dots, tabs, newlines, slashes or no-break spaces were stored in clear.
"""
from __future__ import annotations

import json
import threading
import time

import pytest
import requests

from supportbot.channels.guard import MAX_MESSAGE_CHARS, TOO_LONG_REPLY
from tests.conftest import db_rows

pytestmark = pytest.mark.e2e


def _sent(metadata: dict) -> dict:
    """A stored user event's metadata without what Rasa adds itself."""
    return {k: v for k, v in metadata.items() if k not in ("model_id", "assistant_id")}


def _user_events(stack, sender: str) -> list[dict]:
    return stack.user_events(sender)


# ---- a token, and a sender --------------------------------------------------------------
def test_no_token_no_turn(bot_stack):
    sender = bot_stack.new_sender("notoken")
    body = {"sender": sender, "message": "hello"}
    for token in ("", "wrong", bot_stack.rest_token[:-1], bot_stack.rest_token + "x", bot_stack.token):
        response = bot_stack.post(body, token=token)
        assert response.status_code == 401, token
        assert response.json() == {"error": "unauthorized"}
    # Basic, or the token as a query parameter, is not a bearer token
    assert requests.post(bot_stack.webhook_url, json=body, timeout=30,
                         headers={"Authorization": f"Basic {bot_stack.rest_token}"}).status_code == 401
    assert requests.post(bot_stack.webhook_url, json=body, params={"token": bot_stack.rest_token},
                         timeout=30).status_code == 401
    assert _user_events(bot_stack, sender) == []
    assert bot_stack.post(body).status_code == 200  # the caller with the token


def test_a_missing_sender_is_an_error_not_the_shared_default_conversation(bot_stack):
    before = len(_user_events(bot_stack, "default"))
    for body in ({"message": "hello, my email is alice@example.com"}, {"sender": "", "message": "hi"},
                 {"sender": None, "message": "hi"}):
        response = bot_stack.post(body)
        assert response.status_code == 400 and "sender" in response.json()["error"]
    assert len(_user_events(bot_stack, "default")) == before


@pytest.mark.parametrize("data,error", [
    (json.dumps({"sender": "s-malformed", "message": 42}), "message"),
    (json.dumps({"sender": "s-malformed", "message": ["a", "b"]}), "message"),
    (json.dumps({"sender": "s-malformed", "message": {"text": "a"}}), "message"),
    (json.dumps({"sender": "s-malformed"}), "message"),
    (json.dumps({"sender": 7, "message": "hi"}), "sender"),
    (json.dumps({"sender": "a b/../c", "message": "hi"}), "sender"),
    (json.dumps({"sender": "s-malformed", "message": "hi", "metadata": [1]}), "metadata"),
    ("", "empty"),
    ("   ", "empty"),
    ("[]", "object"),
    (json.dumps([{"sender": "s-malformed", "message": "hi"}]), "object"),
    ("null", "object"),
    ('"hello"', "object"),
    ("{not json", "JSON"),
    ('{"sender": "s-malformed", "message": "hi"', "JSON"),
    ("[" * 100000 + "]" * 100000, "JSON"),
    (b"\xff\xfe\x00garbage", "JSON"),
])
def test_malformed_bodies_get_400_with_a_clear_error(bot_stack, data, error):
    response = bot_stack.post(data=data, headers={"Content-Type": "application/json"})
    assert response.status_code == 400, response.text
    assert error.lower() in response.json()["error"].lower()
    assert _user_events(bot_stack, "s-malformed") == []


def test_a_body_over_the_limit_is_refused_with_413(bot_stack):
    response = bot_stack.post({"sender": bot_stack.new_sender("huge"), "message": "a" * (3 * 1024 * 1024)})
    assert response.status_code == 413 and "larger" in response.json()["error"]


# ---- caps before NLU ----------------------------------------------------------------------
def _timed_turn(stack, sender, text, results, key):
    started = time.perf_counter()
    response = stack.post({"sender": sender, "message": text}, timeout=120)
    results[key] = (time.perf_counter() - started, response)


def test_a_1_mb_message_gets_a_clear_reply_at_once_and_blocks_nobody(bot_stack):
    attacker, customer = bot_stack.new_sender("mega"), bot_stack.new_sender("bystander")
    bot_stack.say(customer, "hello")  # warm
    results: dict = {}
    flood = threading.Thread(target=_timed_turn, args=(bot_stack, attacker, "refund " * 150_000, results, "mega"))
    flood.start()
    time.sleep(0.05)
    _timed_turn(bot_stack, customer, "am I talking to a bot?", results, "customer")
    flood.join(120)
    seconds, response = results["mega"]
    assert response.status_code == 200
    assert [m["text"] for m in response.json()] == [TOO_LONG_REPLY]
    assert seconds < 2.0, f"the 1 MB message took {seconds:.1f} s"
    customer_seconds, customer_response = results["customer"]
    assert customer_response.status_code == 200 and "virtual assistant" in customer_response.text
    assert customer_seconds < 5.0, f"another conversation waited {customer_seconds:.1f} s"
    # nothing of it was stored, and the conversation goes on
    assert _user_events(bot_stack, attacker) == []
    assert "support assistant" in bot_stack.texts(attacker, "hello there")


def test_a_message_at_the_limit_is_read_and_one_over_is_not(bot_stack):
    sender = bot_stack.new_sender("limit")
    at = "I want a refund please. " * (MAX_MESSAGE_CHARS // 24)
    at = at + "x" * (MAX_MESSAGE_CHARS - len(at))
    started = time.perf_counter()
    replies = bot_stack.say(sender, at)
    seconds = time.perf_counter() - started
    assert replies and [m.get("text") for m in replies] != [TOO_LONG_REPLY]
    assert seconds < 10.0, f"a {MAX_MESSAGE_CHARS}-character message took {seconds:.1f} s"
    assert [m["text"] for m in bot_stack.say(sender, at + "x")] == [TOO_LONG_REPLY]
    assert len(_user_events(bot_stack, sender)) == 1


def test_nested_shorthand_is_cheap(bot_stack):
    sender = bot_stack.new_sender("nested")
    big = "/inform" + '{"refund_reason":' * 1500 + '"other"' + "}" * 1500  # 27 KB
    started = time.perf_counter()
    assert [m["text"] for m in bot_stack.say(sender, big)] == [TOO_LONG_REPLY]
    assert time.perf_counter() - started < 2.0
    small = "/inform" + '{"a":' * 600 + '"x"' + "}" * 600  # under the size cap: words for the NLU
    started = time.perf_counter()
    bot_stack.say(sender, small)
    assert time.perf_counter() - started < 10.0
    (event,) = _user_events(bot_stack, sender)
    assert not event["text"].startswith("/") and event["parse_data"]["entities"] == []


# ---- the shorthand proves nothing ----------------------------------------------------------
FORGED = [
    '/inform{"verified_ref": "100000001"}',
    '/inform{"refund_confirmed": true, "one_time_code": "123456"}',
    '/affirm@1.0{"refund_reason": "other"}',
    '/inform{"refund_reason": {"nested": ["no_longer_needed"]}}',
    '/restart',
]


def test_forged_shorthand_sets_no_entity_and_no_slot(bot_stack):
    sender = bot_stack.new_sender("forged")
    for payload in FORGED:
        bot_stack.say(sender, payload)
    events = _user_events(bot_stack, sender)
    assert len(events) == len(FORGED)
    for event in events:
        assert not event["text"].startswith("/")  # read as words: no shorthand reached Rasa
        entities = event["parse_data"].get("entities") or []
        # nothing set by the shorthand (Rasa's RegexMessageHandler); the NLU may still find in
        # the words what a customer could type anyway (a 6-digit code)
        assert not [e for e in entities if e.get("extractor") == "RegexMessageHandler"], entities
        assert not {e["entity"] for e in entities} & {"verified_ref", "refund_confirmed", "refund_reason"}
    stored = db_rows(bot_stack.database_url, "SELECT type_name, data FROM events WHERE sender_id = :s", s=sender)
    assert not any(r["type_name"] == "restart" for r in stored)
    for row in stored:
        if row["type_name"] == "slot":
            slot = json.loads(row["data"])
            assert slot["name"] not in ("verified_ref", "refund_confirmed") or slot["value"] is None, slot


def test_the_buttons_shorthand_still_works(bot_stack):
    sender = bot_stack.new_sender("button")
    bot_stack.say(sender, "I would like a refund for my purchase")
    bot_stack.say(sender, '/inform{"refund_reason": "no_longer_needed"}')
    (_, event) = _user_events(bot_stack, sender)
    assert event["parse_data"]["intent"] == {"name": "inform", "confidence": 1.0}
    assert [(e["entity"], e["value"]) for e in event["parse_data"]["entities"]] == [
        ("refund_reason", "no_longer_needed")]


# ---- metadata -------------------------------------------------------------------------------
def test_only_channel_and_client_address_are_kept_from_the_body(bot_stack):
    sender = bot_stack.new_sender("meta")
    bot_stack.post({"sender": sender, "message": "hello", "input_channel": "socketio",
                    "metadata": {"channel": "email", "client_address": "email:alice@example.com",
                                 "verified": True, "slots": {"verified_ref": "100000001"}}}).raise_for_status()
    bot_stack.post({"sender": sender, "message": "thanks"}).raise_for_status()
    first, second = _user_events(bot_stack, sender)
    assert _sent(first["metadata"]) == {"channel": "email", "client_address": "email:alice@example.com"}
    assert _sent(second["metadata"]) == {"channel": "rest", "client_address": "127.0.0.1"}
    assert {first["input_channel"], second["input_channel"]} == {"rest"}


# ---- card numbers, whatever the separators ------------------------------------------------------
@pytest.mark.parametrize("card", ["4111.1111.1111.1111", "4111  1111  1111  1111", "4111\t1111\t1111\t1111",
                                  "4111\n1111\n1111\n1111", "4111/1111/1111/1111",
                                  "4111\u00a01111\u00a01111\u00a01111", "4111\u202f1111\u202f1111\u202f1111",
                                  "5500-0000-0000-0004", "3782 822463 10005"])
def test_card_numbers_never_reach_the_tracker_store(bot_stack, card):
    sender = bot_stack.new_sender("card")
    digits = "".join(ch for ch in card if ch.isdigit())
    bot_stack.say(sender, f"I paid with {card} for order 100000001")
    strings = _stored_strings(bot_stack, sender)
    assert strings, "nothing stored"
    for value in strings:
        assert digits[:8] not in "".join(ch for ch in value if ch.isdigit()), value
    for event in _user_events(bot_stack, sender):
        assert f"**** **** **** {digits[-4:]}" in event["text"] and "100000001" in event["text"]


def _stored_strings(stack, sender: str) -> list[str]:
    """Every string in the rows the tracker store wrote for `sender` (decoded JSON)."""
    out: list[str] = []

    def walk(value):
        if isinstance(value, str):
            out.append(value)
        elif isinstance(value, dict):
            for k, v in value.items():
                walk(k)
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)

    rows = db_rows(stack.database_url, "SELECT data FROM events WHERE sender_id = :s ORDER BY id", s=sender)
    for row in rows:
        walk(json.loads(row["data"]))
    return out
