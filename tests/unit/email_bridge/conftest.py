"""Fixtures of the email bridge unit tests.

* `smtp_sink`: a real SMTP server that plays the outgoing relay (email_helpers.SmtpSink).
* `fake_rasa`: a tiny HTTP server imitating Rasa's REST webhook (unit tests only).
* `make_bridge`: an EmailBridge on a fresh SQLite file (core + bridge tables) whose SmtpMailer
  points at the sink (or at any port, e.g. one where nothing listens: relay down).
* `running_bridge`: the bridge's SMTP listener + worker + spool loop on a free loopback port.
"""
from __future__ import annotations

import pytest
from email_helpers import SUPPORT, FakeRasa, SmtpSink, free_port

from supportbot.channels.email_bridge import store
from supportbot.channels.email_bridge.bridge import EmailBridge
from supportbot.channels.email_bridge.config import BridgeConfig
from supportbot.channels.email_bridge.rasa_client import RasaClient
from supportbot.channels.email_bridge.server import BridgeServer
from supportbot.db.engine import make_engine
from supportbot.mail import SmtpMailer


@pytest.fixture
def smtp_sink():
    sink = SmtpSink().start()
    yield sink
    sink.stop()


REST_TOKEN = "test-rest-token"


@pytest.fixture
def fake_rasa():
    rasa = FakeRasa(token=REST_TOKEN)
    yield rasa
    rasa.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request, tmp_path):
    """A SQLite file in tmp_path, or a fresh PostgreSQL schema (tests/conftest.py `postgres_url`)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'bridge.db'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def engine(db_url):
    """The bridge's tables and the core's (empty: the bridge reads who a conversation verified)."""
    from supportbot.db.models import Base

    eng = make_engine(db_url)
    Base.metadata.create_all(eng)
    store.create_schema(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def make_bridge(engine, fake_rasa, smtp_sink):
    def factory(*, relay_port: int | None = None, rasa_url: str | None = None, clock=None,
                token: str | None = REST_TOKEN, **overrides) -> EmailBridge:
        defaults = dict(rasa_url=rasa_url or fake_rasa.url, rasa_attempts=2, rasa_backoff=0.05,
                        rasa_timeout=5, spool_backoff=0.2, spool_backoff_cap=1.0, poll_interval=0.1,
                        mail_from=f"Support <{SUPPORT}>", own_addresses=frozenset({SUPPORT}), port=free_port())
        defaults.update(overrides)
        config = BridgeConfig(**defaults)
        mailer = SmtpMailer("127.0.0.1", relay_port or smtp_sink.port, timeout=5)
        return EmailBridge(engine, mailer, config,
                           RasaClient(config.webhook_url, timeout=config.rasa_timeout,
                                      attempts=config.rasa_attempts, backoff=config.rasa_backoff,
                                      token=token),
                           clock=clock or store.utcnow)
    return factory


@pytest.fixture
def running_bridge(make_bridge):
    """start(bridge) -> a BridgeServer listening on a free loopback port; stopped afterwards."""
    servers: list[BridgeServer] = []

    def start(bridge: EmailBridge | None = None) -> BridgeServer:
        server = BridgeServer(bridge or make_bridge(), host="127.0.0.1", port=free_port(), poll_interval=0.1)
        server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()
