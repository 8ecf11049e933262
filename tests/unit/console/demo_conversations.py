"""Demo conversations for the console's tests: a migrated database with the demo data set,
Rasa's `events` rows in the exact shape Rasa's SQLTrackerStore writes them, and the side
effects made by the real domain core (SupportServices) at the moment of each turn: Alice's
automatic refund (one-time code, confirmation, dry-run provider: a real ledger row), Bob's
refund handed off to Customer Service (ticket), an email with a card number and an address,
a low-confidence turn with a fallback.

`build(url)` fills the database and returns the conversation ids and what the core recorded;
the indexer is not run here (the tests run it, or the console does in the background).
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select

from supportbot.core.payment_provider import DryRunPaymentProvider
from supportbot.core.services import SupportServices
from supportbot.core.timeutil import utcnow
from supportbot.db import migrate
from supportbot.db.demo import load_demo
from supportbot.db.engine import make_engine, session_scope
from supportbot.db.models import Refund
from supportbot.mail import OutboxMailer
from supportbot.review.events import events, rasa_metadata

CODE = "424242"
CARD = "4111 1111 1111 1111"  # Luhn-valid: must never be shown or exported


@dataclass
class Demo:
    url: str
    alice: str = "web-alice-refund"
    bob: str = "web-bob-handoff"
    email: str = "email-zoe-charge"
    fallback: str = "rest-lowconf"
    refund_id: int = 0
    refund_amount_minor: int = 0
    ticket_id: int = 0
    extra: list[str] = field(default_factory=list)


class Events:
    """Writes tracker events as Rasa's SQLTrackerStore does (id, sender_id, type_name,
    timestamp, intent_name, action_name, data = the event's as_dict() as JSON)."""

    def __init__(self, engine):
        self.engine = engine
        rasa_metadata.create_all(engine, tables=[events])

    def _write(self, sender: str, type_name: str, data: dict[str, Any], *, intent: str | None = None,
               action: str | None = None) -> None:
        now = time.time()
        data = {"event": type_name, "timestamp": now, **data}
        with session_scope(self.engine) as session:
            session.execute(insert(events).values(
                sender_id=sender, type_name=type_name, timestamp=now, intent_name=intent,
                action_name=action, data=json.dumps(data)))
        time.sleep(0.002)  # distinct timestamps, as in a real conversation

    def session_start(self, sender: str) -> None:
        self._write(sender, "action", {"name": "action_session_start"}, action="action_session_start")
        self._write(sender, "session_started", {})
        self._write(sender, "action", {"name": "action_listen"}, action="action_listen")

    def user(self, sender: str, text: str, intent: str, confidence: float,
             ranking: tuple[tuple[str, float], ...] = (), entities: tuple[dict, ...] = (),
             channel: str = "rest", client: str = "127.0.0.1") -> None:
        intent_ranking = [{"name": intent, "confidence": confidence}] + [
            {"name": n, "confidence": c} for n, c in ranking]
        self._write(sender, "user", {
            "text": text, "input_channel": channel, "message_id": f"m{time.time_ns()}",
            "metadata": {"channel": channel, "client_address": client},
            "parse_data": {"intent": {"name": intent, "confidence": confidence},
                           "entities": list(entities), "text": text,
                           "intent_ranking": intent_ranking}}, intent=intent)

    def action(self, sender: str, name: str) -> None:
        self._write(sender, "action", {"name": name, "policy": "RulePolicy", "confidence": 1.0},
                    action=name)

    def slot(self, sender: str, name: str, value: Any) -> None:
        self._write(sender, "slot", {"name": name, "value": value}, action=name)

    def bot(self, sender: str, text: str, buttons: tuple[tuple[str, str], ...] = ()) -> None:
        data = {"buttons": [{"title": t, "payload": p} for t, p in buttons]} if buttons else {}
        self._write(sender, "bot", {"text": text, "data": data, "metadata": {}})

    def listen(self, sender: str) -> None:
        self.action(sender, "action_listen")


def _entity(text: str, value: str, name: str, extractor: str = "PatternEntityExtractor") -> dict:
    start = text.index(value)
    return {"entity": name, "value": value, "start": start, "end": start + len(value),
            "extractor": extractor}


def build(url: str, outbox: Path) -> Demo:
    engine = make_engine(url)
    try:
        migrate.upgrade(engine)
        load_demo(engine, now=utcnow())
        ev = Events(engine)
        services = SupportServices(engine, OutboxMailer(outbox), DryRunPaymentProvider(),
                                   secret_key="console-test-secret",
                                   verification_options={"code_generator": lambda: CODE})
        demo = Demo(url=url)
        try:
            _alice(ev, services, demo)
            _bob(ev, services, demo)
        finally:
            services.close()
        _email(ev, demo)
        _fallback(ev, demo)
        with session_scope(engine) as session:
            refund = session.get(Refund, demo.refund_id)
            demo.refund_amount_minor = refund.amount_minor
        return demo
    finally:
        engine.dispose()


def _alice(ev: Events, services: SupportServices, demo: Demo) -> None:
    cid, ref = demo.alice, "100000001"
    ev.session_start(cid)
    ev.user(cid, "I want a refund please", "request_refund", 0.94,
            (("refund_status", 0.03), ("cancel_subscription", 0.01)), channel="widget")
    ev.action(cid, "action_start_task")
    ev.slot(cid, "pending_task", "request_refund")
    ev.action(cid, "verify_order_form")
    ev.bot(cid, "Which email address did you use for the purchase, and what is the order reference?")
    ev.listen(cid)
    text = f"alice@example.com and {ref}"
    ev.user(cid, text, "inform", 0.97, (("request_refund", 0.01),),
            (_entity(text, "alice@example.com", "email"), _entity(text, ref, "order_reference")),
            channel="widget")
    ev.slot(cid, "customer_email", "alice@example.com")
    ev.slot(cid, "order_reference", ref)
    assert services.verify_order(cid, "alice@example.com", ref).status == "verified"
    assert services.send_one_time_code(cid, ref, "refund").status == "sent"
    ev.action(cid, "verify_order_form")
    ev.bot(cid, "I found order 100000001. I sent a 6-digit code to a***e@example.com.")
    ev.listen(cid)
    ev.user(cid, CODE, "inform", 0.88, (("affirm", 0.05),), (_entity(CODE, CODE, "one_time_code"),),
            channel="widget")
    ev.slot(cid, "one_time_code", CODE)
    assert services.check_one_time_code(cid, ref, CODE, "refund").status == "ok"
    asked = services.ask_confirmation(cid, ref, "refund", reason="no_longer_needed")
    assert asked.status == "pending", asked
    ev.action(cid, "verify_order_form")
    ev.bot(cid, "Shall I refund 49.00 EUR to your Visa ending 4242?", (("Yes", "/affirm"), ("No", "/deny")))
    ev.listen(cid)
    ev.user(cid, "yes", "affirm", 0.99, channel="widget")
    assert services.answer_confirmation(cid, ref, "refund", True) == "confirmed"
    outcome = services.issue_refund(cid, ref, "no_longer_needed", f"{cid}-1")
    assert outcome.status == "refunded", outcome
    ev.action(cid, "action_perform_task")
    ev.slot(cid, "refund_route", "refunded")
    ev.bot(cid, "Done: 49.00 EUR is on its way back to your Visa ending 4242.")
    ev.listen(cid)
    with session_scope(services.engine) as session:
        demo.refund_id = session.scalar(select(Refund.id).where(
            Refund.provider_idempotency_key.is_not(None)).order_by(Refund.id.desc()))


def _bob(ev: Events, services: SupportServices, demo: Demo) -> None:
    cid, ref = demo.bob, "100000002"
    ev.session_start(cid)
    text = f"refund for order {ref}, bob@example.com"
    ev.user(cid, text, "request_refund", 0.91, (("refund_status", 0.05),),
            (_entity(text, ref, "order_reference"), _entity(text, "bob@example.com", "email")))
    ev.slot(cid, "order_reference", ref)
    assert services.verify_order(cid, "bob@example.com", ref).status == "verified"
    outcome = services.issue_refund(cid, ref, "no_longer_needed", f"{cid}-1",
                                    summary="Bob wants a refund of NoteNest Pro")
    assert outcome.status == "handed_off", outcome
    demo.ticket_id = outcome.ticket.id
    ev.action(cid, "action_perform_task")
    ev.bot(cid, "This refund needs a person: I passed it to Customer Service (ticket "
                f"#{outcome.ticket.id}).")
    ev.listen(cid)


def _email(ev: Events, demo: Demo) -> None:
    cid = demo.email
    ev.session_start(cid)
    text = f"Hi, my card {CARD} was charged and I do not know why. Reply to zoe@example.org"
    ev.user(cid, text, "unknown_charge", 0.81, (("request_refund", 0.1),),
            (_entity(text, "zoe@example.org", "email"),), channel="email", client="email:zoe@example.org")
    ev.action(cid, "action_explain_charge")
    ev.bot(cid, "Charges from RSLR* are purchases through us. Reply with the amount and date.")
    ev.listen(cid)


def _fallback(ev: Events, demo: Demo) -> None:
    cid = demo.fallback
    ev.session_start(cid)
    ev.user(cid, "blorp the frobnicator", "nlu_fallback", 0.21, (("faq", 0.18), ("greet", 0.1)))
    ev.action(cid, "action_default_fallback")
    ev.bot(cid, "Sorry, I did not understand. Did you mean one of these?",
           (("Refund", "/request_refund"), ("Talk to a person", "/human_handoff")))
    ev.listen(cid)
