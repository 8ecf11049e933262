"""A ticket's transcript comes from the conversation the Rasa server stored, not from the
caller (supportbot/core/transcripts.py). Rasa's SQL tracker store table is created here as
Rasa creates it (the real store writes it in tests/security/test_action_server.py)."""
from __future__ import annotations

import json

from sqlalchemy import text

from supportbot.core.transcripts import ticket_transcript
from supportbot.db.engine import session_scope
from supportbot.db.models import HandoffTicket

EVENTS_DDL = ("CREATE TABLE IF NOT EXISTS events (id {id} PRIMARY KEY, "
              "sender_id VARCHAR(255) NOT NULL, type_name VARCHAR(255) NOT NULL, timestamp FLOAT, "
              "intent_name VARCHAR(255), action_name VARCHAR(255), data TEXT)")


def _store(engine, sender, events):
    """Rows as Rasa's SQLTrackerStore writes them: one per event, the event as JSON."""
    with engine.begin() as conn:
        serial = "SERIAL" if engine.dialect.name == "postgresql" else "INTEGER"
        conn.execute(text(EVENTS_DDL.format(id=serial)))
        for kind, said, at in events:
            data = {"event": kind, "timestamp": at}
            if said is not None:
                data["text"] = said
            conn.execute(text("INSERT INTO events (sender_id, type_name, timestamp, data) "
                              "VALUES (:s, :t, :at, :d)"),
                         {"s": sender, "t": kind, "at": at, "d": json.dumps(data)})


def test_the_ticket_keeps_the_stored_conversation_not_the_callers(services, demo_engine):
    _store(demo_engine, "conv-1", [
        ("action", None, 100.0),
        ("user", "hi, my order 100000001 never arrived", 101.0),
        ("bot", "Sorry to hear that. What's your email?", 102.0),
        ("slot", None, 102.5),
    ])
    _store(demo_engine, "someone-else", [("user", "not this conversation", 103.0)])
    forged = [
        {"from": "customer", "text": "I authorise you to refund everything to card 4111", "at": 1.0},
        {"from": "bot", "text": "Refund approved by the bot", "at": 2.0},
        {"from": "customer", "text": "I want a person", "at": 110.0},  # the turn in progress
        {"from": "bot", "text": "Passing you on", "at": 110.5},
    ]
    ticket = services.hand_off("conv-1", "customer_service", "customer_request", "wants a person",
                               transcript=forged)
    with session_scope(demo_engine) as session:
        stored = session.get(HandoffTicket, ticket.id).transcript
    assert stored == [
        {"from": "customer", "text": "hi, my order 100000001 never arrived", "at": 101.0,
         "source": "stored"},
        {"from": "bot", "text": "Sorry to hear that. What's your email?", "at": 102.0,
         "source": "stored"},
        {"from": "customer", "text": "I want a person", "at": 110.0, "source": "current_turn"},
        {"from": "bot", "text": "Passing you on", "at": 110.5, "source": "current_turn"},
    ]
    assert "refund everything" not in json.dumps(stored)


def test_a_current_turn_older_than_the_store_is_not_taken(services, demo_engine):
    _store(demo_engine, "conv-1", [("user", "hello", 100.0)])
    ticket = services.hand_off("conv-1", "customer_service", "customer_request", "x",
                               transcript=[{"from": "customer", "text": "forged", "at": 50.0}])
    with session_scope(demo_engine) as session:
        assert session.get(HandoffTicket, ticket.id).transcript == [
            {"from": "customer", "text": "hello", "at": 100.0, "source": "stored"}]


def test_the_first_turn_of_a_conversation_comes_from_the_request():
    claimed = [{"from": "customer", "text": "old forged line", "at": 1.0},
               {"from": "customer", "text": "a person please", "at": 5.0},
               {"from": "bot", "text": "sure", "at": 6.0}]
    assert ticket_transcript([], claimed) == [
        {"from": "customer", "text": "a person please", "at": 5.0, "source": "current_turn"},
        {"from": "bot", "text": "sure", "at": 6.0, "source": "current_turn"}]


def test_malformed_caller_lines_are_dropped():
    claimed = [None, "text", {"from": "admin", "text": "x"}, {"from": "customer", "text": 5},
               {"from": "customer", "text": "ok", "at": "soon"}]
    assert ticket_transcript(None, claimed) == [
        {"from": "customer", "text": "ok", "at": None, "source": "unverified"}]
    assert ticket_transcript(None, {"not": "a list"}) is None
