"""The whole bridge over real SMTP on loopback: mail is sent to the bridge's aiosmtpd listener,
replies are read from a real SMTP sink configured as the relay. Rasa is a local fake of its
REST webhook here (unit tests); tests/e2e/test_email_bridge.py uses the real Rasa server.
"""
from __future__ import annotations

import logging
import smtplib

import pytest
from email_helpers import SUPPORT, SmtpSink, free_port, make_mail, send_smtp, unique_id, wait_until
from sqlalchemy import select

from supportbot.channels.email_bridge import store
from supportbot.db.engine import session_scope


def rows(engine, table, *where):
    with session_scope(engine) as s:
        return s.execute(select(table).where(*where).order_by(table.c.id if "id" in table.c else table.c.message_id)
                         ).mappings().all()


def body_of(message) -> str:
    return message.get_body(preferencelist=("plain",)).get_content().replace("\r\n", "\n")


def test_mail_in_reply_out_threaded(running_bridge, smtp_sink, fake_rasa, engine):
    server = running_bridge()
    mail = make_mail("Hi, I was charged twice for my order 100000005.\n\nThanks,\nErin\n\n"
                     "On Mon, 3 Jun 2024 Support <support@reseller.example> wrote:\n> old",
                     subject="Charged twice")
    send_smtp(server.port, mail)
    reply = smtp_sink.wait_for(1)[0]
    # one turn, the whole cleaned body as ONE message
    conversation = rows(engine, store.conversations)[0]["id"]
    assert fake_rasa.calls == [{"sender": conversation, "message": "I was charged twice for my order 100000005.",
                                "metadata": {"channel": "email", "client_address": "email:erin@example.com"}}]
    assert fake_rasa.headers[0]["Authorization"] == "Bearer test-rest-token"  # Settings.rest_token
    assert reply["From"] == f"Support <{SUPPORT}>"
    assert reply["To"] == "Erin Doe <erin@example.com>"
    assert reply["Subject"] == "Re: Charged twice"
    assert reply["In-Reply-To"] == mail["Message-ID"] and reply["References"] == mail["Message-ID"]
    assert reply["Auto-Submitted"] == "auto-replied"
    assert conversation not in bytes(reply).decode()  # never in a header or the body
    text = body_of(reply)
    assert text.startswith("Hello Erin,\n\nYou said: I was charged twice")
    assert "refund policy: https://help.reseller.example/refunds" in text  # links as plain URLs
    assert smtp_sink.handler.envelopes[0] == (SUPPORT, ["erin@example.com"])
    inbound = rows(engine, store.inbound)[0]
    assert (inbound["status"], inbound["status_reason"], inbound["conversation_id"]) == (
        "replied", "reply", conversation)
    wait_until(lambda: rows(engine, store.outbound)[0]["status"] == "sent")


def test_reply_to_header_is_honoured(running_bridge, smtp_sink):
    server = running_bridge()
    send_smtp(server.port, make_mail("hello", headers={"Reply-To": "Erin Work <erin.work@example.org>"}))
    reply = smtp_sink.wait_for(1)[0]
    assert reply["To"] == "Erin Work <erin.work@example.org>"
    assert smtp_sink.handler.envelopes[0][1] == ["erin.work@example.org"]


def test_numbered_buttons_answered_by_number_and_by_words(running_bridge, smtp_sink, fake_rasa, engine):
    server = running_bridge()
    first = make_mail("I want a refund for order 100000005", subject="Refund")
    send_smtp(server.port, first)
    reply = smtp_sink.wait_for(1)[0]
    assert "Reply with the number or the words:\n  1. Duplicate order\n  2. Wrong product ordered" in body_of(reply)
    answer = make_mail("2\n\nOn Mon, Support wrote:\n> Reply with the number or the words:\n>   1. Duplicate order",
                       subject="Re: Refund", in_reply_to=reply["Message-ID"],
                       references=f"{first['Message-ID']} {reply['Message-ID']}")
    send_smtp(server.port, answer)
    smtp_sink.wait_for(2)
    assert fake_rasa.calls[-1]["message"] == '/inform{"refund_reason":"wrong_product_ordered"}'
    # the next reply offered no buttons: "2" is now just text
    again = make_mail("2", subject="Re: Refund", in_reply_to=smtp_sink.messages[1]["Message-ID"])
    send_smtp(server.port, again)
    smtp_sink.wait_for(3)
    assert fake_rasa.calls[-1]["message"] == "2"
    # words work too
    send_smtp(server.port,
              make_mail("refund please", subject="Re: Refund", in_reply_to=smtp_sink.messages[2]["Message-ID"]))
    smtp_sink.wait_for(4)
    send_smtp(server.port, make_mail("Duplicate order\n\nThanks,\nErin", subject="Re: Refund",
                                     in_reply_to=smtp_sink.messages[3]["Message-ID"]))
    smtp_sink.wait_for(5)
    assert fake_rasa.calls[-1]["message"] == '/inform{"refund_reason":"duplicate_order"}'
    assert len({c["sender"] for c in fake_rasa.calls}) == 1


def test_redelivered_message_id_is_processed_once(running_bridge, smtp_sink, fake_rasa, engine):
    server = running_bridge()
    mail = make_mail("charged twice, order 100000005")
    send_smtp(server.port, mail)
    smtp_sink.wait_for(1)
    send_smtp(server.port, mail)  # the MTA redelivers (e.g. after a lost 250)
    with smtplib.SMTP("127.0.0.1", server.port) as client:  # and the bridge says so
        client.ehlo()
        client.mail("erin@example.com")
        client.rcpt(SUPPORT)
        code, answer = client.data(bytes(mail))
    assert code == 250 and b"duplicate" in answer
    server.wake()
    wait_until(lambda: server.bridge.process_pending() == [], timeout=2)
    assert len(fake_rasa.calls) == 1 and len(smtp_sink.messages) == 1
    assert len(rows(engine, store.inbound)) == 1


def test_relay_down_reply_is_spooled_and_retried_when_the_relay_comes_up(make_bridge, running_bridge, engine,
                                                                          fake_rasa):
    relay_port = free_port()  # nothing listens here yet: the relay is down
    server = running_bridge(make_bridge(relay_port=relay_port))
    mail = make_mail("charged twice, order 100000005")
    send_smtp(server.port, mail)
    wait_until(lambda: any(r["attempts"] >= 1 for r in rows(engine, store.outbound)))
    spooled = rows(engine, store.outbound)[0]
    assert spooled["status"] == "pending" and "SMTP relay" in spooled["last_error"]
    assert rows(engine, store.inbound)[0]["status"] == "replied"  # the turn happened once
    sink = SmtpSink(port=relay_port).start()
    try:
        reply = sink.wait_for(1, timeout=15)[0]  # the serve loop's spool retry delivers it
        assert reply["In-Reply-To"] == mail["Message-ID"] and reply["Message-ID"] == spooled["message_id"]
        wait_until(lambda: rows(engine, store.outbound)[0]["status"] == "sent")
        assert len(fake_rasa.calls) == 1
    finally:
        sink.stop()


def test_retry_spool_command_sends_what_the_relay_refused(make_bridge, engine, monkeypatch, tmp_path, capsys):
    relay_port = free_port()
    bridge = make_bridge(relay_port=relay_port, spool_backoff=3600, spool_backoff_cap=3600)
    result = bridge.accept(bytes(make_mail("hello")), "erin@example.com")
    assert bridge.process(result.inbound_id).delivery == "retry"
    sink = SmtpSink(port=relay_port).start()
    try:
        db_url = str(engine.url)
        monkeypatch.setenv("SUPPORTBOT_DATABASE_URL", db_url)
        monkeypatch.setenv("SUPPORTBOT_SMTP_HOST", "127.0.0.1")
        monkeypatch.setenv("SUPPORTBOT_SMTP_PORT", str(relay_port))
        from supportbot.cli import main
        assert main(["email-bridge", "retry-spool"]) == 0  # not due yet (backoff 1 h): nothing sent
        assert sink.messages == []
        assert main(["email-bridge", "retry-spool", "--all"]) == 0
        assert len(sink.wait_for(1)) == 1
        assert "sent 1" in capsys.readouterr().out
    finally:
        sink.stop()


def test_spool_gives_up_after_max_attempts_and_lists_it(make_bridge, engine):
    bridge = make_bridge(relay_port=free_port(), spool_max_attempts=2, spool_backoff=0)
    result = bridge.accept(bytes(make_mail("hello")), "erin@example.com")
    bridge.process(result.inbound_id)
    run = bridge.spool.retry_due(force=True)
    assert run.gave_up == 1 and rows(engine, store.outbound)[0]["status"] == "failed"
    with session_scope(engine) as s:
        assert len(store.failed_outbound(s)) == 1


@pytest.mark.parametrize("headers, sender", [
    ({"Auto-Submitted": "auto-replied"}, "Erin <erin@example.com>"),
    ({"Precedence": "bulk"}, "Erin <erin@example.com>"),
    ({}, "MAILER-DAEMON@mx.example.com"),
    ({}, f"Support <{SUPPORT}>"),
])
def test_auto_replies_and_own_mail_never_get_a_reply(running_bridge, smtp_sink, fake_rasa, engine, headers, sender):
    server = running_bridge()
    send_smtp(server.port, make_mail("I am out of the office until Monday.", sender=sender, headers=headers))
    wait_until(lambda: rows(engine, store.inbound) and rows(engine, store.inbound)[0]["status"] == "ignored")
    assert fake_rasa.calls == [] and smtp_sink.messages == [] and rows(engine, store.outbound) == []


def test_bounce_with_null_sender_is_ignored(running_bridge, smtp_sink, engine):
    server = running_bridge()
    send_smtp(server.port, make_mail("Delivery failed", sender="erin@example.com"), mail_from="")
    wait_until(lambda: rows(engine, store.inbound) and rows(engine, store.inbound)[0]["status"] == "ignored")
    assert rows(engine, store.inbound)[0]["status_reason"] == "bounce" and smtp_sink.messages == []


def test_rasa_down_longer_than_the_retry_window_mail_is_held_with_a_polite_reply(make_bridge, running_bridge,
                                                                                 smtp_sink, engine):
    server = running_bridge(make_bridge(rasa_url=f"http://127.0.0.1:{free_port()}", rasa_retry_backoff=0.1,
                                        rasa_retry_cap=0.2, rasa_retry_window=1.0))
    mail = make_mail("charged twice for order 100000005", subject="Question")
    send_smtp(server.port, mail)
    # first it waits for Rasa (tried again with back-off), no reply yet
    wait_until(lambda: rows(engine, store.inbound)[0]["status_reason"] == "rasa_retry")
    assert rows(engine, store.inbound)[0]["status"] == "received" and smtp_sink.messages == []
    reply = smtp_sink.wait_for(1)[0]
    assert rows(engine, store.inbound)[0]["attempts"] >= 2
    assert "a person from our support team will look at it" in body_of(reply)
    assert reply["In-Reply-To"] == mail["Message-ID"]
    inbound = rows(engine, store.inbound)[0]
    assert (inbound["status"], inbound["status_reason"]) == ("held", "rasa_unavailable")
    assert inbound["turn_text"] == "charged twice for order 100000005"


def test_rasa_500_is_not_retried_and_held(make_bridge, fake_rasa, smtp_sink, engine):
    fake_rasa.brain = lambda sender, message: 500
    bridge = make_bridge(rasa_attempts=3)
    result = bridge.accept(bytes(make_mail("hello")), "erin@example.com")
    assert bridge.process(result.inbound_id).reason == "rasa_unavailable"
    assert len(fake_rasa.calls) == 1  # a 500 may have been processed: never a duplicate turn


def test_rasa_503_is_retried(make_bridge, fake_rasa, smtp_sink):
    answers = iter([503, [{"text": "back"}]])
    fake_rasa.brain = lambda sender, message: next(answers)
    bridge = make_bridge(rasa_attempts=3)
    result = bridge.accept(bytes(make_mail("hello")), "erin@example.com")
    assert bridge.process(result.inbound_id).status == "replied"
    assert "back" in body_of(smtp_sink.wait_for(1)[0])


def test_empty_body_is_held_with_a_polite_reply_mentioning_attachments(running_bridge, smtp_sink, fake_rasa, engine):
    server = running_bridge()
    mail = make_mail("\n-- \nErin Doe\n+1 555 0100", subject="Re: Refund")
    mail.add_attachment(b"%PDF", maintype="application", subtype="pdf", filename="invoice.pdf")
    send_smtp(server.port, mail)
    reply = smtp_sink.wait_for(1)[0]
    text = body_of(reply)
    assert "a person from our support team will look at it" in text
    assert "I can't open attachments; I saw: invoice.pdf" in text
    assert fake_rasa.calls == []
    assert rows(engine, store.inbound)[0]["status_reason"] == "empty"


def test_attachments_are_mentioned_in_the_bot_reply(running_bridge, smtp_sink, fake_rasa):
    server = running_bridge()
    mail = make_mail("Please look at the attached order 100000005", subject="Question")
    mail.add_attachment(b"%PDF", maintype="application", subtype="pdf", filename="invoice.pdf")
    send_smtp(server.port, mail)
    text = body_of(smtp_sink.wait_for(1)[0])
    assert "You said: Please look at the attached order 100000005" in text
    assert "I can't open attachments; I saw: invoice.pdf." in text


def test_unparseable_mime_is_held_and_answered(running_bridge, smtp_sink, fake_rasa, engine):
    server = running_bridge()
    raw = (b"From: Erin <erin@example.com>\r\nTo: support@reseller.example\r\nSubject: broken\r\n"
           b"Message-ID: " + unique_id().encode() + b"\r\nMIME-Version: 1.0\r\n"
           b'Content-Type: multipart/mixed; boundary="nope"\r\n\r\nthere is no boundary here\r\n')
    send_smtp(server.port, raw)
    reply = smtp_sink.wait_for(1)[0]
    assert "a person from our support team will look at it" in body_of(reply)
    assert reply["Subject"] == "Re: broken"
    inbound = rows(engine, store.inbound)[0]
    assert (inbound["status"], inbound["status_reason"]) == ("held", "unparseable") and fake_rasa.calls == []


def test_paused_conversation_gets_an_acknowledgement(running_bridge, smtp_sink, fake_rasa, engine):
    server = running_bridge()
    first = make_mail("I want to talk to a person", subject="Help needed")
    send_smtp(server.port, first)
    r1 = smtp_sink.wait_for(1)[0]
    assert "case #7" in body_of(r1)
    send_smtp(server.port, make_mail("my order is 100000005", subject="Re: Help needed", in_reply_to=r1["Message-ID"]))
    r2 = smtp_sink.wait_for(2)[1]
    assert "added your message to your case" in body_of(r2)
    assert fake_rasa.calls[-1]["message"] == "my order is 100000005"  # still reached Rasa's tracker
    assert rows(engine, store.inbound)[-1]["status_reason"] == "case_ack"


def test_card_numbers_are_masked_before_rasa_in_storage_and_in_logs(running_bridge, smtp_sink, fake_rasa, engine,
                                                                     caplog):
    caplog.set_level(logging.INFO)
    server = running_bridge()
    send_smtp(server.port, make_mail("I was charged on my card 4111 1111 1111 1111 twice, order 100000005",
                                     subject="card 4111111111111111"))
    smtp_sink.wait_for(1)
    assert fake_rasa.calls[0]["message"] == "I was charged on my card **** **** **** 1111 twice, order 100000005"
    inbound = rows(engine, store.inbound)[0]
    assert b"4111 1111 1111 1111" not in inbound["raw"] and b"4111111111111111" not in inbound["raw"]
    assert inbound["subject"] == "card **** **** **** 1111"
    assert "4111" not in caplog.text.replace("**** 1111", "")
    lines = wait_until(lambda: [r.getMessage() for r in caplog.records if r.getMessage().startswith("email in=")])
    assert len(lines) == 1 and "charged" not in lines[0] and "e***@example.com" in lines[0]


def test_huge_body_is_capped_and_the_reply_says_so(make_bridge, running_bridge, smtp_sink, fake_rasa):
    server = running_bridge(make_bridge(max_chars=300))
    send_smtp(server.port, make_mail("I was charged twice. " * 100))
    reply = smtp_sink.wait_for(1)[0]
    assert len(fake_rasa.calls[0]["message"]) <= 300
    assert "only read the first 300 characters" in body_of(reply)


def test_sender_rate_limit_stops_loops_with_robots_that_set_no_headers(make_bridge, smtp_sink, fake_rasa, engine):
    bridge = make_bridge(rate_limit_per_hour=3)
    for i in range(5):
        result = bridge.accept(bytes(make_mail(f"message {i}", sender="robot@example.com")), "robot@example.com")
        bridge.process(result.inbound_id)
    assert [r["status_reason"] for r in rows(engine, store.inbound)][-2:] == ["rate_limited", "rate_limited"]
    assert len(fake_rasa.calls) == 3 and len(smtp_sink.wait_for(3)) == 3


def test_html_only_latin1_mail_end_to_end(running_bridge, smtp_sink, fake_rasa):
    server = running_bridge()
    raw = (b"From: =?iso-8859-1?q?Ren=E9e?= <renee@example.fr>\r\nTo: support@reseller.example\r\n"
           b"Subject: Commande\r\nMessage-ID: " + unique_id().encode() + b"\r\nMIME-Version: 1.0\r\n"
           b"Content-Type: text/html; charset=iso-8859-1\r\n\r\n"
           b"<html><body><p>J'ai \xe9t\xe9 d\xe9bit\xe9 deux fois pour la commande 100000005.</p>"
           b"<blockquote>ancien message</blockquote></body></html>\r\n")
    send_smtp(server.port, raw, mail_from="renee@example.fr")
    reply = smtp_sink.wait_for(1)[0]
    assert fake_rasa.calls[0]["message"] == "J'ai été débité deux fois pour la commande 100000005."
    assert body_of(reply).startswith("Hello Renée,")


def test_database_failure_answers_451_so_the_sender_retries(running_bridge, engine, smtp_sink, monkeypatch):
    from sqlalchemy.exc import OperationalError

    server = running_bridge()
    real_insert = store.insert_inbound

    def database_down(*args, **kwargs):
        raise OperationalError("INSERT", {}, Exception("database is locked"))

    monkeypatch.setattr(store, "insert_inbound", database_down)
    mail = make_mail("hello")
    with smtplib.SMTP("127.0.0.1", server.port) as client:
        client.ehlo()
        client.mail("erin@example.com")
        client.rcpt(SUPPORT)
        code, _ = client.data(bytes(mail))
    assert code == 451 and rows(engine, store.inbound) == []
    monkeypatch.setattr(store, "insert_inbound", real_insert)
    send_smtp(server.port, mail)  # the sending server retries later: now it is stored and answered
    assert smtp_sink.wait_for(1)[0]["In-Reply-To"] == mail["Message-ID"]


def test_interrupted_processing_is_recovered_on_start(make_bridge, running_bridge, engine, smtp_sink):
    bridge = make_bridge()
    result = bridge.accept(bytes(make_mail("hello")), "erin@example.com")
    with session_scope(engine) as s:
        store.claim_inbound(s, result.inbound_id)  # the process died mid-turn
    running_bridge(bridge)
    smtp_sink.wait_for(1)
    assert rows(engine, store.inbound)[0]["status"] == "replied"


def test_a_refused_rest_token_is_not_retried_and_the_mail_is_held(make_bridge, fake_rasa, smtp_sink, engine):
    bridge = make_bridge(token="not-the-token")
    result = bridge.accept(bytes(make_mail("hello")), "erin@example.com")
    outcome = bridge.process(result.inbound_id)
    assert (outcome.status, outcome.reason) == ("held", "rasa_unavailable") and "401" in outcome.extra["rasa"]
    assert fake_rasa.calls == []  # refused at the door: nothing reached the bot
    assert "a person from our support team will look at it" in body_of(smtp_sink.wait_for(1)[0])


def test_a_senders_later_mail_waits_behind_their_mail_that_waits_for_rasa(make_bridge, fake_rasa, smtp_sink, engine):
    from datetime import timedelta

    class Clock:
        now = store.utcnow()

        def __call__(self):
            return self.now

    clock = Clock()
    down = {"on": True}
    fake_rasa.brain = lambda sender, message: 503 if down["on"] else [{"text": f"got {message}"}]
    bridge = make_bridge(clock=clock, rasa_retry_backoff=30, rasa_retry_cap=60)
    first = bridge.accept(bytes(make_mail("first from erin", subject="Question")), "erin@example.com")
    [outcome] = bridge.process_pending()
    assert (outcome.inbound_id, outcome.status, outcome.reason) == (first.inbound_id, "received", "rasa_retry")
    down["on"] = False  # Rasa is back
    bridge.accept(bytes(make_mail("second from erin", subject="Question")), "erin@example.com")
    bridge.accept(bytes(make_mail("from bob", subject="Question", sender="Bob <bob@example.com>")), "bob@example.com")
    assert [o.status for o in bridge.process_pending()] == ["replied"]  # Bob's; Erin's wait in order
    assert fake_rasa.calls[-1]["message"] == "from bob"
    clock.now += timedelta(seconds=31)  # erin's first mail is due again
    assert [o.status for o in bridge.process_pending()] == ["replied", "replied"]
    assert [c["message"] for c in fake_rasa.calls][-2:] == ["first from erin", "second from erin"]
    assert len({c["sender"] for c in fake_rasa.calls if "erin" in c["message"]}) == 2  # no join by From
    assert len(smtp_sink.wait_for(3)) == 3


def test_a_database_failure_while_processing_loses_nothing(make_bridge, fake_rasa, smtp_sink, engine, monkeypatch):
    from sqlalchemy.exc import OperationalError

    bridge = make_bridge()
    result = bridge.accept(bytes(make_mail("hello")), "erin@example.com")

    def database_down(*args, **kwargs):
        raise OperationalError("UPDATE", {}, Exception("database is locked"))

    real_thread, real_finish = store.record_thread_id, store.finish_inbound
    monkeypatch.setattr(store, "record_thread_id", database_down)
    monkeypatch.setattr(store, "finish_inbound", database_down)
    outcome = bridge.process(result.inbound_id)
    assert outcome.reason == "internal_error" and fake_rasa.calls == []
    assert rows(engine, store.inbound)[0]["status"] == "processing"  # nothing could be written
    monkeypatch.setattr(store, "record_thread_id", real_thread)
    monkeypatch.setattr(store, "finish_inbound", real_finish)
    assert [o.status for o in bridge.process_pending()] == ["replied"]  # released, then answered
    assert len(fake_rasa.calls) == 1 and len(smtp_sink.wait_for(1)) == 1
