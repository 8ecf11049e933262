"""Threading decisions: thread headers first, then the sender within 7 days, else a new conversation.

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
    assert re.fullmatch(r"email-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}", outcome.conversation_id)
    assert outcome.thread == "new" and outcome.status == "replied"


def test_reply_to_our_reply_continues_by_headers_even_after_the_window(make_bridge, engine, smtp_sink):
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


def test_references_alone_are_enough(make_bridge, smtp_sink):
    bridge = make_bridge()
    first = make_mail("hello, order 100000005")
    o1 = turn(bridge, first)
    follow = make_mail("more info", references=f"<unknown@elsewhere> {first['Message-ID']}")
    o2 = turn(bridge, follow)
    assert (o2.thread, o2.conversation_id) == ("headers", o1.conversation_id)


def test_mail_without_thread_headers_joins_the_senders_conversation_within_7_days(make_bridge):
    clock = Clock()
    bridge = make_bridge(clock=clock)
    o1 = turn(bridge, make_mail("charged twice for order 100000005", sender="Erin <ERIN@example.com>"))
    clock.now += timedelta(days=6, hours=23)
    o2 = turn(bridge, make_mail("also, my email is erin@example.com", subject="more"))
    assert (o2.thread, o2.conversation_id) == ("sender", o1.conversation_id)
    # the window counts from the last activity
    clock.now += timedelta(days=7, minutes=1)
    o3 = turn(bridge, make_mail("new question", subject="another topic"))
    assert o3.thread == "new" and o3.conversation_id != o1.conversation_id


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
