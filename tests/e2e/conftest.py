"""The real stack for end-to-end tests: Rasa server + action server on free ports, a fresh
SQLite database migrated and loaded with the demo data, outgoing mail into a test outbox.

The two processes are started with the command lines `supportbot run` builds
(supportbot/runtime/cli.py `build_specs`): the real credentials.yml, the REST channel's token
in Rasa's environment (SUPPORTBOT_REST_TOKEN, sent by `BotStack.say`), `--cors` with exactly
Settings.cors_origins: here the support page and a "shop" embedding the widget, on ports
chosen up front (`BotStack.web_port`, `BotStack.shop_port`).

One stack per test session (Rasa takes ~30 s to load the model). Tests share the demo data,
so each test uses its own conversation ids, and money-moving tests use their own orders.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path
from unittest import mock

import pytest
import requests
import yaml

from supportbot.runtime.cli import build_specs
from supportbot.runtime.supervisor import Supervisor
from supportbot.settings import PROJECT_ROOT, Settings
from tests.conftest import free_port

MODEL = PROJECT_ROOT / "models" / "supportbot.tar.gz"
# the tracker store `make run` uses (endpoints.yml), on the test database
TRACKER_STORE = yaml.safe_load((PROJECT_ROOT / "endpoints.yml").read_text())["tracker_store"]["type"]
BIN = Path(sys.executable).parent


@dataclass
class BotStack:
    rasa_url: str
    action_url: str
    database_url: str
    outbox_dir: Path
    credentials_path: Path
    token: str  # Rasa's HTTP API (--auth-token)
    rest_token: str  # the REST channel's internal callers (SUPPORTBOT_REST_TOKEN)
    web_port: int  # the support page's port: an allowed origin
    shop_port: int  # a site embedding the widget: an allowed origin
    cors_origins: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)

    @property
    def webhook_url(self) -> str:
        return f"{self.rasa_url}/webhooks/rest/webhook"

    def post(self, body=None, *, token: str | None = None, data: bytes | str | None = None,
             headers: dict[str, str] | None = None, timeout: float = 60) -> requests.Response:
        """A raw POST to the REST webhook (`token=""`: none; `data`: a raw body)."""
        token = self.rest_token if token is None else token
        sent = {"Authorization": f"Bearer {token}"} if token else {}
        sent.update(headers or {})
        if data is not None:
            return requests.post(self.webhook_url, data=data, headers=sent, timeout=timeout)
        return requests.post(self.webhook_url, json=body, headers=sent, timeout=timeout)

    def say(self, sender: str, text: str) -> list[dict]:
        """One customer turn over the REST channel (with its token); returns the bot's messages."""
        response = self.post({"sender": sender, "message": text})
        response.raise_for_status()
        return response.json()

    def texts(self, sender: str, text: str) -> str:
        return "\n".join(m.get("text", "") for m in self.say(sender, text))

    def tracker(self, sender: str) -> dict:
        response = requests.get(f"{self.rasa_url}/conversations/{sender}/tracker",
                                params={"token": self.token}, timeout=30)
        response.raise_for_status()
        return response.json()

    def user_events(self, sender: str) -> list[dict]:
        """The `user` events the tracker store wrote for `sender` (Rasa's `events` table)."""
        from sqlalchemy import create_engine, text

        engine = create_engine(self.database_url, future=True)
        try:
            with engine.connect() as conn:
                rows = conn.execute(text("SELECT data FROM events WHERE sender_id = :s AND type_name = 'user' "
                                         "ORDER BY id"), {"s": sender}).all()
        finally:
            engine.dispose()
        return [json.loads(row[0]) for row in rows]

    @staticmethod
    def new_sender(prefix: str = "test") -> str:
        return f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="session")
def bot_stack(tmp_path_factory) -> BotStack:
    if not MODEL.exists():
        pytest.fail(f"no trained model at {MODEL}: run `make train` (make test does it)")
    work = tmp_path_factory.mktemp("stack")
    db_file = work / "supportbot.db"
    database_url = f"sqlite:///{db_file}"
    rasa_port, action_port, web_port, shop_port = free_port(), free_port(), free_port(), free_port()
    token = uuid.uuid4().hex
    action_token = uuid.uuid4().hex + uuid.uuid4().hex  # Rasa -> action server
    rest_token = uuid.uuid4().hex + uuid.uuid4().hex  # internal callers -> Rasa's REST channel
    env = {
        "SUPPORTBOT_DATABASE_URL": database_url,
        "SUPPORTBOT_VAR_DIR": str(work),
        "SUPPORTBOT_OUTBOX_DIR": str(work / "outbox"),
        "SUPPORTBOT_RASA_PORT": str(rasa_port),
        "SUPPORTBOT_ACTION_PORT": str(action_port),
        "SUPPORTBOT_RASA_URL": f"http://127.0.0.1:{rasa_port}",
        "SUPPORTBOT_WEB_PORT": str(web_port),
        "SUPPORTBOT_CORS_ORIGINS": f"http://127.0.0.1:{web_port},http://127.0.0.1:{shop_port}",
        "SUPPORTBOT_REST_TOKEN": rest_token,
        "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "RASA_TELEMETRY_ENABLED": "false",
    }
    full_env = {**os.environ, **env}
    for argv in ([str(BIN / "supportbot"), "db", "upgrade"],
                 [str(BIN / "supportbot"), "db", "demo"]):
        subprocess.run(argv, check=True, env=full_env, cwd=PROJECT_ROOT)

    endpoints = work / "endpoints.yml"
    endpoints.write_text(json.dumps({
        # as `supportbot run` writes it (runtime/cli.py): the action server wants the secret
        "action_endpoint": {"url": f"http://127.0.0.1:{action_port}/webhook",
                            "headers": {"Authorization": f"Bearer {action_token}"}},
        "tracker_store": {"type": TRACKER_STORE, "dialect": "sqlite", "db": str(db_file)},
    }))
    log_path = work / "stack.log"
    log = open(log_path, "w")
    # the command lines of `supportbot run`, in this test's environment
    for name in ("SUPPORTBOT_RASA_HOST", "SUPPORTBOT_ACTION_HOST"):
        env.setdefault(name, "127.0.0.1")
    with mock.patch.dict(os.environ, {**env, "SUPPORTBOT_RASA_TOKEN": token}):
        settings = Settings.from_env()
        specs = build_specs(settings, str(MODEL), with_channels=False, token=action_token,
                            endpoints=endpoints, rest_secret=rest_token)
    specs = [replace(spec, env={**env, **spec.env}) for spec in specs if spec.name in ("actions", "rasa")]
    supervisor = Supervisor(specs, out=log, grace_period=15)
    supervisor.start()
    try:
        if not supervisor.wait_ready(timeout=240):
            log.flush()
            pytest.fail("the Rasa stack did not start:\n" + log_path.read_text()[-4000:])
        yield BotStack(rasa_url=f"http://127.0.0.1:{rasa_port}",
                       action_url=f"http://127.0.0.1:{action_port}", database_url=database_url,
                       outbox_dir=work / "outbox", credentials_path=PROJECT_ROOT / "credentials.yml",
                       token=token, rest_token=rest_token, web_port=web_port, shop_port=shop_port,
                       cors_origins=settings.cors_origins, env=env)
    finally:
        supervisor.stop()
        log.close()
