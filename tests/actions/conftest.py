"""Action tests: rasa-sdk actions called with a real Tracker and CollectingDispatcher against
a real SQLite database holding the demo data (no Rasa server)."""
from __future__ import annotations

import re
from datetime import datetime, timezone
from email import policy
from email.parser import BytesParser
from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest
from rasa.shared.core.domain import Domain
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions import runtime
from supportbot.core.payment_provider import DryRunPaymentProvider
from supportbot.core.services import SupportServices
from supportbot.db import migrate
from supportbot.db.demo import load_demo
from supportbot.db.engine import make_engine
from supportbot.mail import OutboxMailer
from supportbot.settings import PROJECT_ROOT

NOW = datetime.now(timezone.utc).replace(microsecond=0)


@pytest.fixture(scope="session")
def domain() -> Dict[str, Any]:
    return Domain.load(str(PROJECT_ROOT / "domain.yml")).as_dict()


class World:
    def __init__(self, tmp_path: Path):
        self.engine = make_engine(f"sqlite:///{tmp_path / 'core.db'}")
        migrate.upgrade(self.engine)
        load_demo(self.engine, now=NOW, extra_orders=5)
        self.outbox = OutboxMailer(tmp_path / "outbox")
        self.provider = DryRunPaymentProvider()
        self.services = SupportServices(self.engine, self.outbox, self.provider,
                                        secret_key="test-secret")

    def latest_code(self, address: str) -> str:
        for message in reversed(self.outbox.messages()):
            if address in str(message["To"]):
                body = message.get_body(preferencelist=("plain",)).get_content()
                match = re.search(r"\b(\d{6})\b", body)
                if match:
                    return match.group(1)
        raise AssertionError(f"no code mailed to {address}")


@pytest.fixture
def world(tmp_path):
    w = World(tmp_path)
    runtime.reset(services_obj=w.services)
    yield w
    runtime.reset()
    w.services.close()
    w.engine.dispose()


def make_tracker(sender: str = "conv-1", *, slots: Optional[Dict[str, Any]] = None,
                 new_slots: Optional[Dict[str, Any]] = None, intent: str = "inform",
                 text: str = "", active_loop: Optional[str] = None,
                 entities: Optional[List[dict]] = None) -> Tracker:
    """A tracker whose latest user turn (intent, text) set `new_slots`."""
    all_slots = {**(slots or {}), **(new_slots or {})}
    latest = {"intent": {"name": intent, "confidence": 0.99}, "text": text,
              "entities": entities or [], "intent_ranking": [{"name": intent, "confidence": 0.99}]}
    events = [{"event": "action", "name": "action_listen"},
              {"event": "user", "text": text, "parse_data": latest}]
    events += [{"event": "slot", "name": k, "value": v} for k, v in (new_slots or {}).items()]
    return Tracker(sender, all_slots, latest, events, False, None,
                   {"name": active_loop} if active_loop else {}, "action_listen")


def slot_events(events: List[dict]) -> Dict[str, Any]:
    return {e["name"]: e["value"] for e in events if e.get("event") == "slot"}


def texts(dispatcher: CollectingDispatcher) -> str:
    return "\n".join(m.get("text") or "" for m in dispatcher.messages)
