"""End-to-end conversations through the real Rasa server, action server and database."""
from __future__ import annotations

import pytest

from tests.conftest import db_rows, latest_code

pytestmark = pytest.mark.e2e


def _db_rows(stack, sql: str, **params):
    return db_rows(stack.database_url, sql, **params)


def _latest_code(stack, address: str, timeout: float = 10.0) -> str:
    """The newest one-time code mailed to `address` (read from the test outbox)."""
    return latest_code(stack.outbox_dir, address, timeout)


def _refunds_for(stack, reference: str) -> int:
    rows = _db_rows(stack, "select count(*) as n from refunds r join orders o on o.id = r.order_id "
                           "where o.reference = :ref", ref=reference)
    return rows[0]["n"]


# --- the first slice: small talk, out of scope, a person -------------------------------------

def test_small_talk(bot_stack):
    sender = bot_stack.new_sender()
    assert "support assistant" in bot_stack.texts(sender, "hello there")
    assert "virtual assistant" in bot_stack.texts(sender, "am I talking to a bot?")
    assert "welcome" in bot_stack.texts(sender, "thank you so much").lower()
    assert "goodbye" in bot_stack.texts(sender, "bye").lower()


def test_every_event_of_a_conversation_is_in_the_database(bot_stack):
    # the Rasa server really uses the SQL store of endpoints.yml (Rasa falls back to an
    # in-memory store, silently, when a configured store cannot be loaded)
    sender = bot_stack.new_sender()
    for message in ("hello there", "am I talking to a bot?", "thank you so much", "bye"):
        bot_stack.texts(sender, message)
    events = bot_stack.tracker(sender)["events"]
    stored = [r["type_name"] for r in _db_rows(bot_stack, "SELECT type_name FROM events WHERE sender_id = :s "
                                                          "ORDER BY id", s=sender)]
    assert stored == [e["event"] for e in events]
    assert stored.count("user") == 4


def test_out_of_scope_says_so_and_offers_what_it_can_do(bot_stack):
    sender = bot_stack.new_sender()
    replies = bot_stack.say(sender, "what's the weather going to be like in Paris tomorrow?")
    joined = " ".join(m.get("text", "") for m in replies)
    assert "not something I can help with" in joined
    assert any(m.get("buttons") for m in replies)


def test_contact_human_creates_a_ticket_and_pauses(bot_stack):
    sender = bot_stack.new_sender()
    reply = bot_stack.texts(sender, "I want to speak to a real person please")
    assert "Customer Service team (case #" in reply
    tickets = _db_rows(bot_stack, "select team, reason_code from handoff_tickets "
                                  "where conversation_id = :c", c=sender)
    assert [(t["team"], t["reason_code"]) for t in tickets] == [("customer_service", "customer_request")]
    # the bot is paused: no reply, but the message is kept for the team
    assert bot_stack.say(sender, "hello? my order number is 100000001") == []
    assert any("100000001" in (e.get("text") or "") for e in bot_stack.user_events(sender))


# --- refunds through the whole stack --------------------------------------------------------

def _verify(stack, sender, email, reference, opening="I would like a refund for my purchase"):
    stack.say(sender, opening)
    stack.say(sender, email)
    return stack.say(sender, reference)


def test_eligible_refund_is_issued_exactly_once(bot_stack):
    sender = bot_stack.new_sender("refund")
    replies = _verify(bot_stack, sender, "alice@example.com", "100000001")
    joined = " ".join(m.get("text", "") for m in replies)
    assert "I found order 100000001" in joined
    assert any("reason" in m.get("text", "") and m.get("buttons") for m in replies)
    code_prompt = bot_stack.texts(sender, '/inform{"refund_reason": "no_longer_needed"}')
    assert "6-digit code" in code_prompt
    assert "alice@example.com" not in code_prompt  # the address is masked
    confirm = bot_stack.texts(sender, _latest_code(bot_stack, "alice@example.com"))
    assert "I will refund 49.00 EUR for order 100000001 to your Visa card ending 4242" in confirm
    done = bot_stack.texts(sender, "yes please")
    assert "I've refunded 49.00 EUR" in done
    assert _refunds_for(bot_stack, "100000001") == 1
    # asking again, in a new conversation, never refunds twice
    again = bot_stack.new_sender("refund-again")
    replies = _verify(bot_stack, again, "alice@example.com", "100000001", "refund my order please")
    text_again = " ".join(m.get("text", "") for m in replies)
    text_again += bot_stack.texts(again, '/inform{"refund_reason": "other"}')
    assert "already been refunded" in text_again
    assert _refunds_for(bot_stack, "100000001") == 1


def test_ineligible_refund_goes_to_the_right_team_and_refunds_nothing(bot_stack):
    sender = bot_stack.new_sender("bob")
    _verify(bot_stack, sender, "bob@example.com", "100000002")
    reply = bot_stack.texts(sender, '/inform{"refund_reason": "no_longer_needed"}')
    assert "Customer Service team (case #" in reply
    assert _refunds_for(bot_stack, "100000002") == 0
    tickets = _db_rows(bot_stack, "select team, reason_code from handoff_tickets where conversation_id = :c",
                       c=sender)
    assert [t["team"] for t in tickets] == ["customer_service"]
    assert tickets[0]["reason_code"] == "refund_window_passed"


def test_a_wrong_email_reveals_nothing(bot_stack):
    sender = bot_stack.new_sender("wrong")
    replies = _verify(bot_stack, sender, "mallory@example.com", "100000001")
    joined = " ".join(m.get("text", "") for m in replies)
    assert "couldn't find an order with that email address and order reference together" in joined
    for secret in ("alice", "49.00", "Visa", "4242", "PhotoPro"):
        assert secret not in joined


def test_a_guessed_code_is_refused_and_throttled(bot_stack):
    sender = bot_stack.new_sender("guess")
    _verify(bot_stack, sender, "mia@example.com", "100000014")
    assert "6-digit code" in bot_stack.texts(sender, '/inform{"refund_reason": "other"}')
    real = _latest_code(bot_stack, "mia@example.com")
    replies = []
    for guess in ("123456", "234567", "345678", "456789", "567890", "678901"):
        if guess == real:
            continue
        replies.append(bot_stack.texts(sender, guess))
        if "too many times" in replies[-1]:
            break
    assert "doesn't match" in replies[0]
    assert "too many times" in replies[-1]
    assert _refunds_for(bot_stack, "100000014") == 0
