"""Hardening issue, faults: nothing is lost.

* Rasa restarted while mail arrives: the bridge waits and tries again with back-off; the mail
  is answered once Rasa is back (it used to be held for a person at once).
* The database unavailable while a mail is delivered: the SMTP listener answers 451 (the
  sending server keeps the mail and retries), never 250 for a mail it did not store and never a
  permanent 5xx; the retry is stored and answered. Real PostgreSQL behind a TCP proxy we stop.
* The outgoing relay down: replies (the bridge's own spool) and one-time codes (the core's
  mailer, supportbot.mail.SpoolingMailer) are kept and sent when the relay is back; a real
  aiosmtpd relay that we stop and start again.
"""
from __future__ import annotations

import re
import smtplib
from urllib.parse import urlsplit, urlunsplit

import pytest

from supportbot.channels.email_bridge import store
from tests.conftest import free_port
from tests.unit.email_bridge.email_helpers import (
    SUPPORT,
    EmailWorld,
    FakeRasa,
    SmtpSink,
    TcpProxy,
    make_mail,
    send_smtp,
    wait_until,
)


def _body(message) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()


# --------------------------------------------------------------------------- Rasa restarted

def test_mail_arriving_while_rasa_restarts_is_answered_once_rasa_is_back(tmp_path):
    rasa_port = free_port()
    world = EmailWorld(tmp_path, rasa_url=f"http://127.0.0.1:{rasa_port}", rasa_retry_backoff=0.2,
                       rasa_retry_cap=0.5)
    original = world.rasa
    try:
        first = make_mail("I was charged twice for order 100000005", subject="Question",
                          sender="Erin <erin@example.com>")
        second = make_mail("and my email is erin@example.com", subject="Question", sender="Erin <erin@example.com>")
        world.send(first)
        world.send(second)
        wait_until(lambda: [r["status_reason"] for r in world.rows(store.inbound)][:1] == ["rasa_retry"])
        assert world.sink.messages == []  # no "a person will look at it": it is just waiting
        rasa = FakeRasa(port=rasa_port)  # Rasa is back (on the same port)
        try:
            messages = world.sink.wait_for(2, timeout=20)
            assert [r["status"] for r in world.rows(store.inbound)] == ["replied", "replied"]
            assert [c["message"] for c in rasa.calls] == [  # once each, in the order they came
                "I was charged twice for order 100000005", "and my email is erin@example.com"]
            assert all("You said:" in _body(m) for m in messages)
            assert not any("a person from our support team" in _body(m) for m in messages)
        finally:
            rasa.close()
    finally:
        world.rasa = original
        world.close()


# --------------------------------------------------------------------------- database down

def _smtp_data(port: int, message) -> tuple[int, bytes]:
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        client.ehlo()
        client.mail("erin@example.com")
        client.rcpt(SUPPORT)
        return client.data(bytes(message))


@pytest.mark.postgres
def test_database_down_answers_451_and_the_retried_mail_is_answered(postgres_url, tmp_path):
    from supportbot.channels.email_bridge.bridge import EmailBridge
    from supportbot.channels.email_bridge.config import BridgeConfig
    from supportbot.channels.email_bridge.rasa_client import RasaClient
    from supportbot.channels.email_bridge.server import BridgeServer
    from supportbot.db.engine import make_engine
    from supportbot.db.models import Base
    from supportbot.mail import SmtpMailer

    parts = urlsplit(postgres_url)
    proxy = TcpProxy(parts.port or 5432).start()
    url = urlunsplit(parts._replace(netloc=f"{parts.username}@127.0.0.1:{proxy.port}"))
    engine = make_engine(url)
    Base.metadata.create_all(engine)
    store.create_schema(engine)
    sink, rasa = SmtpSink().start(), FakeRasa()
    config = BridgeConfig(rasa_url=rasa.url, poll_interval=0.1, mail_from=f"Support <{SUPPORT}>",
                          own_addresses=frozenset({SUPPORT}))
    bridge = EmailBridge(engine, SmtpMailer("127.0.0.1", sink.port, timeout=5), config,
                         RasaClient(config.webhook_url, attempts=1))
    server = BridgeServer(bridge, host="127.0.0.1", port=free_port(), poll_interval=0.1).start()
    try:
        mail = make_mail("I was charged twice for order 100000005")
        proxy.stop()  # the database goes away
        code, answer = _smtp_data(server.port, mail)
        assert code == 451, answer  # transient: the sending server keeps the mail and retries
        proxy.start()  # the database is back; the sending server retries
        code, _answer = _smtp_data(server.port, mail)
        assert code == 250
        reply = sink.wait_for(1, timeout=20)[0]
        assert reply["In-Reply-To"] == mail["Message-ID"] and len(rasa.calls) == 1
    finally:
        server.stop()
        sink.stop()
        rasa.close()
        engine.dispose()
        proxy.stop()


def test_internal_error_while_storing_answers_451_not_500(tmp_path):
    """Whatever goes wrong inside (here: the bridge's tables are gone), never a permanent 5xx."""
    world = EmailWorld(tmp_path)
    try:
        with world.engine.begin() as conn:
            conn.exec_driver_sql("ALTER TABLE email_inbound RENAME TO email_inbound_gone")
        code, _answer = _smtp_data(world.port, make_mail("hello"))
        assert code == 451
        with world.engine.begin() as conn:
            conn.exec_driver_sql("ALTER TABLE email_inbound_gone RENAME TO email_inbound")
        mail = make_mail("hello again")
        assert _smtp_data(world.port, mail)[0] == 250
        assert world.sink.wait_for(1)[0]["In-Reply-To"] == mail["Message-ID"]
    finally:
        world.close()


# --------------------------------------------------------------------------- relay down

def _settings(monkeypatch, tmp_path, relay_port: int):
    from supportbot.settings import Settings

    monkeypatch.setenv("SUPPORTBOT_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("SUPPORTBOT_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("SUPPORTBOT_SMTP_PORT", str(relay_port))
    return Settings.from_env()


def test_one_time_code_is_spooled_while_the_relay_is_down_and_sent_when_it_returns(tmp_path, monkeypatch):
    from supportbot.core.payment_provider import DryRunPaymentProvider
    from supportbot.core.services import SupportServices
    from supportbot.mail import MailSpool, SpoolingMailer, mail_spool_dir, mailer_from_settings

    world = EmailWorld(tmp_path)  # only for its database with the demo data
    relay_port = free_port()
    settings = _settings(monkeypatch, tmp_path, relay_port)
    mailer = mailer_from_settings(settings)
    assert isinstance(mailer, SpoolingMailer)
    mailer.retry_interval = 0.2  # the production default is 5 s, doubled up to 5 min
    services = SupportServices(world.engine, mailer, DryRunPaymentProvider(), secret_key="k",
                               mail_from=f"Support <{SUPPORT}>")
    relay = SmtpSink(port=relay_port)
    try:
        assert services.verify_order("conv-relay", "alice@example.com", "100000001").status == "verified"
        dispatch = services.send_one_time_code("conv-relay", "100000001")  # the relay is down
        assert dispatch.status == "sent"  # accepted: it is spooled, not lost
        assert len(MailSpool(mail_spool_dir(settings)).pending()) == 1
        relay.start()
        [message] = relay.wait_for(1, timeout=15)
        assert relay.handler.envelopes[0][1] == ["alice@example.com"]
        code = re.search(r"\b(\d{6})\b", _body(message)).group(1)
        assert services.check_one_time_code("conv-relay", "100000001", code).status == "ok"
        wait_until(lambda: MailSpool(mail_spool_dir(settings)).pending() == [])
    finally:
        relay.stop()
        services.close()
        world.close()


def test_the_bridge_serve_loop_sends_mail_another_process_spooled(tmp_path, monkeypatch):
    """The action server spooled a code and stopped; `email-bridge serve` delivers it."""
    from supportbot.channels.email_bridge.bridge import bridge_from_settings
    from supportbot.channels.email_bridge.server import BridgeServer
    from supportbot.mail import MailSpool, build_message, mail_spool_dir

    relay = SmtpSink().start()
    settings = _settings(monkeypatch, tmp_path, relay.port)
    spool = MailSpool(mail_spool_dir(settings))
    spool.put(build_message("alice@example.com", "Your code", "123456", sender=SUPPORT))
    monkeypatch.setenv("SUPPORTBOT_DATABASE_URL", f"sqlite:///{tmp_path / 'b.db'}")
    from supportbot.settings import Settings

    bridge = bridge_from_settings(Settings.from_env(), poll_interval=0.1)
    store.create_schema(bridge.engine)
    server = BridgeServer(bridge, host="127.0.0.1", port=free_port(), poll_interval=0.1).start()
    try:
        assert relay.wait_for(1, timeout=10)[0]["To"] == "alice@example.com"
        wait_until(lambda: spool.pending() == [])
        assert len(relay.messages) == 1
    finally:
        server.stop()
        relay.stop()


def test_a_reply_is_spooled_while_the_relay_is_down_and_sent_once_when_it_returns(tmp_path):
    world = EmailWorld(tmp_path)
    relay_port = world.sink.port
    world.sink.stop()  # the relay goes down
    try:
        mail = make_mail("I was charged twice for order 100000005")
        send_smtp(world.port, mail)
        wait_until(lambda: any(r["attempts"] >= 1 for r in world.rows(store.outbound)))
        assert [r["status"] for r in world.rows(store.outbound)] in (["pending"], ["sending"])  # kept
        world.sink = SmtpSink(port=relay_port).start()  # back
        reply = world.sink.wait_for(1, timeout=15)[0]
        assert reply["In-Reply-To"] == mail["Message-ID"]
        wait_until(lambda: [r["status"] for r in world.rows(store.outbound)] == ["sent"])
        assert len(world.sink.messages) == 1 and len(world.rasa.calls) == 1
    finally:
        world.close()
