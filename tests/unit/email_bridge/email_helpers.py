"""Helpers of the email bridge tests (imported by conftest.py, the tests and the e2e test).

SmtpSink: a real SMTP server (aiosmtpd Controller on a free loopback port) collecting what the
bridge's relay client sends. FakeRasa: a tiny HTTP server imitating Rasa's REST webhook (401
without the token when one is set), for unit and security tests (the end-to-end test talks to
the real Rasa server). TcpProxy: a loopback TCP forwarder a test stops and starts (a database or
Rasa that goes away). CoreBrain: a FakeRasa brain that asks the real domain core whether a
conversation verified an order. EmailWorld: the bridge's listener + worker on a database with
the core's tables and the demo data, a sink as relay, CoreBrain as the bot
(tests/security/test_email_*.py).
"""
from __future__ import annotations

import json
import re
import smtplib
import socket
import threading
import time
import uuid
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import formatdate
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

class TcpProxy:
    """127.0.0.1:<port> -> target; stop() refuses new connections and cuts the open ones."""

    def __init__(self, target_port: int, port: int | None = None):
        self.target_port, self.port = target_port, port or free_port()
        self.sockets: list[socket.socket] = []
        self.listener: socket.socket | None = None

    def start(self) -> TcpProxy:
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", self.port))
        self.listener.listen(16)
        threading.Thread(target=self._accept, args=(self.listener,), daemon=True).start()
        return self

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _addr = listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            self.sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(a: socket.socket, b: socket.socket) -> None:
        try:
            while data := a.recv(65536):
                b.sendall(data)
        except OSError:
            pass
        finally:
            for s in (a, b):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def stop(self) -> None:
        if self.listener is not None:
            try:
                self.listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() (close alone does not)
            except OSError:
                pass
            self.listener.close()
            self.listener = None
        for s in self.sockets:
            try:
                s.shutdown(socket.SHUT_RDWR)
                s.close()
            except OSError:
                pass
        self.sockets.clear()


class FakeRasa:
    """Imitates POST /webhooks/rest/webhook. `brain(sender, message)` returns the bot messages,
    or an int HTTP status to fail with."""

    def __init__(self, port: int = 0, token: str | None = None):
        self.token = token  # when set, calls without `Authorization: Bearer <token>` get 401
        self.calls: list[dict] = []
        self.headers: list[dict[str, str]] = []  # the HTTP headers of each call
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
                if fake.token and self.headers.get("Authorization") != f"Bearer {fake.token}":
                    self.send_response(401)  # as Rasa's REST channel does without the token
                    self.end_headers()
                    return
                fake.calls.append(body)
                fake.headers.append(dict(self.headers.items()))
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

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
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
    msg["Message-ID"] = message_id or unique_id()
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
    """A Message-ID without digits: one with a Luhn-valid digit run (e.g. 1 in 5 of
    email.utils.make_msgid's) is stored as a masked token, which tests of other things must
    not trip over (tests/security/test_email_card_masking.py covers it)."""
    return "<" + "".join(chr(97 + int(c, 16)) for c in uuid.uuid4().hex) + "@example.com>"


class CoreBrain:
    """A stand-in for Rasa + the action server that uses the REAL domain core on the test
    database (for FakeRasa.brain): a message holding an email address and an order reference
    verifies that order for this conversation (SupportServices.verify_order); later messages
    of a conversation the core says verified an order get that order's details. Whether a
    conversation is verified is asked from the core every turn, never remembered here."""

    EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
    REFERENCE = re.compile(r"\b(\d{9})\b")

    def __init__(self, services, references: tuple[str, ...] = ("100000001",)):
        self.services = services
        self.references = references

    def __call__(self, sender: str, message: str) -> list[dict]:
        from supportbot.core.errors import NotVerified

        email, reference = self.EMAIL.search(message), self.REFERENCE.search(message)
        if email and reference:
            result = self.services.verify_order(sender, email.group(0), reference.group(1))
            if result.status != "verified":
                return [{"text": "I could not find an order with these details."}]
        for ref in ([reference.group(1)] if reference else []) + list(self.references):
            try:
                summary = self.services.order_summary(sender, ref)
            except NotVerified:
                continue
            total = f"{summary.total_minor // 100}.{summary.total_minor % 100:02d} {summary.currency}"
            return [{"text": f"Order {summary.reference} ({summary.client_name}): {total}, paid by card "
                             f"ending {summary.card_last4}. Refund status: no refund yet."}]
        return [{"text": "Please tell me the email address and the reference of your order."}]


class EmailWorld:
    """The bridge's SMTP listener + worker on a real database holding the core's tables and the
    demo data, the real SMTP relay sink, and a FakeRasa whose brain is CoreBrain."""

    def __init__(self, tmp_path, **config):
        from supportbot.channels.email_bridge import store
        from supportbot.channels.email_bridge.bridge import EmailBridge
        from supportbot.channels.email_bridge.config import BridgeConfig
        from supportbot.channels.email_bridge.rasa_client import RasaClient
        from supportbot.channels.email_bridge.server import BridgeServer
        from supportbot.core.payment_provider import DryRunPaymentProvider
        from supportbot.core.services import SupportServices
        from supportbot.core.timeutil import utcnow
        from supportbot.db.demo import load_demo
        from supportbot.db.engine import make_engine
        from supportbot.db.models import Base
        from supportbot.mail import OutboxMailer, SmtpMailer

        self.database_url = f"sqlite:///{tmp_path / 'world.db'}"
        self.engine = make_engine(self.database_url)
        Base.metadata.create_all(self.engine)
        store.create_schema(self.engine)
        load_demo(self.engine, now=utcnow(), extra_orders=0)
        self.outbox = tmp_path / "codes"
        self.services = SupportServices(self.engine, OutboxMailer(self.outbox), DryRunPaymentProvider(),
                                        secret_key="test-secret", mail_from=f"Support <{SUPPORT}>")
        self.rasa = FakeRasa()
        self.rasa.brain = CoreBrain(self.services)
        self.sink = SmtpSink().start()
        defaults = dict(rasa_url=self.rasa.url, rasa_attempts=2, rasa_backoff=0.05, rasa_timeout=10,
                        spool_backoff=0.2, spool_backoff_cap=1.0, poll_interval=0.1,
                        mail_from=f"Support <{SUPPORT}>", own_addresses=frozenset({SUPPORT}))
        defaults.update(config)
        self.config = BridgeConfig(**defaults)
        self.bridge = EmailBridge(self.engine, SmtpMailer("127.0.0.1", self.sink.port, timeout=5), self.config,
                                  RasaClient(self.config.webhook_url, timeout=self.config.rasa_timeout,
                                             attempts=self.config.rasa_attempts, backoff=self.config.rasa_backoff))
        self.server = BridgeServer(self.bridge, host="127.0.0.1", port=free_port(), poll_interval=0.1).start()
        self.port = self.server.port

    def send(self, message: EmailMessage, mail_from: str | None = None) -> None:
        address = mail_from or re.findall(r"[\w.+-]+@[\w.-]+", str(message["From"]))[-1]
        send_smtp(self.port, message, mail_from=address)

    def rows(self, table) -> list[dict]:
        from sqlalchemy import select

        from supportbot.db.engine import session_scope

        with session_scope(self.engine) as session:
            return [dict(r) for r in session.execute(select(table)).mappings().all()]

    def close(self) -> None:
        self.server.stop()
        self.sink.stop()
        self.rasa.close()
        self.services.close()
        self.engine.dispose()
