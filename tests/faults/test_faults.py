"""Faults with the real processes: nothing is lost, nothing happens twice, the customer is told.

- the action server killed while a refund is at the payment provider (SIGKILL, mid-call): one
  refund at most, a clear reply instead of silence, and the conversation goes on once the
  action server is back;
- the database gone for a turn: a clear apology, the conversation is not restarted empty, and
  the message sent meanwhile is in the conversation once the database is back.
"""
from __future__ import annotations

import threading
import time

import pytest

from supportbot.rasa_server.failures import ACTION_FAILED_REPLY, STORE_UNAVAILABLE_REPLY

pytestmark = pytest.mark.e2e


def _refunds(stack, reference: str) -> list:
    return stack.rows("SELECT r.status, r.amount_minor, r.provider_idempotency_key FROM refunds r "
                      "JOIN orders o ON o.id = r.order_id WHERE o.reference = :ref", ref=reference)


def _user_texts(stack, sender: str) -> list[str]:
    return [r["data"] for r in stack.rows(
        "SELECT data FROM events WHERE sender_id = :s AND type_name = 'user' ORDER BY id", s=sender)]


def _event_types(stack, sender: str) -> list[str]:
    return [r["type_name"] for r in stack.rows(
        "SELECT type_name FROM events WHERE sender_id = :s ORDER BY id", s=sender)]


def _until(predicate, timeout: float = 20.0, step: float = 0.25):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    return predicate()


def _to_the_question(stack, sender, email, reference, reason="no_longer_needed") -> str:
    stack.say(sender, "I would like a refund for my purchase")
    stack.say(sender, email)
    assert f"I found order {reference}" in stack.texts(sender, reference)
    assert "6-digit code" in stack.texts(sender, f'/inform{{"refund_reason": "{reason}"}}')
    return stack.texts(sender, stack.latest_code(email))


def test_the_action_server_killed_mid_refund_refunds_once_and_the_customer_goes_on(fault_stack, provider):
    stack, reference, email = fault_stack, "100000001", "alice@example.com"
    sender = stack.new_sender("killed")
    question = _to_the_question(stack, sender, email, reference)
    assert "I will refund 49.00 EUR for order 100000001" in question, question

    answer: dict = {}
    turn = threading.Thread(target=lambda: answer.update(r=stack.post(sender, "yes please")))
    turn.start()
    assert provider.called.wait(60), "the refund never reached the payment provider"
    stack.actions.kill()  # the refund is at the provider: the action server dies now
    turn.join(120)
    response = answer["r"]
    assert response.status_code == 200
    replies = " ".join(m.get("text", "") for m in response.json())
    assert ACTION_FAILED_REPLY in replies, replies  # a clear reply, not silence
    assert "I've refunded" not in replies

    stack.restart_actions()
    # the customer goes on: says yes again, then asks where the money is
    again = stack.texts(sender, "yes please")
    assert again.strip(), "no reply after the action server came back"
    status = stack.texts(sender, "what is the status of my refund?")
    assert status.strip()
    print(f"killed mid-refund: {replies!r}\nafter the restart, yes again: {again!r}\n"
          f"status: {status!r}\nprovider calls: {provider.calls}")
    provider.release.set()
    # one refund, one provider key: the retry did not send the money a second time
    refunds = _refunds(stack, reference)
    assert len(refunds) == 1, refunds
    # the refund the killed process left at the provider stays pending (reconciled with its
    # provider key), it is neither booked twice nor issued again
    assert refunds[0]["status"] == "pending" and refunds[0]["provider_idempotency_key"] == provider.calls[0]["key"]
    assert len({call["key"] for call in provider.calls}) == 1, provider.calls
    assert all(call["order_reference"] == reference for call in provider.calls)
    assert ACTION_FAILED_REPLY not in again + status
    assert all(code == 200 for code in stack.statuses)


def test_the_database_gone_for_a_turn_apologises_keeps_the_message_and_restarts_nothing(fault_stack):
    stack, reference, email = fault_stack, "100000014", "mia@example.com"
    sender = stack.new_sender("db-away")
    stack.say(sender, "I would like a refund for my purchase")
    stack.say(sender, email)
    assert f"I found order {reference}" in stack.texts(sender, reference)
    assert "6-digit code" in stack.texts(sender, '/inform{"refund_reason": "other"}')
    code = stack.latest_code(email)
    before = _event_types(stack, sender)
    assert before.count("session_started") == 1

    lost = "are you still there? my order is the Password Manager one"
    with stack.outage():
        response = stack.post(sender, lost, timeout=120)
        assert response.status_code == 200
        replies = [m.get("text", "") for m in response.json()]
        assert replies == [STORE_UNAVAILABLE_REPLY], replies

    # the message sent while the database was away is written into the conversation
    assert _until(lambda: any(lost in text for text in _user_texts(stack, sender))), \
        _user_texts(stack, sender)
    # ... and the conversation was not started again (no second session, nothing dropped)
    after = _event_types(stack, sender)
    assert after[:len(before)] == before
    assert after.count("session_started") == 1
    # the customer goes on where they were: email, order and reason are still known
    question = stack.texts(sender, code)
    print(f"database away: {replies!r}\nevents after: {after}\nnext turn: {question!r}")
    assert "I will refund 35.88 EUR for order 100000014" in question, question
    stack.texts(sender, "no")
    assert _refunds(stack, reference) == []
    assert all(code == 200 for code in stack.statuses)
