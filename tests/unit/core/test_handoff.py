"""The handoff queue: routing, tickets, masking, helpdesk webhook in the background."""
from __future__ import annotations

import threading

import pytest
from core_http_stub import StubServer
from sqlalchemy import select

from supportbot.core.handoff import HandoffQueue
from supportbot.db.engine import session_scope
from supportbot.db.models import AuditLog, HandoffTicket, Order


def _order_id(engine, reference):
    with session_scope(engine) as session:
        return session.execute(select(Order.id).where(Order.reference == reference)).scalar_one()


def test_a_ticket_is_routed_by_reason_code_and_queued(demo_engine, clock):
    queue = HandoffQueue(demo_engine, clock=clock)
    order_id = _order_id(demo_engine, "100000004")
    ticket = queue.create("conv-1", "payment_missing", "Paid by wire transfer, order pending",
                          order_id=order_id)
    assert ticket.team == "payment_processing"
    assert ticket.reason_code == "payment_missing"
    assert ticket.reference == "100000004"
    assert ticket.created_at == clock()
    assert ticket.delivery_status == "not_configured"
    other = queue.create("conv-2", "quote_request", "Wants a quote for 50 seats")
    assert other.team == "customer_service" and other.reference is None
    assert [t.id for t in queue.open_tickets("payment_processing")] == [ticket.id]
    assert [t.id for t in queue.open_tickets()] == [ticket.id, other.id]
    queue.close(ticket.id)
    assert [t.id for t in queue.open_tickets()] == [other.id]
    with session_scope(demo_engine) as session:
        actions = session.execute(select(AuditLog.action).order_by(AuditLog.id)).scalars().all()
    assert actions[-3:] == ["handoff.created", "handoff.created", "handoff.closed"]


def test_an_explicit_team_wins_and_unknown_teams_are_refused(demo_engine):
    queue = HandoffQueue(demo_engine)
    assert queue.create("c", "contact_human", "x", team="payment_processing").team == \
        "payment_processing"
    with pytest.raises(ValueError):
        queue.create("c", "contact_human", "x", team="sales")


def test_card_numbers_are_masked_in_summary_and_transcript(demo_engine):
    queue = HandoffQueue(demo_engine)
    transcript = [{"sender": "user", "text": "my card is 4111 1111 1111 1111 please"},
                  {"sender": "bot", "text": "I cannot take card numbers"}]
    ticket = queue.create("c", "unknown_charge", "Card 4111-1111-1111-1111 was charged",
                          transcript=transcript)
    with session_scope(demo_engine) as session:
        stored = session.get(HandoffTicket, ticket.id)
        assert "4111 1111 1111 1111" not in str(stored.transcript)
        assert "**** **** **** 1111" in stored.transcript[0]["text"]
        assert "4111-1111-1111-1111" not in stored.summary
        assert stored.transcript[1]["text"] == "I cannot take card numbers"


def test_the_webhook_receives_the_ticket_and_delivery_is_recorded(demo_engine, clock):
    with StubServer([(500, {"error": "boom"}), (201, {"id": "HD-77"})]) as server:
        queue = HandoffQueue(demo_engine, webhook_url=server.url + "/tickets", clock=clock,
                             backoff_seconds=0.01)
        order_id = _order_id(demo_engine, "100000002")
        ticket = queue.create("conv-9", "refund_window_passed", "Wants a refund after 45 days",
                              order_id=order_id, transcript=[{"sender": "user", "text": "hi"}])
        assert ticket.delivery_status == "pending"
        assert queue.wait_for_deliveries(timeout=10)
    assert len(server.requests) == 2  # a 500 is retried
    body = server.requests[-1]["json"]
    assert body["id"] == ticket.id and body["team"] == "customer_service"
    assert body["reason_code"] == "refund_window_passed"
    assert body["order"]["reference"] == "100000002"
    assert body["order"]["customer_email"] == "bob@example.com"
    assert body["transcript"] == [{"sender": "user", "text": "hi"}]
    assert server.requests[-1]["headers"]["Idempotency-Key"] == f"supportbot-ticket-{ticket.id}"
    with session_scope(demo_engine) as session:
        stored = session.get(HandoffTicket, ticket.id)
        assert stored.delivery_status == "delivered"
        assert stored.delivery_attempts == 2
        assert stored.external_id == "HD-77"
        assert stored.delivered_at == clock()
    assert queue.get(ticket.id).delivery_status == "delivered"
    queue.shutdown()


def test_a_failing_webhook_is_recorded_as_failed(demo_engine):
    with StubServer([(503, {})]) as server:
        queue = HandoffQueue(demo_engine, webhook_url=server.url, max_attempts=3,
                             backoff_seconds=0.01)
        ticket = queue.create("c", "contact_human", "x")
        assert queue.wait_for_deliveries(timeout=10)
    assert len(server.requests) == 3
    with session_scope(demo_engine) as session:
        stored = session.get(HandoffTicket, ticket.id)
        assert stored.delivery_status == "failed" and "503" in stored.delivery_error
    queue.shutdown()


def test_a_rejected_ticket_is_not_retried(demo_engine):
    with StubServer([(400, {"error": "bad"})]) as server:
        queue = HandoffQueue(demo_engine, webhook_url=server.url, backoff_seconds=0.01)
        queue.create("c", "contact_human", "x")
        assert queue.wait_for_deliveries(timeout=10)
    assert len(server.requests) == 1
    queue.shutdown()


def test_delivery_never_blocks_the_conversation(demo_engine):
    helpdesk_may_answer = threading.Event()
    with StubServer([(200, {"id": "slow"})], gate=helpdesk_may_answer) as server:
        queue = HandoffQueue(demo_engine, webhook_url=server.url, timeout=5)
        ticket = queue.create("c", "contact_human", "x")  # returns although the helpdesk hangs
        assert queue.get(ticket.id).delivery_status == "pending"
        helpdesk_may_answer.set()
        assert queue.wait_for_deliveries(timeout=10)
        assert queue.get(ticket.id).delivery_status == "delivered"
    queue.shutdown()
