"""Conversations for the review tests, in the exact shape Rasa's SQLTrackerStore stores them.

Events are Rasa's own event classes; `write()` inserts them the way
`SQLTrackerStore.save` does (same columns, `data` = `json.dumps(event.as_dict())`), and
`test_events_shape.py` checks that against Rasa's store itself. The core side of a conversation
(verification, codes, confirmations, refunds, tickets) is made by the real SupportServices with
the conversation's id, at the time the turn happens (the services' clock is the test clock).
"""
from __future__ import annotations

import json
from datetime import datetime, timezone

from rasa.shared.core.events import (
    ActionExecuted,
    ActiveLoop,
    BotUttered,
    SessionStarted,
    SlotSet,
    UserUttered,
)
from sqlalchemy import text

ANCHOR = datetime(2024, 6, 3, 12, 0, tzinfo=timezone.utc)
MODEL_ID = "20241203-120000-brisk-model"
LUHN_CARD = "4111 1111 1111 1111"  # Visa test number, Luhn-valid
LUHN_CARD_DIGITS = LUHN_CARD.replace(" ", "")

EVENTS_DDL = {
    # Rasa's SQLTrackerStore.SQLEvent, as SQLAlchemy creates it (see test_events_shape.py)
    "sqlite": ("CREATE TABLE events (id INTEGER NOT NULL PRIMARY KEY, sender_id VARCHAR(255) NOT NULL, "
               "type_name VARCHAR(255) NOT NULL, timestamp FLOAT, intent_name VARCHAR(255), "
               "action_name VARCHAR(255), data TEXT)"),
    "postgresql": ("CREATE TABLE events (id SERIAL NOT NULL PRIMARY KEY, sender_id VARCHAR(255) NOT NULL, "
                   "type_name VARCHAR(255) NOT NULL, timestamp FLOAT, intent_name VARCHAR(255), "
                   "action_name VARCHAR(255), data TEXT)"),
}


def create_events_table(engine) -> None:
    with engine.begin() as conn:
        conn.exec_driver_sql(EVENTS_DDL[engine.dialect.name])
        conn.exec_driver_sql("CREATE INDEX ix_events_sender_id ON events (sender_id)")


def row_of(sender_id: str, event) -> dict:
    """One `events` row exactly as SQLTrackerStore.save builds it."""
    data = event.as_dict()
    return {"sender_id": sender_id, "type_name": event.type_name, "timestamp": data.get("timestamp"),
            "intent_name": data.get("parse_data", {}).get("intent", {}).get("name"),
            "action_name": data.get("name"), "data": json.dumps(data)}


def write(engine, sender_id: str, events) -> None:
    rows = [row_of(sender_id, e) for e in events]
    if not rows:
        return
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO events (sender_id, type_name, timestamp, intent_name, "
                          "action_name, data) VALUES (:sender_id, :type_name, :timestamp, "
                          ":intent_name, :action_name, :data)"), rows)


class Conversation:
    """Builds a conversation's events turn by turn; `save()` writes what is new (like Rasa
    saving the tracker after each turn)."""

    def __init__(self, sender_id: str, clock, *, channel: str = "rest", model_id: str = MODEL_ID,
                 client_address: str = "127.0.0.1"):
        self.sender_id = sender_id
        self.clock = clock
        self.channel = channel
        self.input_channel = {"widget": "socketio", "rest": "rest", "email": "rest"}[channel]
        self.client_address = client_address
        self.model_id = model_id
        self.events: list = []
        self.saved = 0
        self._add(ActionExecuted("action_session_start"))
        self._add(SessionStarted())
        self._add(ActionExecuted("action_listen"))

    def _ts(self) -> float:
        self.clock.advance(seconds=1)
        return self.clock().timestamp()

    def _add(self, event):
        event.timestamp = self._ts()
        event.metadata = {**(event.metadata or {}), "model_id": self.model_id}
        self.events.append(event)
        return event

    def user(self, said: str, intent: str, confidence: float = 0.97, entities=(), ranking=None):
        entities = [dict(e) for e in entities]
        for e in entities:
            if "start" not in e and e.get("text") and e["text"] in said:
                e["start"] = said.index(e["text"])
                e["end"] = e["start"] + len(e["text"])
            e.pop("text", None)
            e.setdefault("extractor", "PatternEntityExtractor")
        if ranking is None:
            ranking = [{"name": intent, "confidence": confidence},
                       {"name": "faq" if intent != "faq" else "out_of_scope",
                        "confidence": round((1 - confidence) * 0.6, 4)},
                       {"name": "inform" if intent != "inform" else "greet",
                        "confidence": round((1 - confidence) * 0.3, 4)}]
        metadata = {"channel": self.channel, "client_address": self.client_address}
        parse = {"intent": {"name": intent, "confidence": confidence}, "entities": entities,
                 "text": said, "message_id": None, "metadata": metadata, "intent_ranking": ranking}
        event = UserUttered(said, parse["intent"], entities, parse_data=parse,
                            input_channel=self.input_channel, metadata=metadata)
        return self._add(event)

    def slot(self, name: str, value):
        return self._add(SlotSet(name, value))

    def action(self, name: str):
        return self._add(ActionExecuted(name, policy="RulePolicy", confidence=1.0))

    def bot(self, said: str, buttons=None):
        return self._add(BotUttered(said, {"buttons": buttons} if buttons else {}))

    def loop(self, name: str | None):
        return self._add(ActiveLoop(name))

    def listen(self):
        return self.action("action_listen")

    def save(self, engine) -> None:
        write(engine, self.sender_id, self.events[self.saved:])
        self.saved = len(self.events)


EMAILS = {"100000001": "alice@example.com", "100000002": "bob@example.com"}


def refund_issued(core, engine, sender_id: str) -> Conversation:
    """Alice's automatic refund as tests/test_refunds.yml tells it, with the core doing it."""
    services, clock = core.services, core.clock
    c = Conversation(sender_id, clock)
    c.user("hi", "greet", 0.99)
    c.action("utter_greet")
    c.bot("Hello! How can I help you?")
    c.listen()
    c.user("I'd like a refund please, I don't need the software any more", "request_refund", 0.93)
    c.action("action_start_task")
    c.action("verify_order_form")
    c.loop("verify_order_form")
    c.slot("requested_slot", "email")
    c.bot("What is the email address of your order?")
    c.listen()
    c.user("alice@example.com", "inform", 0.99,
           entities=[{"entity": "email", "value": "alice@example.com", "text": "alice@example.com"}])
    c.slot("email", "alice@example.com")
    c.action("verify_order_form")
    c.slot("requested_slot", "order_ref")
    c.bot("And the order reference?")
    c.listen()
    c.user("100000001", "inform", 0.98,
           entities=[{"entity": "order_ref", "value": "100000001", "text": "100000001"}])
    c.slot("order_ref", "100000001")
    clock.advance(seconds=1)
    assert services.verify_order(sender_id, "alice@example.com", "100000001").status == "verified"
    c.action("verify_order_form")
    c.slot("verified_ref", "100000001")
    c.slot("requested_slot", "refund_reason")
    c.bot("Why would you like a refund?", buttons=[{"title": "No longer needed",
                                                     "payload": '/inform{"refund_reason": "no_longer_needed"}'}])
    c.listen()
    c.user('/inform{"refund_reason": "no_longer_needed"}', "inform", 1.0,
           entities=[{"entity": "refund_reason", "value": "no_longer_needed"}])
    c.slot("refund_reason", "no_longer_needed")
    clock.advance(seconds=1)
    assert services.send_one_time_code(sender_id, "100000001", "refund").status == "sent"
    c.action("verify_order_form")
    c.slot("refund_route", "automatic")
    c.slot("requested_slot", "one_time_code")
    c.bot("I sent a code to a***e@example.com. Please type it here.")
    c.listen()
    code = core.codes.last
    c.user(code, "inform", 0.97, entities=[{"entity": "one_time_code", "value": code, "text": code}])
    c.slot("one_time_code", code)
    clock.advance(seconds=1)
    assert services.check_one_time_code(sender_id, "100000001", code, "refund").status == "ok"
    assert services.ask_confirmation(sender_id, "100000001", "refund",
                                     reason="no_longer_needed").status == "pending"
    c.action("verify_order_form")
    c.slot("one_time_code", "verified")
    c.slot("requested_slot", "refund_confirmed")
    c.bot("Shall I refund 49.00 EUR to your Visa ending 4242?")
    c.listen()
    c.user("yes go ahead", "affirm", 0.96)
    clock.advance(seconds=1)
    assert services.answer_confirmation(sender_id, "100000001", "refund", True) == "confirmed"
    c.slot("refund_confirmed", True)
    c.action("verify_order_form")
    c.loop(None)
    c.slot("requested_slot", None)
    clock.advance(seconds=1)
    outcome = services.issue_refund(sender_id, "100000001", "no_longer_needed", f"key-{sender_id}")
    assert outcome.status == "refunded", outcome
    c.action("action_perform_task")
    c.bot("Done: 49.00 EUR is on its way back to your Visa ending 4242.")
    c.listen()
    c.save(engine)
    return c


def refund_declined(core, engine, sender_id: str, *, channel: str = "widget") -> Conversation:
    """Bob's refund is past the 30 days: handed off to Customer Service."""
    services, clock = core.services, core.clock
    c = Conversation(sender_id, clock, channel=channel)
    c.user("can I get my money back for order 100000002", "request_refund", 0.91,
           entities=[{"entity": "order_ref", "value": "100000002", "text": "100000002"}])
    c.slot("order_ref", "100000002")
    c.action("action_start_task")
    c.action("verify_order_form")
    c.loop("verify_order_form")
    c.slot("requested_slot", "email")
    c.bot("What is the email address of your order?")
    c.listen()
    c.user("it's bob@example.com", "inform", 0.95,
           entities=[{"entity": "email", "value": "bob@example.com", "text": "bob@example.com"}])
    c.slot("email", "bob@example.com")
    clock.advance(seconds=1)
    assert services.verify_order(sender_id, "bob@example.com", "100000002").status == "verified"
    c.action("verify_order_form")
    c.slot("verified_ref", "100000002")
    c.slot("requested_slot", "refund_reason")
    c.listen()
    c.user('/inform{"refund_reason": "no_longer_needed"}', "inform", 1.0,
           entities=[{"entity": "refund_reason", "value": "no_longer_needed"}])
    c.slot("refund_reason", "no_longer_needed")
    clock.advance(seconds=1)
    outcome = services.issue_refund(sender_id, "100000002", "no_longer_needed", f"key-{sender_id}",
                                    summary="Bob wants a refund of NoteNest Pro")
    assert outcome.status == "handed_off", outcome
    c.action("verify_order_form")
    c.slot("refund_route", "handoff")
    c.loop(None)
    c.slot("requested_slot", None)
    c.action("action_perform_task")
    c.bot("This order is past the 30 days of NoteNest's refund policy, so I passed it to our "
          "Customer Service team.")
    c.listen()
    c.save(engine)
    return c


def fallback_chat(engine, sender_id: str, clock, *, channel: str = "widget") -> Conversation:
    """Small talk, a message the bot did not understand (low confidence -> fallback), an FAQ."""
    c = Conversation(sender_id, clock, channel=channel)
    c.user("hello there", "greet", 0.99)
    c.action("utter_greet")
    c.bot("Hello! How can I help you?")
    c.listen()
    c.user("blorp the zizzle frobnicator", "nlu_fallback", 0.21,
           ranking=[{"name": "out_of_scope", "confidence": 0.21}, {"name": "faq", "confidence": 0.18}])
    c.action("action_default_fallback")
    c.bot("Sorry, I did not get that. Could you rephrase?")
    c.listen()
    c.user("how do I add a staff account?", "faq", 0.88)
    c.action("action_answer_faq")
    c.bot("You can add staff accounts under Settings > Team (article: staff-accounts).")
    c.listen()
    c.save(engine)
    return c


def card_number_chat(engine, sender_id: str, clock) -> Conversation:
    """A raw tracker event holding a full, Luhn-valid card number (a channel that did not mask),
    and an email address in a message."""
    c = Conversation(sender_id, clock)
    c.user(f"my card {LUHN_CARD} was charged twice, write to carol.customer@example.com",
           "duplicate_charge", 0.9,
           entities=[{"entity": "email", "value": "carol.customer@example.com",
                      "text": "carol.customer@example.com"}])
    c.slot("email", "carol.customer@example.com")
    c.slot("card_last4", LUHN_CARD_DIGITS)
    c.action("action_start_task")
    c.bot(f"Thanks. (echo: {LUHN_CARD_DIGITS})")
    c.listen()
    c.save(engine)
    return c
