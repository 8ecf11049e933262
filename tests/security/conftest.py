"""The real action server, started through our entry point (supportbot/runtime/action_server.py)
as `supportbot run` starts it, on a fresh demo database, with Rasa's own SQL tracker store
writing the stored side of conversations into the same database. The tests call it over HTTP
the way Rasa does - and the way an attacker would.
"""
from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from supportbot.runtime.supervisor import ProcessSpec, Supervisor
from supportbot.settings import PROJECT_ROOT
from tests.conftest import free_port, latest_code

BIN = Path(sys.executable).parent


@dataclass
class ActionServer:
    url: str
    port: int
    token: str
    database_url: str
    db_file: Path
    outbox_dir: Path
    domain: dict[str, Any]

    def post(self, body: Any, *, token: str | None = None, query_token: str | None = None,
             path: str = "/webhook") -> requests.Response:
        """POST as Rasa does (Authorization: Bearer <token>); `token=""` sends none."""
        token = self.token if token is None else token
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        params = {"token": query_token} if query_token is not None else None
        return requests.post(self.url + path, json=body, headers=headers, params=params, timeout=30)

    def run(self, action: str, sender: str, *, slots: dict[str, Any] | None = None,
            new_slots: dict[str, Any] | None = None, intent: str = "inform", text: str = "",
            history: list[dict[str, Any]] | None = None, active_loop: str | None = None,
            token: str | None = None, client_address: str | None = None) -> requests.Response:
        """One action call with a tracker built from these parts (the same shape Rasa sends):
        `history` events, then the latest user turn (`intent`, `text`) and the slots it set.
        `client_address`: the message metadata our channels set (`{"channel", "client_address"}`),
        as Rasa passes it in `latest_message.metadata`."""
        from rasa_sdk import __version__ as sdk_version

        metadata = {"channel": "widget", "client_address": client_address} if client_address else {}
        latest = {"intent": {"name": intent, "confidence": 0.99}, "text": text, "entities": [],
                  "intent_ranking": [{"name": intent, "confidence": 0.99}], "metadata": metadata}
        events = list(history or []) + [
            {"event": "action", "name": "action_listen", "timestamp": time.time()},
            {"event": "user", "text": text, "parse_data": latest, "metadata": metadata,
             "timestamp": time.time()}]
        events += [{"event": "slot", "name": k, "value": v} for k, v in (new_slots or {}).items()]
        tracker = {"sender_id": sender, "slots": {**(slots or {}), **(new_slots or {})},
                   "latest_message": latest, "events": events, "paused": False,
                   "followup_action": None, "active_loop": {"name": active_loop} if active_loop else {},
                   "latest_action_name": "action_listen"}
        return self.post({"next_action": action, "sender_id": sender, "tracker": tracker,
                          "domain": self.domain, "version": sdk_version}, token=token)

    def latest_code(self, address: str, timeout: float = 10.0) -> str:
        return latest_code(self.outbox_dir, address, timeout)

    def store_conversation(self, sender: str, lines: list[tuple[str, str]]) -> None:
        """Save a conversation with Rasa's own SQLTrackerStore into the shared database, as
        the Rasa server does after each turn (`lines`: ("user" | "bot", text))."""
        from rasa.core.tracker_store import SQLTrackerStore
        from rasa.shared.core.domain import Domain
        from rasa.shared.core.events import ActionExecuted, BotUttered, UserUttered
        from rasa.shared.core.trackers import DialogueStateTracker

        domain = Domain.load(str(PROJECT_ROOT / "domain.yml"))
        store = SQLTrackerStore(domain, dialect="sqlite", db=str(self.db_file))
        events: list[Any] = []
        for who, said in lines:
            if who == "user":
                events += [ActionExecuted("action_listen"),
                           UserUttered(said, {"name": "inform", "confidence": 1.0})]
            else:
                events.append(BotUttered(said))
        asyncio.run(store.save(DialogueStateTracker.from_events(sender, events)))
        store.engine.dispose()

    @staticmethod
    def sender(prefix: str = "sec") -> str:
        return f"{prefix}-{uuid.uuid4().hex[:10]}"


def _health_ok(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.RequestException:
        return False


@pytest.fixture(scope="session")
def action_server(tmp_path_factory) -> ActionServer:
    from rasa.shared.core.domain import Domain

    work = tmp_path_factory.mktemp("action-server")
    db_file = work / "supportbot.db"
    port = free_port()
    token = uuid.uuid4().hex + uuid.uuid4().hex
    env = {
        "SUPPORTBOT_DATABASE_URL": f"sqlite:///{db_file}",
        "SUPPORTBOT_VAR_DIR": str(work),
        "SUPPORTBOT_OUTBOX_DIR": str(work / "outbox"),
        "SUPPORTBOT_ACTION_TOKEN": token,
        "SUPPORTBOT_ACTION_HOST": "",  # unset: the default interface is under test
        "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
        "TF_CPP_MIN_LOG_LEVEL": "2",
    }
    full_env = {**os.environ, **env}
    for argv in ([str(BIN / "supportbot"), "db", "upgrade"], [str(BIN / "supportbot"), "db", "demo"]):
        subprocess.run(argv, check=True, env=full_env, cwd=PROJECT_ROOT, capture_output=True)
    log_path = work / "actions.log"
    log = open(log_path, "w")
    supervisor = Supervisor([ProcessSpec(
        "actions", [sys.executable, "-m", "supportbot.runtime.action_server", "--port", str(port)],
        env=env, cwd=str(PROJECT_ROOT),
        ready_check=lambda: _health_ok(f"http://127.0.0.1:{port}/health"))], out=log, grace_period=10)
    supervisor.start()
    try:
        if not supervisor.wait_ready(timeout=120):
            log.flush()
            pytest.fail("the action server did not start:\n" + log_path.read_text()[-4000:])
        yield ActionServer(url=f"http://127.0.0.1:{port}", port=port, token=token,
                           database_url=env["SUPPORTBOT_DATABASE_URL"], db_file=db_file,
                           outbox_dir=work / "outbox",
                           domain=Domain.load(str(PROJECT_ROOT / "domain.yml")).as_dict())
    finally:
        supervisor.stop()
        log.close()


# the real Rasa + action server stack of the end-to-end tests, for tests/security/test_channel_*.py
from tests.e2e.conftest import bot_stack  # noqa: E402,F401
