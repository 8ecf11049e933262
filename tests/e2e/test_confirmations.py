"""Money and subscription changes through the whole stack (Rasa with the trained model, our
authenticated action server, the database): the one-time code and an explicit, server-side
recorded "yes" before anything changes; the action server refuses callers without the secret."""
from __future__ import annotations

import pytest
import requests
from sqlalchemy import create_engine, text

from tests.e2e.test_conversation import _latest_code

pytestmark = pytest.mark.e2e

JUDY = ("100000011", "judy@example.com")  # ClearFace yearly, cancelled, period not ended
IVAN = ("100000010", "ivan@example.com")  # ClearFace yearly, active


def _subscription(stack, reference):
    engine = create_engine(stack.database_url, future=True)
    try:
        with engine.connect() as conn:
            return conn.execute(text(
                "SELECT s.auto_renew, s.status FROM subscriptions s JOIN orders o ON o.id = s.order_id "
                "WHERE o.reference = :r"), {"r": reference}).mappings().one()
    finally:
        engine.dispose()


def test_the_action_server_refuses_a_caller_without_the_secret(bot_stack):
    response = requests.post(f"{bot_stack.action_url}/webhook", timeout=10,
                             json={"next_action": "action_hand_off", "sender_id": "x",
                                   "tracker": {"sender_id": "x", "events": []}})
    assert response.status_code == 401
    # ... while Rasa, which has it, gets its actions run (a verified order, below)


def test_reactivating_a_subscription_needs_the_code_and_a_yes(bot_stack):
    reference, email = JUDY
    sender = bot_stack.new_sender("reactivate")
    assert not _subscription(bot_stack, reference)["auto_renew"]
    bot_stack.say(sender, "I cancelled my subscription by mistake, please reactivate it")
    bot_stack.say(sender, email)
    reply = bot_stack.texts(sender, reference)
    # email + reference alone: the bot asks for the code, nothing has changed
    assert "6-digit code" in reply, reply
    assert not _subscription(bot_stack, reference)["auto_renew"]
    question = bot_stack.texts(sender, _latest_code(bot_stack, email))
    assert "I will switch auto-renewal back on for" in question and "299.00 EUR/year" in question
    assert "Shall I go ahead?" in question
    assert not _subscription(bot_stack, reference)["auto_renew"]
    done = bot_stack.texts(sender, "yes please")
    assert "active again" in done, done
    assert _subscription(bot_stack, reference)["auto_renew"]


def test_no_to_the_cancellation_question_keeps_the_subscription(bot_stack):
    reference, email = IVAN
    sender = bot_stack.new_sender("cancel-no")
    bot_stack.say(sender, "please stop my subscription from renewing")
    bot_stack.say(sender, email)
    assert "6-digit code" in bot_stack.texts(sender, reference)
    question = bot_stack.texts(sender, _latest_code(bot_stack, email))
    assert "I will turn off auto-renewal for" in question
    bot_stack.texts(sender, "no")
    row = _subscription(bot_stack, reference)
    assert row["auto_renew"] and row["status"] == "active"
