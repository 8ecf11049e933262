"""End-to-end: email -> `supportbot email-bridge serve` -> the real Rasa server + action server
(tests/e2e/conftest.py `bot_stack`) -> threaded reply through a real SMTP relay (a sink).

The bridge runs as its own process, configured only by environment variables, exactly as the
supervisor of `make run` starts it. Nothing here moves money: the refund conversation stops
before the customer confirms.
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
from tests.unit.email_bridge.email_helpers import SmtpSink, make_mail, send_smtp, wait_until

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
    env = {
        **os.environ,
        **bot_stack.env,
        "SUPPORTBOT_RASA_URL": bot_stack.rasa_url,
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
        yield SimpleNamespace(port=port, sink=sink, log_path=log_path, stack=bot_stack)
    finally:
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


def _user_texts(stack, conversation_id: str) -> list[str]:
    events = stack.tracker(conversation_id)["events"]
    return [e.get("text") or "" for e in events if e.get("event") == "user"]


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
    conversation = reply1["X-Supportbot-Conversation"]
    assert re.fullmatch(r"email-[0-9a-f-]{36}", conversation)
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
    assert reply2["X-Supportbot-Conversation"] == conversation
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
    conversation = reply1["X-Supportbot-Conversation"]
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
    conversation = reply1["X-Supportbot-Conversation"]
    follow = make_mail("hello? my order number is 100000001", subject="Re: Question",
                       sender="Peter <peter@example.com>",
                       in_reply_to=reply1["Message-ID"])
    send_smtp(email_bridge.port, follow)
    reply2 = _reply_to(email_bridge, follow, 2)
    assert "added your message to your case" in _body(reply2)
    assert _user_texts(stack, conversation)[-1] == "hello? my order number is 100000001"
