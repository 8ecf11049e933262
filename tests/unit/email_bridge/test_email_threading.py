"""Threading decisions: only the thread headers naming one of OUR replies join a conversation
(never the From: address alone, never the customer's own Message-IDs); else a new conversation.

These drive EmailBridge.accept/process directly (the SMTP path is covered in
test_email_bridge_smtp.py); replies still go through the real SMTP sink.
"""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from email_helpers import make_mail, unique_id
from sqlalchemy import select

from supportbot.channels.email_bridge import store
from supportbot.db.engine import session_scope


class Clock:
    def __init__(self):
        self.now = datetime(2024, 6, 3, 10, 0, tzinfo=timezone.utc)

    def __call__(self):
        return self.now


def turn(bridge, message, envelope_from="erin@example.com"):
    result = bridge.accept(bytes(message), envelope_from)
    assert result.status == "queued"
    outcome = bridge.process(result.inbound_id)
    return outcome


def conversation_of(engine, message_id):
    with session_scope(engine) as s:
        return s.execute(
            select(store.inbound.c.conversation_id).where(store.inbound.c.message_id == message_id)).scalar()


def test_new_mail_starts_an_email_conversation(make_bridge, engine):
    bridge = make_bridge()
    outcome = turn(bridge, make_mail("I was charged twice for order 100000005"))
    assert re.fullmatch(r"email-[A-Za-z0-9_-]{32}", outcome.conversation_id)  # 192 random bits
    assert outcome.thread == "new" and outcome.status == "replied"
    assert turn(bridge, make_mail("again")).conversation_id != outcome.conversation_id


def test_reply_to_our_reply_continues_by_headers_even_after_30_days(make_bridge, engine, smtp_sink):
    clock = Clock()
    bridge = make_bridge(clock=clock)
    first = make_mail("I was charged twice for order 100000005")
    o1 = turn(bridge, first)
    reply = smtp_sink.wait_for(1)[0]
    clock.now += timedelta(days=30)
    follow = make_mail("Thanks, any news?", subject="Re: Refund for my order", in_reply_to=reply["Message-ID"],
                       references=f"{first['Message-ID']} {reply['Message-ID']}")
    o2 = turn(bridge, follow)
    assert o2.thread == "headers" and o2.conversation_id == o1.conversation_id


def test_references_naming_our_reply_are_enough(make_bridge, smtp_sink):
    bridge = make_bridge()
    first = make_mail("hello, order 100000005")
    o1 = turn(bridge, first)
    reply = smtp_sink.wait_for(1)[0]
    follow = make_mail("more info", references=f"<unknown@elsewhere> {reply['Message-ID']}")
    o2 = turn(bridge, follow)
    assert (o2.thread, o2.conversation_id) == ("headers", o1.conversation_id)


def test_the_customers_own_message_id_does_not_join(make_bridge, smtp_sink):
    bridge = make_bridge()
    first = make_mail("hello, order 100000005")
    o1 = turn(bridge, first)
    follow = make_mail("more info", in_reply_to=first["Message-ID"], references=first["Message-ID"])
    o2 = turn(bridge, follow)
    assert o2.thread == "new" and o2.conversation_id != o1.conversation_id


def test_mail_without_thread_headers_starts_a_new_conversation_even_from_the_same_sender(make_bridge):
    clock = Clock()
    bridge = make_bridge(clock=clock)
    o1 = turn(bridge, make_mail("charged twice for order 100000005", sender="Erin <ERIN@example.com>"))
    clock.now += timedelta(minutes=5)
    o2 = turn(bridge, make_mail("also, my email is erin@example.com", subject="more"))
    assert o2.thread == "new" and o2.conversation_id != o1.conversation_id


def test_the_address_our_reply_went_to_may_answer_in_the_thread(make_bridge, smtp_sink):
    """Reply-To erin.work@: our reply went there, so her answer from that address continues."""
    bridge = make_bridge()
    o1 = turn(bridge, make_mail("hello, order 100000005", headers={"Reply-To": "erin.work@example.org"}))
    reply = smtp_sink.wait_for(1)[0]
    follow = make_mail("here is more", sender="Erin <erin.work@example.org>", in_reply_to=reply["Message-ID"])
    o2 = turn(bridge, follow, envelope_from="erin.work@example.org")
    assert (o2.thread, o2.conversation_id) == ("headers", o1.conversation_id)


def test_thread_headers_of_another_senders_conversation_start_a_new_one(make_bridge, smtp_sink):
    bridge = make_bridge()
    first = make_mail("order 100000005, I'm verified")
    o1 = turn(bridge, first)
    reply = smtp_sink.wait_for(1)[0]
    colleague = make_mail("show me that order", sender="mallory@example.net",
                          in_reply_to=reply["Message-ID"], references=str(reply["Message-ID"]))
    o2 = turn(bridge, colleague, envelope_from="mallory@example.net")
    assert o2.thread == "new" and o2.conversation_id != o1.conversation_id


def test_different_senders_never_share_a_conversation(make_bridge):
    bridge = make_bridge()
    a = turn(bridge, make_mail("hello", sender="a@example.com"), "a@example.com")
    b = turn(bridge, make_mail("hello", sender="b@example.com"), "b@example.com")
    assert a.conversation_id != b.conversation_id


def test_reply_threading_headers(make_bridge, smtp_sink):
    bridge = make_bridge()
    first = make_mail("I was charged twice for order 100000005", subject="Charged twice")
    turn(bridge, first)
    reply1 = smtp_sink.wait_for(1)[0]
    assert reply1["In-Reply-To"] == first["Message-ID"]
    assert reply1["References"] == first["Message-ID"]
    assert reply1["Subject"] == "Re: Charged twice"
    follow = make_mail("ok", subject="RE: Re: Charged twice", in_reply_to=reply1["Message-ID"],
                       references=f"{first['Message-ID']} {reply1['Message-ID']}")
    turn(bridge, follow)
    reply2 = smtp_sink.wait_for(2)[1]
    assert reply2["In-Reply-To"] == follow["Message-ID"]
    assert reply2["References"].split() == [first["Message-ID"], reply1["Message-ID"], follow["Message-ID"]]
    assert reply2["Subject"] == "Re: Charged twice"


def test_very_long_references_are_capped_keeping_root_and_newest(make_bridge, smtp_sink):
    bridge = make_bridge()
    ids = [unique_id() for _ in range(40)]
    message = make_mail("hello", references=" ".join(ids), in_reply_to=ids[-1])
    turn(bridge, message)
    refs = smtp_sink.wait_for(1)[0]["References"].split()
    assert len(refs) == 20 and refs[0] == ids[0] and refs[-1] == message["Message-ID"] and refs[-2] == ids[-1]
