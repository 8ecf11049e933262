"""Action tests: rasa-sdk actions called with a real Tracker and CollectingDispatcher against
a real SQLite database holding the demo data (no Rasa server)."""
from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

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
def domain() -> dict[str, Any]:
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


def make_tracker(sender: str = "conv-1", *, slots: dict[str, Any] | None = None,
                 new_slots: dict[str, Any] | None = None, intent: str = "inform",
                 text: str = "", active_loop: str | None = None,
                 entities: list[dict] | None = None) -> Tracker:
    """A tracker whose latest user turn (intent, text) set `new_slots`."""
    all_slots = {**(slots or {}), **(new_slots or {})}
    latest = {"intent": {"name": intent, "confidence": 0.99}, "text": text,
              "entities": entities or [], "intent_ranking": [{"name": intent, "confidence": 0.99}]}
    events = [{"event": "action", "name": "action_listen"},
              {"event": "user", "text": text, "parse_data": latest}]
    events += [{"event": "slot", "name": k, "value": v} for k, v in (new_slots or {}).items()]
    return Tracker(sender, all_slots, latest, events, False, None,
                   {"name": active_loop} if active_loop else {}, "action_listen")


def slot_events(events: list[dict]) -> dict[str, Any]:
    return {e["name"]: e["value"] for e in events if e.get("event") == "slot"}


def texts(dispatcher: CollectingDispatcher) -> str:
    return "\n".join(m.get("text") or "" for m in dispatcher.messages)


# ---------------------------------------------------------------------------------------------
# The core's template database and fake clock (as in tests/unit/core): the demo data set
# anchored at a fixed Monday noon is built once per session and copied into each test's
# database; the services read a controllable clock, so every date the core computes (period
# ends, link expiry, business days) is reproducible. Actions are run by their domain.yml name
# through rasa-sdk's own action registry, as the action server runs them.

ANCHOR = datetime(2024, 6, 3, 12, 0, tzinfo=timezone.utc)


class FakeClock:
    """`clock()` -> now; `clock.advance(days=1)`."""

    def __init__(self, now: datetime = ANCHOR):
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs) -> None:
        from datetime import timedelta

        self.now = self.now + timedelta(**kwargs)


@pytest.fixture(scope="session")
def demo_db_template(tmp_path_factory) -> Path:
    """A migrated SQLite file holding the demo data anchored at ANCHOR (no extra orders)."""
    path = tmp_path_factory.mktemp("actions-db-template") / "demo.db"
    engine = make_engine(f"sqlite:///{path}")
    migrate.upgrade(engine)
    load_demo(engine, now=ANCHOR, extra_orders=0)
    engine.dispose()  # checkpoints the WAL into the main file
    return path


@pytest.fixture(scope="session")
def faq_kb():
    """The project's FAQ articles (faq/), indexed in memory: never writes var/faq_index.json."""
    from supportbot.knowledge import KnowledgeBase

    return KnowledgeBase.load(PROJECT_ROOT / "faq", save=False)


class AnchoredWorld(World):
    """World on a copy of the template database, with the fake clock (World.__init__ is not
    called: it would build a second database)."""

    def __init__(self, tmp_path: Path, template: Path, clock: FakeClock):
        import shutil

        path = tmp_path / "core.db"
        shutil.copyfile(template, path)
        self.clock = clock
        self.engine = make_engine(f"sqlite:///{path}")
        self.outbox = OutboxMailer(tmp_path / "outbox")
        self.provider = DryRunPaymentProvider()
        self.services = SupportServices(self.engine, self.outbox, self.provider,
                                        secret_key="test-secret", clock=clock)

    def mails_to(self, address: str) -> list:
        """The messages in the outbox addressed to `address`."""
        if not self.outbox.directory.exists():
            return []
        return [m for m in self.outbox.messages() if str(m["To"]).strip().lower() == address.lower()]

    def all_mails(self) -> list:
        return self.outbox.messages() if self.outbox.directory.exists() else []

    def purchase_email(self, reference: str) -> str:
        """The order's email address, read from the database (not from the docs)."""
        from sqlalchemy import select

        from supportbot.db.models import Customer, Order

        with self.engine.connect() as conn:
            return conn.execute(select(Customer.email).join(Order, Order.customer_id == Customer.id)
                                .where(Order.reference == reference)).scalar_one()


@pytest.fixture
def fake_clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def anchored_world(tmp_path, demo_db_template, fake_clock, faq_kb):
    w = AnchoredWorld(tmp_path, demo_db_template, fake_clock)
    runtime.reset(services_obj=w.services, knowledge_obj=faq_kb)
    yield w
    runtime.reset()
    w.services.close()
    w.engine.dispose()


_executor = None


def registered_actions() -> dict[str, Any]:
    """name -> run method of every Action in the `actions` package (rasa-sdk's registry)."""
    global _executor
    if _executor is None:
        import importlib
        import inspect

        from rasa_sdk import Action
        from rasa_sdk.executor import ActionExecutor

        # module by module: under pytest the name `actions` can also be this test package,
        # so rasa-sdk's register_package("actions") would walk the wrong folder
        executor = ActionExecutor()
        for path in sorted((PROJECT_ROOT / "actions").glob("*.py")):
            if path.stem == "__init__":
                continue
            module = importlib.import_module(f"actions.{path.stem}")
            for obj in vars(module).values():
                if (inspect.isclass(obj) and issubclass(obj, Action) and not inspect.isabstract(obj)
                        and obj.__module__ == module.__name__):
                    executor.register_action(obj)
        _executor = executor
    return _executor.actions


def run_action(name: str, tracker: Tracker, domain: dict[str, Any]):
    """Run the action named `name` in domain.yml; returns (dispatcher, events as dicts)."""
    import asyncio
    import inspect

    run = registered_actions()[name]
    dispatcher = CollectingDispatcher()
    events = run(dispatcher, tracker, domain)
    if inspect.isawaitable(events):
        events = asyncio.run(events)
    return dispatcher, list(events or [])


def verify_in_chat(world: World, domain: dict[str, Any], sender: str, task: str, reference: str,
                   email: str | None = None) -> dict[str, Any]:
    """The verification form for `task`: email, then the order reference (the real core checks
    the pair and records the conversation as verified). Returns the slots afterwards."""
    email = email or world.purchase_email(reference)
    state: dict[str, Any] = {"pending_task": task}
    tracker = make_tracker(sender, slots={**state, "requested_slot": "email"},
                           new_slots={"email": email}, active_loop="verify_order_form")
    _, events = run_action("validate_verify_order_form", tracker, domain)
    state.update({"email": email, **slot_events(events)})
    tracker = make_tracker(sender, slots=state, new_slots={"order_ref": reference},
                           active_loop="verify_order_form")
    _, events = run_action("validate_verify_order_form", tracker, domain)
    state.update({"order_ref": reference, **slot_events(events)})
    return state


def confirm_in_chat(world: World, domain: dict[str, Any], sender: str, state: dict[str, Any],
                    answer: str = "affirm") -> tuple[dict[str, Any], str]:
    """After verify_in_chat (and the refund reason): the form asks for the one-time code (the
    core mails it), the customer types it, the bot asks its confirmation question and the
    customer answers (`"affirm"` or `"deny"`), each step through the real actions.
    Returns the slots afterwards and the question the bot asked."""
    assert state.get("requested_slot") == "one_time_code", state
    _, events = run_action("action_ask_one_time_code", make_tracker(sender, slots=state), domain)
    state.update(slot_events(events))
    target = state.get("refund_target_ref") or state["order_ref"]
    code = world.latest_code(world.purchase_email(target))
    tracker = make_tracker(sender, slots=state, new_slots={"one_time_code": code},
                           active_loop="verify_order_form")
    _, events = run_action("validate_verify_order_form", tracker, domain)
    state.update({"one_time_code": code, **slot_events(events)})
    assert state["requested_slot"] == "refund_confirmed", state
    asked, events = run_action("action_ask_refund_confirmed", make_tracker(sender, slots=state), domain)
    state.update(slot_events(events))
    tracker = make_tracker(sender, slots=state, new_slots={"refund_confirmed": answer == "affirm"},
                           intent=answer, active_loop="verify_order_form")
    _, events = run_action("validate_verify_order_form", tracker, domain)
    state.update({"refund_confirmed": answer == "affirm", **slot_events(events)})
    return state, texts(asked)


def buttons(dispatcher: CollectingDispatcher) -> list[dict]:
    return [b for m in dispatcher.messages for b in (m.get("buttons") or [])]
