"""The human teams' queue (open per team, claim, close with a note) and erasure on request."""
from __future__ import annotations

import pytest
from sqlalchemy import select, text

from supportbot.channels.email_bridge import store as email_store
from supportbot.core.timeutil import utcnow
from supportbot.db.engine import session_scope
from supportbot.db.models import HandoffTicket, RefundRequest
from supportbot.review import queue
from supportbot.review.errors import InvalidInput, TicketNotFound, TicketStateError
from supportbot.review.indexer import Indexer
from supportbot.review.queries import ConversationFilter
from supportbot.review.service import ReviewService
from tests.unit.review import conversations as conv
from tests.unit.review.helpers import audit_entries, snapshot

ANA, BEN = "ana@reseller.example", "ben@reseller.example"


def test_open_tickets_per_team_claim_and_close(engine, core):
    conv.refund_declined(core, engine, "q-1")
    core.clock.advance(minutes=1)
    core.services.hand_off("q-2", "payment_processing", "duplicate_payment", "charged twice for 100000005")
    service = ReviewService(engine)
    cs = service.open_tickets("customer_service")
    pp = service.open_tickets("payment_processing")
    assert [t.conversation_id for t in cs] == ["q-1"] and [t.conversation_id for t in pp] == ["q-2"]
    assert cs[0].reason_code == "refund_window_passed" and cs[0].order_masked == "******002"
    assert [t.id for t in service.open_tickets()] == [cs[0].id, pp[0].id]  # oldest first
    with pytest.raises(InvalidInput):
        service.open_tickets("sales")

    claimed = service.claim(cs[0].id, ANA)
    assert (claimed.claimed_by, claimed.status) == (ANA, "open") and claimed.claimed_at is not None
    assert service.claim(cs[0].id, ANA).claimed_by == ANA  # again: nothing changes
    with pytest.raises(TicketStateError, match="already claimed"):
        service.claim(cs[0].id, BEN)
    with pytest.raises(InvalidInput):
        service.close(cs[0].id, ANA, "   ")
    closed = service.close(cs[0].id, ANA, "Refunded manually after approval from the vendor.")
    assert (closed.status, closed.resolution) == ("closed", "Refunded manually after approval from the vendor.")
    assert closed.closed_at is not None
    assert [t.id for t in service.open_tickets()] == [pp[0].id]
    with pytest.raises(TicketStateError):
        service.close(cs[0].id, BEN, "again")
    with pytest.raises(TicketStateError):
        service.claim(cs[0].id, BEN)
    with pytest.raises(TicketNotFound):
        service.claim(999_999, ANA)
    # closing an unclaimed ticket records who closed it
    assert service.close(pp[0].id, BEN, "duplicate refunded").claimed_by == BEN
    actions = [e["action"] for e in audit_entries(engine)]
    assert actions == ["review.ticket_claimed", "review.ticket_closed", "review.ticket_closed"]
    with session_scope(engine) as session:
        assert queue.open_counts(session) == {"customer_service": 0, "payment_processing": 0}


def test_erasure_removes_events_index_and_email_copies_and_keeps_only_that_it_happened(engine, core):
    cid = "email-5a7e9c"
    c = conv.Conversation(cid, core.clock, channel="email", client_address="email:dora@example.com")
    c.user("Please refund order 100000002, I am Dora, dora@example.com", "request_refund", 0.9)
    c.action("action_start_task")
    c.listen()
    c.save(engine)
    assert core.services.verify_order(cid, "bob@example.com", "100000002").status == "verified"
    core.services.issue_refund(cid, "100000002", "no_longer_needed", "k-erase", summary="Dora wants a refund")
    core.services.hand_off(cid, "customer_service", "customer_request", "Dora asks for a person")
    now = utcnow()
    with session_scope(engine) as session:
        session.execute(email_store.conversations.insert().values(
            id=cid, customer_address="dora@example.com", subject="Refund", turns=1, created_at=now,
            last_activity_at=now))
        session.execute(email_store.thread_ids.insert().values(
            message_id="<m1@example.com>", conversation_id=cid, direction="in", created_at=now))
        session.execute(email_store.inbound.insert().values(
            message_id="<m1@example.com>", conversation_id=cid, raw=b"From: dora@example.com\r\n\r\nrefund",
            size_bytes=30, status="replied", received_at=now, from_address="dora@example.com"))
    conv.fallback_chat(engine, "keep-me", core.clock)
    Indexer(engine).run_once()
    service = ReviewService(engine)
    service.add_tag(cid, "gdpr", ANA)
    service.add_note(cid, "customer asked for erasure", ANA)
    kept_before = {k: v for k, v in snapshot(engine)["summaries"].items() if k == "keep-me"}

    with engine.connect() as conn:
        copies = conn.execute(select(HandoffTicket.transcript).where(HandoffTicket.conversation_id == cid)).scalars()
        assert any("Dora" in str(t) for t in copies)  # the tickets hold a copy of the text
    result = service.erase(cid, ANA)
    assert result.events == len(c.events) and result.email_rows == 3 and result.tickets == 2
    assert result.index_rows >= 4
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM events WHERE sender_id = :c"), {"c": cid}).scalar_one() == 0
        for table in ("email_conversations", "email_inbound", "email_thread_ids"):
            column = "id" if table == "email_conversations" else "conversation_id"
            assert conn.execute(text(f"SELECT count(*) FROM {table} WHERE {column} = :c"),
                                {"c": cid}).scalar_one() == 0, table
        for ticket in conn.execute(select(HandoffTicket.summary, HandoffTicket.transcript).where(
                HandoffTicket.conversation_id == cid)):
            assert ticket.transcript is None and "Dora" not in ticket.summary
        # the money record stays (no message text in it)
        assert conn.execute(select(RefundRequest.id).where(RefundRequest.conversation_id == cid)).first()
    assert service.list(ConversationFilter(text="Dora")).total == 0
    assert cid not in snapshot(engine)["summaries"]
    assert {k: v for k, v in snapshot(engine)["summaries"].items() if k == "keep-me"} == kept_before
    entry = audit_entries(engine)[-1]
    assert entry["action"] == "review.erased" and entry["details"]["user"] == ANA
    assert "dora" not in str(entry).lower() and "refund order" not in str(entry)
    # the indexer does not bring it back
    Indexer(engine).run_once()
    assert cid not in snapshot(engine)["summaries"]
    again = service.erase(cid, ANA)
    assert not again.anything
