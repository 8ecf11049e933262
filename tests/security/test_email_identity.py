"""Hardening issue, item 3: the email `From:` was believed.

A mail with a forged `From:` of a customer who had an active, verified email conversation
(plus `Reply-To:` the attacker) joined that conversation; the reply, with the customer's
order and refund status, went to the attacker, together with the conversation id in a header.

Here the bridge runs for real (its aiosmtpd listener, worker and spool) with a real SMTP relay
(a sink we read), on a database holding the core's tables and the demo data; the bot is a
small stand-in that asks the real core (SupportServices) whether the conversation verified an
order (tests/unit/email_bridge/email_helpers.CoreBrain). tests/e2e/test_email_bridge.py
repeats the main attack against the real Rasa server and action server.
"""
from __future__ import annotations

import re

import pytest

from supportbot.channels.email_bridge import store
from tests.unit.email_bridge.email_helpers import EmailWorld, make_mail, wait_until

ALICE = "alice@example.com"
MALLORY = "mallory@evil.example"
ORDER_DATA = ("49.00 EUR", "4242", "PixelForge")


@pytest.fixture
def world(tmp_path):
    w = EmailWorld(tmp_path)
    yield w
    w.close()


def _body(message) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()


def _to(message) -> str:
    return str(message["To"]).lower()


def _alice_verifies(world) -> tuple:
    """Alice writes from her own address and verifies her order: the reply has her order."""
    first = make_mail(f"Hello, my order is 100000001 and my email is {ALICE}. Any refund news?",
                      subject="My refund", sender=f"Alice <{ALICE}>")
    world.send(first)
    reply = world.sink.wait_for(1)[0]
    assert ALICE in _to(reply) and "49.00 EUR" in _body(reply)
    [conversation] = world.rows(store.conversations)
    return first, reply, conversation["id"]


def _data_recipients(world) -> set[str]:
    """Envelope recipients of every mail that carried order data."""
    with world.sink.handler.cond:
        pairs = list(zip(world.sink.handler.envelopes, world.sink.handler.messages, strict=True))
    return {rcpt for (_sender, rcpts), message in pairs
            for rcpt in rcpts if any(fact in _body(message) for fact in ORDER_DATA)}


def _mail_to(world, address: str):
    return [m for m in world.sink.messages if address in _to(m)]


def test_forged_from_with_reply_to_does_not_join_the_verified_conversation(world):
    _first, _reply, conversation = _alice_verifies(world)
    forged = make_mail("What is my refund status?", subject="Refund status",
                       sender=f"Alice <{ALICE}>", headers={"Reply-To": f"Alice <{MALLORY}>"})
    world.send(forged, mail_from=MALLORY)
    world.sink.wait_for(2)
    wait_until(lambda: all(r["status"] != "received" for r in world.rows(store.inbound)))

    to_mallory = _mail_to(world, MALLORY)
    assert to_mallory, "the attacker's own (unverified) conversation still gets an answer"
    for message in to_mallory:
        assert not any(fact in _body(message) for fact in ORDER_DATA), _body(message)
    # the forged mail started a conversation of its own; Rasa never saw it in Alice's
    assert world.rasa.calls[-1]["sender"] != conversation
    assert [c["sender"] for c in world.rasa.calls].count(conversation) == 1


def test_thread_headers_of_the_customers_own_mail_do_not_join(world):
    """Only Message-IDs the bridge itself sent (secret, random) join a conversation: the
    customer's own Message-ID is seen by everyone the customer wrote to (Cc, mailing lists)."""
    first, _reply, conversation = _alice_verifies(world)
    forged = make_mail("And my refund status?", subject="Re: My refund", sender=f"Alice <{ALICE}>",
                       in_reply_to=first["Message-ID"], references=first["Message-ID"],
                       headers={"Reply-To": MALLORY})
    world.send(forged, mail_from=MALLORY)
    world.sink.wait_for(2)
    for message in _mail_to(world, MALLORY):
        assert not any(fact in _body(message) for fact in ORDER_DATA), _body(message)
    assert world.rasa.calls[-1]["sender"] != conversation


def test_a_verified_conversations_reply_goes_only_to_the_orders_address(world):
    """Even inside the thread (our secret Message-ID), a Reply-To elsewhere is not followed
    once the conversation verified an order: its data goes to the order's email only."""
    first, reply, conversation = _alice_verifies(world)
    follow = make_mail("Thanks, and the refund status?", subject="Re: My refund", sender=f"Alice <{ALICE}>",
                       in_reply_to=reply["Message-ID"], references=f"{first['Message-ID']} {reply['Message-ID']}",
                       headers={"Reply-To": MALLORY})
    world.send(follow, mail_from=MALLORY)
    world.sink.wait_for(2)
    assert world.rasa.calls[-1]["sender"] == conversation  # the thread continued...
    assert _data_recipients(world) == {ALICE}  # ... but only Alice's address got order data
    for message in _mail_to(world, MALLORY):
        assert not any(fact in _body(message) for fact in ORDER_DATA), _body(message)


def test_an_attacker_verifying_someone_elses_order_by_mail_gets_no_order_data(world):
    """Email + reference are enough to see an order in chat, but by email the answer goes to
    the order's address, whoever asked (From/Reply-To are not proof of anything)."""
    forged = make_mail(f"my order is 100000001, email {ALICE}", subject="Order",
                       sender=f"Alice <{MALLORY}>")
    world.send(forged, mail_from=MALLORY)
    wait_until(lambda: all(r["status"] not in ("received", "processing") for r in world.rows(store.inbound)))
    wait_until(lambda: len(world.sink.messages) >= 1)
    assert _data_recipients(world) <= {ALICE}
    for message in _mail_to(world, MALLORY):
        assert not any(fact in _body(message) for fact in ORDER_DATA), _body(message)


def test_no_conversation_id_in_any_header_or_body_and_ids_are_unguessable(world):
    _first, _reply, conversation = _alice_verifies(world)
    world.send(make_mail("hello", sender="Bob <bob@example.com>"))
    world.sink.wait_for(2)
    conversations = [r["id"] for r in world.rows(store.conversations)]
    assert len(conversations) == 2
    for cid in conversations:
        token = cid.split("-", 1)[1]
        # server-issued, at least 128 random bits (not a uuid's 122, not a counter or a clock)
        assert re.fullmatch(r"email-[A-Za-z0-9_-]{32,}", cid) and len(set(token)) > 12, cid
    for message in world.sink.messages:
        raw = bytes(message).decode("utf-8", "replace")
        for cid in conversations:
            assert cid not in raw and cid.split("-", 1)[1] not in raw
        assert "X-Supportbot-Conversation" not in raw


def test_our_message_ids_are_random_secrets(world):
    """Joining a thread needs one of our Message-IDs: they must not be guessable (email.utils
    make_msgid is a timestamp, the pid and 64 bits of a non-cryptographic generator)."""
    _alice_verifies(world)
    world.send(make_mail("hello", sender="Bob <bob@example.com>"))
    ids = [str(m["Message-ID"]) for m in world.sink.wait_for(2)]
    for mid in ids:
        local = mid.strip("<>").split("@", 1)[0]
        assert re.fullmatch(r"[A-Za-z0-9_-]{32,}", local), mid
    assert len(set(ids)) == 2
