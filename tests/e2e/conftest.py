"""The real stack for end-to-end tests: Rasa server + action server on free ports, a fresh
SQLite database migrated and loaded with the demo data, outgoing mail into a test outbox.

One stack per test session (Rasa takes ~30 s to load the model). Tests share the demo data,
so each test uses its own conversation ids, and money-moving tests use their own orders.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests
import yaml

from supportbot.runtime.supervisor import ProcessSpec, Supervisor
from supportbot.settings import PROJECT_ROOT
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
    token: str
    env: dict[str, str] = field(default_factory=dict)

    def say(self, sender: str, text: str) -> list[dict]:
        """One customer turn over the REST channel; returns the bot's messages."""
        response = requests.post(f"{self.rasa_url}/webhooks/rest/webhook",
                                 json={"sender": sender, "message": text}, timeout=60)
        response.raise_for_status()
        return response.json()

    def texts(self, sender: str, text: str) -> str:
        return "\n".join(m.get("text", "") for m in self.say(sender, text))

    def tracker(self, sender: str) -> dict:
        response = requests.get(f"{self.rasa_url}/conversations/{sender}/tracker",
                                params={"token": self.token}, timeout=30)
        response.raise_for_status()
        return response.json()

    @staticmethod
    def new_sender(prefix: str = "test") -> str:
        return f"{prefix}-{uuid.uuid4().hex[:10]}"


def _url_ok(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).status_code < 500
    except requests.RequestException:
        return False


@pytest.fixture(scope="session")
def bot_stack(tmp_path_factory) -> BotStack:
    if not MODEL.exists():
        pytest.fail(f"no trained model at {MODEL}: run `make train` (make test does it)")
    work = tmp_path_factory.mktemp("stack")
    db_file = work / "supportbot.db"
    database_url = f"sqlite:///{db_file}"
    rasa_port, action_port = free_port(), free_port()
    token = uuid.uuid4().hex
    action_token = uuid.uuid4().hex + uuid.uuid4().hex  # Rasa -> action server
    env = {
        "SUPPORTBOT_DATABASE_URL": database_url,
        "SUPPORTBOT_VAR_DIR": str(work),
        "SUPPORTBOT_OUTBOX_DIR": str(work / "outbox"),
        "SUPPORTBOT_RASA_PORT": str(rasa_port),
        "SUPPORTBOT_ACTION_PORT": str(action_port),
        "SUPPORTBOT_RASA_URL": f"http://127.0.0.1:{rasa_port}",
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
    credentials = work / "credentials.yml"
    credentials.write_text((PROJECT_ROOT / "credentials.yml").read_text())

    log_path = work / "stack.log"
    log = open(log_path, "w")
    supervisor = Supervisor([
        ProcessSpec("actions", [sys.executable, "-m", "supportbot.runtime.action_server",
                                "--port", str(action_port)],
                    env={**env, "SUPPORTBOT_ACTION_TOKEN": action_token}, cwd=str(PROJECT_ROOT),
                    ready_check=lambda: _url_ok(f"http://127.0.0.1:{action_port}/health")),
        ProcessSpec("rasa", [str(BIN / "rasa"), "run", "--model", str(MODEL), "--endpoints",
                             str(endpoints), "--credentials", str(credentials), "-i", "127.0.0.1",
                             "--port", str(rasa_port), "--enable-api", "--auth-token", token,
                             "--cors", "*"], env=env, cwd=str(PROJECT_ROOT),
                    ready_check=lambda: _url_ok(f"http://127.0.0.1:{rasa_port}/status?token={token}")),
    ], out=log, grace_period=15)
    supervisor.start()
    try:
        if not supervisor.wait_ready(timeout=240):
            log.flush()
            pytest.fail("the Rasa stack did not start:\n" + log_path.read_text()[-4000:])
        yield BotStack(rasa_url=f"http://127.0.0.1:{rasa_port}",
                       action_url=f"http://127.0.0.1:{action_port}", database_url=database_url,
                       outbox_dir=work / "outbox", credentials_path=credentials, token=token,
                       env=env)
    finally:
        supervisor.stop()
        log.close()
