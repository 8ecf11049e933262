"""Seeded conversations with known outcomes (built with the review tests' Conversation, in Rasa's
stored shape, the core side made by the real SupportServices), and what each must count as."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from rasa.shared.core.events import SlotSet
from sqlalchemy import select

from supportbot.analytics.facts import record_fact
from supportbot.analytics.outcomes import OutcomeIndexer
from supportbot.db.engine import session_scope
from supportbot.db.models import HandoffTicket, RefundRequest
from supportbot.review.indexer import Indexer
from tests.unit.review.conversations import (
    Conversation,
    fallback_chat,
    refund_declined,
    refund_issued,
    write,
)

MODEL_B = "20241210-090000-newer-model"


def license_chat(core, engine, sender_id: str, email: str, reference: str, *, channel: str,
                 model_id: str | None = None, csat: str | None = None,
                 correct_email: bool = True) -> Conversation:
    """The customer asks for the license key again; verifies (or fails to) and gets it."""
    services, clock = core.services, core.clock
    kwargs = {"model_id": model_id} if model_id else {}
    c = Conversation(sender_id, clock, channel=channel, **kwargs)
    c.user("I lost my license key", "get_license", 0.95)
    c.action("action_start_task")
    c.action("verify_order_form")
    c.loop("verify_order_form")
    c.slot("requested_slot", "email")
    c.bot("What is the email address of your order?")
    c.listen()
    said = email if correct_email else "wrong.person@example.com"
    c.user(said, "inform", 0.99, entities=[{"entity": "email", "value": said, "text": said}])
    c.slot("email", said)
    c.slot("requested_slot", "order_ref")
    c.bot("And the order reference?")
    c.listen()
    c.user(reference, "inform", 0.98,
           entities=[{"entity": "order_ref", "value": reference, "text": reference}])
    c.slot("order_ref", reference)
    clock.advance(seconds=1)
    result = services.verify_order(sender_id, said, reference)
    if not correct_email:
        assert result.status == "mismatch", result
        c.action("verify_order_form")
        c.slot("requested_slot", None)
        c.loop(None)
        c.bot("I could not find an order with these details.")
        c.listen()
        c.save(engine)
        return c
    assert result.status == "verified", result
    c.action("verify_order_form")
    c.slot("verified_ref", reference)
    c.loop(None)
    c.slot("requested_slot", None)
    clock.advance(seconds=1)
    services.resend_license(sender_id, reference)
    c.action("action_perform_task")
    c.bot("I sent your license key to your email address again.")
    c.listen()
    if csat:
        c.slot("csat", csat)
    c.save(engine)
    return c


def abandoned_chat(core, engine, sender_id: str) -> Conversation:
    c = Conversation(sender_id, core.clock)
    c.user("where is my invoice", "download_invoice", 0.93)
    c.action("action_start_task")
    c.action("verify_order_form")
    c.loop("verify_order_form")
    c.slot("requested_slot", "email")
    c.bot("What is the email address of your order?")
    c.listen()
    c.save(engine)
    return c


@dataclass
class Seeded:
    conversations: dict[str, Conversation]
    as_of: datetime
    facts: dict[str, int] = field(default_factory=dict)

    def first(self, name: str) -> datetime:
        return datetime.fromtimestamp(self.conversations[name].events[0].timestamp,
                                      tz=self.as_of.tzinfo)

    def task_end(self, name: str) -> datetime:
        c = self.conversations[name]
        for e in c.events:
            if getattr(e, "action_name", None) in ("action_perform_task", "action_answer_faq"):
                return datetime.fromtimestamp(e.timestamp, tz=self.as_of.tzinfo)
        raise AssertionError(f"{name} has no task end")


def seed(core, engine) -> Seeded:
    """8 conversations; every outcome below is asserted by the tests.

    refund     rest    Alice's automatic refund; the provider reverses it 2 days later
    declined   widget  Bob's refund past 30 days -> Customer Service; the ticket is reopened
    erin_chat  widget  Erin gets her license for 100000005 ...
    erin_mail  email   ... and writes by email a day later about 100000006 (same verified email:
                       a re-contact, so erin_chat is not resolved); model B
    faq        widget  a fallback, then an FAQ answer; CSAT thumbs down
    abandoned  rest    asks for an invoice, never answers the bot's question
    wrong      widget  verification fails (wrong email)
    mia        rest    Mia gets her license, CSAT thumbs up; model B
    """
    clock = core.clock
    conversations: dict[str, Conversation] = {}
    conversations["refund"] = refund_issued(core, engine, "conv-refund")
    clock.advance(minutes=10)
    conversations["declined"] = refund_declined(core, engine, "conv-declined", channel="widget")
    clock.advance(minutes=10)
    conversations["erin_chat"] = license_chat(core, engine, "conv-erin-widget", "erin@example.com",
                                              "100000005", channel="widget")
    clock.advance(minutes=10)
    conversations["faq"] = fallback_chat(engine, "conv-faq", clock)
    clock.advance(seconds=5)  # the rating, a later turn
    write(engine, "conv-faq", [SlotSet("csat", "down", timestamp=clock().timestamp())])
    clock.advance(minutes=10)
    conversations["abandoned"] = abandoned_chat(core, engine, "conv-abandoned")
    clock.advance(minutes=10)
    conversations["wrong"] = license_chat(core, engine, "conv-wrong", "carol@example.com",
                                          "100000003", channel="widget", correct_email=False)
    clock.advance(minutes=10)
    conversations["mia"] = license_chat(core, engine, "conv-mia", "mia@example.com", "100000014",
                                        channel="rest", model_id=MODEL_B, csat="up")
    clock.advance(days=1)
    conversations["erin_mail"] = license_chat(core, engine, "email-conv-erin", "erin@example.com",
                                              "100000006", channel="email", model_id=MODEL_B)
    last = clock()
    Indexer(engine).run_once()
    OutcomeIndexer(engine, clock=clock).run_once()
    seeded = Seeded(conversations, as_of=last + timedelta(days=8))
    with session_scope(engine) as session:
        refund_id = session.execute(select(RefundRequest.refund_id).where(
            RefundRequest.conversation_id == "conv-refund")).scalar_one()
        ticket_id = session.execute(select(HandoffTicket.id).where(
            HandoffTicket.conversation_id == "conv-declined")).scalar_one()
        start = seeded.first("refund")
        seeded.facts["reversal"] = record_fact(
            session, "refund_reversed", start + timedelta(days=2), source="import",
            refund_id=refund_id, external_id="provider-update-1", details={"status": "reversed"})
        seeded.facts["reopen"] = record_fact(
            session, "ticket_reopened", start + timedelta(days=3), source="webhook",
            ticket_id=ticket_id, external_id="helpdesk-77")
    return seeded
