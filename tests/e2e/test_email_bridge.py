"""End-to-end: email -> `supportbot email-bridge serve` -> the real Rasa server + action server
(tests/e2e/conftest.py `bot_stack`) -> threaded reply through a real SMTP relay (a sink).

The bridge runs as its own process, configured only by environment variables, exactly as the
supervisor of `make run` starts it (SUPPORTBOT_REST_TOKEN included: Rasa's REST channel wants
it). It reaches Rasa through a TCP proxy, so a test can take Rasa away and give it back. Nothing
here moves money: the refund conversation stops before the customer confirms.

The conversation id is never in a mail: the tests read it from the bridge's tables.
"""
from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from email import policy
from email.parser import BytesParser
from pathlib import Path
from types import SimpleNamespace

import pytest

from supportbot.settings import PROJECT_ROOT
from tests.conftest import db_rows, free_port
from tests.unit.email_bridge.email_helpers import SmtpSink, TcpProxy, make_mail, send_smtp, wait_until

pytestmark = pytest.mark.e2e

BIN = Path(sys.executable).parent
SUPPORT = "support@reseller.example"


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


@pytest.fixture
def email_bridge(bot_stack, tmp_path):
    sink = SmtpSink().start()
    port = free_port()
    rasa_proxy = TcpProxy(int(bot_stack.rasa_url.rsplit(":", 1)[1])).start()
    env = {
        **os.environ,
        **bot_stack.env,
        "SUPPORTBOT_RASA_URL": f"http://127.0.0.1:{rasa_proxy.port}",
        "SUPPORTBOT_EMAIL_BRIDGE_RASA_RETRY_BACKOFF": "1",
        "SUPPORTBOT_EMAIL_BRIDGE_RASA_RETRY_CAP": "2",
        "SUPPORTBOT_DATABASE_URL": bot_stack.database_url,
        "SUPPORTBOT_EMAIL_BRIDGE_HOST": "127.0.0.1",
        "SUPPORTBOT_EMAIL_BRIDGE_PORT": str(port),
        "SUPPORTBOT_SMTP_HOST": "127.0.0.1",  # the relay: a real SMTP server we can read
        "SUPPORTBOT_SMTP_PORT": str(sink.port),
        "SUPPORTBOT_MAIL_FROM": f"Support <{SUPPORT}>",
    }
    log_path = tmp_path / "email-bridge.log"
    log = open(log_path, "w")
    process = subprocess.Popen([str(BIN / "supportbot"), "email-bridge", "serve"], env=env,
                               cwd=PROJECT_ROOT, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: _port_open(port) or process.poll() is not None, timeout=60)
        if process.poll() is not None:
            pytest.fail("the email bridge did not start:\n" + log_path.read_text()[-4000:])
        yield SimpleNamespace(port=port, sink=sink, log_path=log_path, stack=bot_stack, rasa_proxy=rasa_proxy)
    finally:
        rasa_proxy.stop()
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()
        sink.stop()


def _body(message) -> str:
    return message.get_body(preferencelist=("plain",)).get_content().replace("\r\n", "\n")


def _reply_to(bridge, message, count: int, timeout: float = 90.0):
    """The reply to `message` (waits until the sink holds `count` messages)."""
    messages = bridge.sink.wait_for(count, timeout=timeout)
    replies = [m for m in messages if m["In-Reply-To"] == message["Message-ID"]]
    assert len(replies) == 1, [m["Subject"] for m in messages]
    return replies[0]


def _rows(stack, sql: str, **params):
    return db_rows(stack.database_url, sql, **params)


def _conversation_of(stack, message) -> str:
    """The bridge's conversation id of an inbound mail (never shown in any mail)."""
    rows = _rows(stack, "select conversation_id from email_inbound where message_id = :m", m=message["Message-ID"])
    assert rows and rows[0]["conversation_id"], rows
    return rows[0]["conversation_id"]


def _user_texts(stack, conversation_id: str) -> list[str]:
    """What Rasa's tracker store holds as the customer's messages of this conversation."""
    return [e.get("text") or "" for e in stack.user_events(conversation_id)]


def _code_mailed_after(outbox: Path, address: str, since: float) -> str | None:
    parser = BytesParser(policy=policy.default)
    for path in sorted(outbox.glob("*.eml"), key=lambda p: p.stat().st_mtime, reverse=True):
        if path.stat().st_mtime < since:
            break
        message = parser.parsebytes(path.read_bytes())
        if address in str(message["To"]):
            match = re.search(r"\b(\d{6})\b", _body(message))
            if match:
                return match.group(1)
    return None


def test_email_conversation_is_threaded_and_keeps_one_rasa_conversation(email_bridge):
    stack = email_bridge.stack
    started = time.time()
    first = make_mail("Hi, I was charged twice for my order 100000005, my email is erin@example.com\n\n"
                      "Thanks,\nErin\n\nSent from my iPhone", subject="Charged twice",
                      sender="Erin Evans <erin@example.com>")
    send_smtp(email_bridge.port, first)
    reply1 = _reply_to(email_bridge, first, 1)

    # threaded so mail clients group it, from our address, to the customer
    assert reply1["Subject"] == "Re: Charged twice"
    assert reply1["References"] == first["Message-ID"]
    assert reply1["From"] == f"Support <{SUPPORT}>"
    assert "erin@example.com" in reply1["To"]
    conversation = _conversation_of(stack, first)
    assert re.fullmatch(r"email-[A-Za-z0-9_-]{32}", conversation)
    assert conversation not in bytes(reply1).decode()
    body1 = _body(reply1)
    assert body1.startswith("Hello Erin,") and "\n-- \n" in body1
    # the whole cleaned body was ONE user message of that Rasa conversation (salutation,
    # sign-off and mobile footer are email boilerplate and were not sent)
    assert _user_texts(stack, conversation) == [
        "I was charged twice for my order 100000005, my email is erin@example.com"]
    # ... and the bot worked on the order: verified it and mailed a one-time code
    assert "100000005" in body1 and "code" in body1, body1
    code = _code_mailed_after(stack.outbox_dir, "erin@example.com", started - 1)
    assert code, "no one-time code in the outbox"

    # the customer answers in the same thread, quoting our mail, as mail clients do
    follow = make_mail(f"Hi,\n\nthe code is {code}\n\nOn Mon, 3 Jun 2024 at 10:15, Support "
                       f"<{SUPPORT}> wrote:\n> " + "\n> ".join(body1.splitlines()),
                       subject="Re: Charged twice", sender="Erin Evans <erin@example.com>",
                       in_reply_to=reply1["Message-ID"], references=f"{first['Message-ID']} {reply1['Message-ID']}")
    send_smtp(email_bridge.port, follow)
    reply2 = _reply_to(email_bridge, follow, 2)
    assert reply2["Subject"] == "Re: Charged twice"
    assert reply2["References"].split() == [first["Message-ID"], reply1["Message-ID"], follow["Message-ID"]]
    assert _conversation_of(stack, follow) == conversation
    assert _user_texts(stack, conversation)[-1] == f"the code is {code}"
    body2 = _body(reply2)
    # the refund is proposed with numbered options; this test stops here: no money moves
    assert "refund" in body2.lower() and "Reply with the number or the words:" in body2, body2
    rows = _rows(stack, "select conversation_id, status from email_inbound where message_id in (:a, :b)",
                 a=first["Message-ID"], b=follow["Message-ID"])
    assert sorted((r["conversation_id"], r["status"]) for r in rows) == [(conversation, "replied")] * 2

    # one log line per processed message; never the body
    # the line is written once the reply has been handed over: give it a moment
    wait_until(lambda: email_bridge.log_path.read_text().count(" email in=") >= 2, timeout=15)
    log = email_bridge.log_path.read_text()
    assert log.count(" email in=") >= 2 and "charged twice" not in log.lower() and code not in log


def test_numbered_buttons_answered_by_number_reach_rasa_as_the_payload(email_bridge):
    stack = email_bridge.stack
    first = make_mail("What's the weather going to be like in Paris tomorrow?", subject="Question",
                      sender="Olga <olga@example.com>")
    send_smtp(email_bridge.port, first)
    reply1 = _reply_to(email_bridge, first, 1)
    body1 = _body(reply1)
    assert "Reply with the number or the words:\n  1. " in body1, body1
    conversation = _conversation_of(stack, first)
    offered = _rows(stack, "select offered_buttons from email_conversations where id = :c", c=conversation)
    import json
    buttons = json.loads(offered[0]["offered_buttons"])
    answer = make_mail("1", subject="Re: Question", sender="Olga <olga@example.com>",
                       in_reply_to=reply1["Message-ID"], references=first["Message-ID"] + " " + reply1["Message-ID"])
    send_smtp(email_bridge.port, answer)
    _reply_to(email_bridge, answer, 2)
    assert _user_texts(stack, conversation)[-1] == buttons[0]["payload"]


def test_after_a_handoff_the_paused_conversation_gets_an_acknowledgement(email_bridge):
    stack = email_bridge.stack
    first = make_mail("I want to speak to a real person please", subject="Question", sender="Peter <peter@example.com>")
    send_smtp(email_bridge.port, first)
    reply1 = _reply_to(email_bridge, first, 1)
    assert "case #" in _body(reply1)
    conversation = _conversation_of(stack, first)
    follow = make_mail("hello? my order number is 100000001", subject="Re: Question",
                       sender="Peter <peter@example.com>",
                       in_reply_to=reply1["Message-ID"])
    send_smtp(email_bridge.port, follow)
    reply2 = _reply_to(email_bridge, follow, 2)
    assert "added your message to your case" in _body(reply2)
    assert _user_texts(stack, conversation)[-1] == "hello? my order number is 100000001"


ALICE = "alice@example.com"
MALLORY = "mallory@evil.example"


def _recipients_and_bodies(bridge):
    with bridge.sink.handler.cond:
        pairs = list(zip(bridge.sink.handler.envelopes, bridge.sink.handler.messages, strict=True))
    return [(rcpts, _body(message), bytes(message).decode("utf-8", "replace")) for (_f, rcpts), message in pairs]


def test_forged_from_and_reply_to_get_no_data_of_a_verified_email_conversation(email_bridge):
    """Issue 14 item 3, against the real bot: Alice verifies her order by mail; a mail with her
    address in From: and the attacker's in Reply-To: neither joins her conversation nor gets her
    data; no mail names the conversation id, and the REST webhook does not take it without the
    internal token."""
    stack = email_bridge.stack
    first = make_mail(f"Hello, what is the status of my refund? My order is 100000001 and my email is {ALICE}",
                      subject="Refund status", sender=f"Alice <{ALICE}>")
    send_smtp(email_bridge.port, first, mail_from=ALICE)
    reply1 = _reply_to(email_bridge, first, 1)
    conversation = _conversation_of(stack, first)
    verified = _rows(stack, "select count(*) as n from conversation_verifications where conversation_id = :c",
                     c=conversation)
    assert verified[0]["n"] == 1, _body(reply1)  # Alice's conversation is verified
    assert ALICE in str(reply1["To"])

    forged = make_mail("What is my refund status? Please also resend my license key.", subject="Refund status",
                       sender=f"Alice <{ALICE}>", headers={"Reply-To": f"Alice <{MALLORY}>"})
    send_smtp(email_bridge.port, forged, mail_from=MALLORY)
    _reply_to(email_bridge, forged, 2)
    assert _conversation_of(stack, forged) != conversation
    assert _user_texts(stack, conversation) == [_user_texts(stack, conversation)[0]]  # one turn only
    for rcpts, body, raw in _recipients_and_bodies(email_bridge):
        assert conversation not in raw and "X-Supportbot-Conversation" not in raw
        if MALLORY in rcpts:
            assert "100000001" not in body and "PixelForge" not in body and "4242" not in body, body
    # the id alone (had it leaked) does not open the REST webhook: internal callers only
    response = stack.post({"sender": conversation, "message": "what is my refund status?"}, token="")
    assert response.status_code == 401


def test_mail_arriving_while_rasa_is_down_is_answered_when_it_is_back(email_bridge):
    """Rasa (here: the way to it) goes away while mail arrives; the bridge keeps the mail, tries
    again with back-off and answers it once Rasa answers again - no 'a person will look at it'."""
    stack = email_bridge.stack
    email_bridge.rasa_proxy.stop()
    mail = make_mail("Hello, how do I download my invoice?", subject="Invoice", sender="Quinn <quinn@example.com>")
    send_smtp(email_bridge.port, mail, mail_from="quinn@example.com")
    wait_until(lambda: [r["status_reason"] for r in _rows(stack, "select status_reason from email_inbound "
                                                          "where message_id = :m", m=mail["Message-ID"])]
               == ["rasa_retry"], timeout=60)
    assert not [m for m in email_bridge.sink.messages if m["In-Reply-To"] == mail["Message-ID"]]
    email_bridge.rasa_proxy.start()
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and not [m for m in email_bridge.sink.messages
                                               if m["In-Reply-To"] == mail["Message-ID"]]:
        time.sleep(0.2)
    [reply] = [m for m in email_bridge.sink.messages if m["In-Reply-To"] == mail["Message-ID"]]
    assert "a person from our support team will look at it" not in _body(reply)
    conversation = _conversation_of(stack, mail)
    assert _user_texts(stack, conversation) == ["how do I download my invoice?"]  # once (salutation removed)
    assert [r["status"] for r in _rows(stack, "select status from email_inbound where message_id = :m",
                                       m=mail["Message-ID"])] == ["replied"]
