"""The refund service: exactly once, ledger, audit log, handoffs (SQLite and PostgreSQL)."""
from __future__ import annotations

import threading
import time
from collections import Counter

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from supportbot.core.errors import IdempotencyConflict, OrderNotFound
from supportbot.core.handoff import HandoffQueue
from supportbot.core.payment_provider import DryRunPaymentProvider, PaymentProviderError
from supportbot.core.refund_service import RefundService
from supportbot.db.engine import session_scope
from supportbot.db.models import (
    AuditLog,
    HandoffTicket,
    Order,
    Payment,
    Refund,
    RefundRequest,
)


class SlowProvider(DryRunPaymentProvider):
    """Takes its time, to widen every race window."""

    def refund(self, request):
        time.sleep(0.05)
        return super().refund(request)


class FailingProvider(DryRunPaymentProvider):
    def refund(self, request):
        super().refund(request)
        raise PaymentProviderError("HTTP 503: unavailable", retryable=True, status_code=503)


@pytest.fixture
def make_service(demo_engine, clock):
    def make(provider=None):
        provider = provider or DryRunPaymentProvider()
        return RefundService(demo_engine, provider, HandoffQueue(demo_engine, clock=clock),
                             clock=clock), provider
    return make


def _count(engine, model, *where):
    with session_scope(engine) as session:
        return session.execute(select(func.count(model.id)).where(*where)).scalar_one()


def _order(engine, reference):
    with session_scope(engine) as session:
        return session.execute(select(Order).where(Order.reference == reference)).scalar_one()


def test_an_eligible_order_is_refunded_and_booked(make_service, demo_engine, clock):
    service, provider = make_service()
    outcome = service.issue("100000001", reason="no_longer_needed", idempotency_key="k1",
                            conversation_id="conv-1")
    assert outcome.status == "refunded"
    assert outcome.refund.amount_minor == 4900 and outcome.refund.status == "completed"
    assert outcome.refund.card_brand == "visa" and outcome.refund.card_last4 == "4242"
    assert outcome.refund.refunded_at == clock()
    assert outcome.decision.automatic is True
    # the provider was asked once, with the order+amount key
    [call] = provider.refund_calls()
    assert call.idempotency_key == "refund-100000001-4900-EUR"
    assert call.amount_minor == 4900 and call.charge_reference == "ch_100000001"
    # the ledger: refund row, refund money movement, order status
    with session_scope(demo_engine) as session:
        order = session.execute(select(Order).where(Order.reference == "100000001")).scalar_one()
        assert order.status == "refunded"
        [refund] = order.refunds
        assert refund.status == "completed" and refund.provider_reference.startswith("dryrun_re_")
        movements = [(p.kind, p.amount_minor, p.card_last4) for p in order.payments]
        assert movements == [("charge", 4900, "4242"), ("refund", 4900, "4242")]
        request = session.execute(select(RefundRequest)).scalar_one()
        assert request.idempotency_key == "k1" and request.outcome == "refunded"
        assert request.refund_id == refund.id
        actions = session.execute(select(AuditLog.action).where(
            AuditLog.order_id == order.id).order_by(AuditLog.id)).scalars().all()
    assert actions == ["refund.decision", "refund.requested", "refund.issued"]


def test_the_same_idempotency_key_replays_without_a_second_refund(make_service, demo_engine):
    service, provider = make_service()
    first = service.issue("100000001", reason="no_longer_needed", idempotency_key="k1")
    again = service.issue("100000001", reason="no_longer_needed", idempotency_key="k1")
    assert first.status == again.status == "refunded"
    assert again.refund == first.refund
    assert again.decision.automatic is True and again.decision.explanation
    assert len(provider.calls) == 1
    assert _count(demo_engine, RefundRequest) == 1


def test_another_key_finds_the_order_already_refunded(make_service, demo_engine):
    service, provider = make_service()
    service.issue("100000001", reason="no_longer_needed", idempotency_key="k1")
    second = service.issue("100000001", reason="other", idempotency_key="k2")
    assert second.status == "already_refunded"
    assert second.decision.reasons == ("already_refunded",)
    assert second.refund.amount_minor == 4900
    assert len(provider.calls) == 1
    assert _count(demo_engine, Refund, Refund.order_id == _order(demo_engine, "100000001").id) == 1


def test_reusing_a_key_for_another_order_is_refused(make_service):
    service, _ = make_service()
    service.issue("100000001", reason="other", idempotency_key="k1")
    with pytest.raises(IdempotencyConflict):
        service.issue("100000006", reason="other", idempotency_key="k1")


def test_unknown_orders_are_refused(make_service):
    service, _ = make_service()
    with pytest.raises(OrderNotFound):
        service.issue("999999999", reason="other", idempotency_key="k1")


@pytest.mark.parametrize("reference, team, reason_code", [
    ("100000002", "customer_service", "refund_window_passed"),
    ("100000003", "customer_service", "payment_method_not_eligible"),
    ("100000004", "payment_processing", "payment_not_received"),
    ("100000009", "payment_processing", "chargeback"),
    ("100000013", "customer_service", "policy_approval_required"),
])
def test_a_refund_that_is_not_automatic_is_handed_off_once(make_service, demo_engine,
                                                           reference, team, reason_code):
    service, provider = make_service()
    outcome = service.issue(reference, reason="no_longer_needed", idempotency_key="k1",
                            conversation_id="conv-1")
    assert outcome.status == "handed_off"
    assert outcome.ticket.team == team and outcome.ticket.reason_code == reason_code
    assert outcome.ticket.reference == reference
    again = service.issue(reference, reason="no_longer_needed", idempotency_key="k1",
                          conversation_id="conv-1")
    assert again.status == "handed_off" and again.ticket.id == outcome.ticket.id
    assert provider.calls == []
    assert _count(demo_engine, HandoffTicket) == 1
    assert _count(demo_engine, Refund, Refund.order_id == _order(demo_engine, reference).id) == 0


def test_a_partial_refund_goes_to_payment_processing(make_service):
    service, provider = make_service()
    outcome = service.issue("100000001", reason="other", idempotency_key="k", amount_minor=1000)
    assert outcome.status == "handed_off" and outcome.ticket.team == "payment_processing"
    assert outcome.ticket.reason_code == "partial_refund" and provider.calls == []


def test_a_trial_has_nothing_to_refund(make_service):
    service, provider = make_service()
    outcome = service.issue("100000012", reason="no_longer_needed", idempotency_key="k")
    assert outcome.status == "nothing_to_refund" and outcome.ticket is None
    assert provider.calls == []


def test_without_proof_of_email_control_no_money_moves_and_nothing_is_recorded(make_service,
                                                                             demo_engine):
    service, provider = make_service()
    outcome = service.issue("100000001", reason="other", idempotency_key="k1", money_allowed=False)
    assert outcome.status == "not_verified" and outcome.code_required is True
    assert outcome.decision.automatic is True
    assert provider.calls == [] and _count(demo_engine, RefundRequest) == 0
    # the same key works once the code was checked
    assert service.issue("100000001", reason="other", idempotency_key="k1").status == "refunded"


def test_a_provider_failure_is_booked_handed_off_and_never_retried_automatically(
        make_service, demo_engine):
    service, provider = make_service(FailingProvider())
    outcome = service.issue("100000001", reason="no_longer_needed", idempotency_key="k1",
                            conversation_id="conv-1")
    assert outcome.status == "handed_off"
    assert outcome.ticket.team == "payment_processing"
    assert outcome.ticket.reason_code == "refund_failed"
    assert outcome.refund.status == "failed"
    assert outcome.decision.automatic is False and outcome.decision.reasons == ("refund_failed",)
    assert "did not go through" in outcome.decision.explanation
    with session_scope(demo_engine) as session:
        order = session.execute(select(Order).where(Order.reference == "100000001")).scalar_one()
        assert order.status == "paid"  # nothing booked as refunded
        assert [p.kind for p in order.payments] == ["charge"]
        ticket = session.get(HandoffTicket, outcome.ticket.id)
        assert "refund-100000001-4900-EUR" in ticket.summary  # what to reconcile with
    # a second request (other key) does not call the provider again: a person reconciles first
    second = service.issue("100000001", reason="no_longer_needed", idempotency_key="k2")
    assert second.status == "handed_off" and second.decision.reasons == ("refund_failed",)
    assert len(provider.calls) == 1
    # the same key replays the failure
    replay = service.issue("100000001", reason="no_longer_needed", idempotency_key="k1")
    assert replay.status == "handed_off" and replay.ticket.id == outcome.ticket.id
    assert replay.decision == outcome.decision


def test_the_unique_constraint_is_the_last_line_of_defence(demo_engine, clock):
    order = _order(demo_engine, "100000001")
    with pytest.raises(IntegrityError):
        with session_scope(demo_engine) as session:
            for key in ("a", "b"):
                session.add(Refund(order_id=order.id, amount_minor=4900, currency="EUR",
                                   status="completed", method="credit_card", source="agent",
                                   provider_idempotency_key=key, requested_at=clock()))
            session.flush()


def _race(service, n, key_for, conversation_id="conv-race"):
    barrier = threading.Barrier(n)
    results, errors = [], []
    lock = threading.Lock()

    def worker(i):
        try:
            barrier.wait()
            outcome = service.issue("100000001", reason="no_longer_needed",
                                    idempotency_key=key_for(i), conversation_id=conversation_id)
            with lock:
                results.append(outcome)
        except Exception as exc:  # noqa: BLE001 - reported below
            with lock:
                errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert len(results) == n
    return results


def _assert_refunded_exactly_once(engine, provider):
    order = _order(engine, "100000001")
    assert _count(engine, Refund, Refund.order_id == order.id) == 1
    assert _count(engine, Payment, Payment.order_id == order.id, Payment.kind == "refund") == 1
    assert len(provider.calls) == 1
    assert order.status == "refunded"


def test_20_concurrent_requests_with_different_keys_refund_once(make_service, demo_engine):
    service, provider = make_service(SlowProvider())
    results = _race(service, 20, key_for=lambda i: f"key-{i}")
    statuses = Counter(r.status for r in results)
    assert statuses["refunded"] == 1, statuses
    assert set(statuses) <= {"refunded", "already_refunded", "in_progress"}
    _assert_refunded_exactly_once(demo_engine, provider)
    assert _count(demo_engine, RefundRequest) == 20  # every request is on record


def test_20_concurrent_requests_with_the_same_key_refund_once(make_service, demo_engine):
    service, provider = make_service(SlowProvider())
    results = _race(service, 20, key_for=lambda i: "one-key")
    statuses = Counter(r.status for r in results)
    assert set(statuses) <= {"refunded", "in_progress"} and statuses["refunded"] >= 1, statuses
    _assert_refunded_exactly_once(demo_engine, provider)
    assert _count(demo_engine, RefundRequest) == 1
