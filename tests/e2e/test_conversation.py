"""End-to-end conversations through the real Rasa server, action server and database."""
from __future__ import annotations

import re
import time
from email import policy
from email.parser import BytesParser

import pytest
from sqlalchemy import create_engine, text

pytestmark = pytest.mark.e2e


def _db_rows(stack, sql: str, **params):
    engine = create_engine(stack.database_url, future=True)
    try:
        with engine.connect() as conn:
            return conn.execute(text(sql), params).mappings().all()
    finally:
        engine.dispose()


def _latest_code(stack, address: str, timeout: float = 10.0) -> str:
    """The newest one-time code mailed to `address` (read from the test outbox)."""
    parser = BytesParser(policy=policy.default)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for path in sorted(stack.outbox_dir.glob("*.eml"), reverse=True):
            message = parser.parsebytes(path.read_bytes())
            if address in str(message["To"]):
                body = message.get_body(preferencelist=("plain",)).get_content()
                match = re.search(r"\b(\d{6})\b", body)
                if match:
                    return match.group(1)
        time.sleep(0.3)
    raise AssertionError(f"no code mailed to {address}")


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
    events = bot_stack.tracker(sender)["events"]
    assert any(e.get("event") == "user" and "100000001" in (e.get("text") or "") for e in events)
