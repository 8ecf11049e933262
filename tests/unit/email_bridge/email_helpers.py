"""Helpers of the email bridge tests (imported by conftest.py, the tests and the e2e test).

SmtpSink: a real SMTP server (aiosmtpd Controller on a free loopback port) collecting what the
bridge's relay client sends. FakeRasa: a tiny HTTP server imitating Rasa's REST webhook, for
unit tests only (the end-to-end test talks to the real Rasa server).
"""
from __future__ import annotations

import json
import smtplib
import socket
import threading
import time
import uuid
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import formatdate, make_msgid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from aiosmtpd.controller import Controller

try:
    from tests.conftest import free_port
except ModuleNotFoundError:  # pytest started without the project root on sys.path
    def free_port() -> int:  # same as tests/conftest.py
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]


SUPPORT = "support@reseller.example"


class SinkHandler:
    def __init__(self):
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.cond = threading.Condition()

    async def handle_DATA(self, server, session, envelope):
        message = BytesParser(policy=policy.default).parsebytes(envelope.original_content or envelope.content)
        with self.cond:
            self.messages.append(message)
            self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
            self.cond.notify_all()
        return "250 OK"


class SmtpSink:
    """A real SMTP server on loopback; start()/stop() simulate the relay coming up / going down."""

    def __init__(self, port: int | None = None):
        self.port = port or free_port()
        self.handler = SinkHandler()
        self.controller: Controller | None = None

    def start(self) -> SmtpSink:
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)
        self.controller.start()
        return self

    def stop(self) -> None:
        if self.controller:
            self.controller.stop()
            self.controller = None

    @property
    def messages(self) -> list[EmailMessage]:
        return list(self.handler.messages)

    def wait_for(self, count: int, timeout: float = 10.0) -> list[EmailMessage]:
        deadline = time.monotonic() + timeout
        with self.handler.cond:
            while len(self.handler.messages) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"expected {count} message(s) at the sink, got {len(self.handler.messages)}")
                self.handler.cond.wait(left)
            return list(self.handler.messages)



class FakeRasa:
    """Imitates POST /webhooks/rest/webhook. `brain(sender, message)` returns the bot messages,
    or an int HTTP status to fail with."""

    def __init__(self):
        self.calls: list[dict] = []
        self.brain = self.default_brain
        self.paused: set[str] = set()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                if self.path != "/webhooks/rest/webhook":
                    self.send_response(404)
                    self.end_headers()
                    return
                fake.calls.append(body)
                answer = fake.brain(body["sender"], body["message"])
                if isinstance(answer, int):
                    self.send_response(answer)
                    self.end_headers()
                    return
                data = json.dumps([{"recipient_id": body["sender"], **m} for m in answer]).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def default_brain(self, sender: str, message: str) -> list[dict]:
        if sender in self.paused:
            return []
        low = message.lower()
        if message.startswith("/inform"):
            return [{"text": "Thanks. Please confirm your order reference."}]
        if "person" in low or "human" in low:
            self.paused.add(sender)
            return [{"text": "I've passed this to our Customer Service team (case #7)."}]
        if "refund" in low:
            return [{"text": "Why would you like a refund?",
                     "buttons": [{"title": "Duplicate order", "payload": '/inform{"refund_reason":"duplicate_order"}'},
                                 {"title": "Wrong product ordered",
                                  "payload": '/inform{"refund_reason":"wrong_product_ordered"}'},
                                 {"title": "No longer needed",
                                  "payload": '/inform{"refund_reason":"no_longer_needed"}'}]}]
        return [{"text": f"You said: {message[:80]}"},
                {"text": "See [our refund policy](https://help.reseller.example/refunds) for details."}]

    def texts_to(self, sender: str) -> list[str]:
        return [c["message"] for c in self.calls if c["sender"] == sender]

    def close(self):
        self.server.shutdown()
        self.server.server_close()






def make_mail(body: str = "Hello", *, subject: str = "Refund for my order", sender: str = "Erin Doe <erin@example.com>",
              message_id: str | None = None, in_reply_to: str | None = None, references: str | None = None,
              headers: dict[str, str] | None = None, charset: str = "utf-8") -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = SUPPORT
    msg["Subject"] = subject
    msg["Date"] = formatdate(usegmt=True)
    msg["Message-ID"] = message_id or make_msgid(domain="example.com")
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
    if references:
        msg["References"] = references
    for key, value in (headers or {}).items():
        msg[key] = value
    msg.set_content(body, charset=charset)
    return msg


def send_smtp(port: int, message: EmailMessage | bytes, *, mail_from: str = "erin@example.com",
              to: str = SUPPORT) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        if isinstance(message, bytes):
            client.sendmail(mail_from, [to], message)
        else:
            client.send_message(message, from_addr=mail_from, to_addrs=[to])


def wait_until(predicate, timeout: float = 10.0, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("condition not met in time")


def unique_id() -> str:
    return f"<{uuid.uuid4().hex}@example.com>"
