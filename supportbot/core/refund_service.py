"""Issuing refunds exactly once, and the refund ledger.

`RefundService.issue()` refunds an order at most once per (order, amount), whatever retries
or concurrent requests happen. Three layers make sure of it:

1. **Idempotency key** - every request is stored in `refund_requests` under its key; a retry
   with the same key replays the stored outcome instead of deciding again.
2. **Row lock** - the decision and the ledger row are written while holding the order's row
   lock (PostgreSQL `SELECT ... FOR UPDATE`; SQLite: the database write lock), so concurrent
   requests with *different* keys run one after the other and the later ones see the refund.
3. **Unique constraint** `refunds (order_id, amount_minor)` - the last line of defence.

The money moves in three steps: (1) in one transaction the decision is re-taken on the locked
row and a `pending` refund is written; (2) the payment provider is called *outside* any
transaction with a provider idempotency key derived from order + amount (a crash in between
leaves a `pending` row that blocks further refunds and can be reconciled with that key);
(3) the outcome is booked: refund `completed` + a `refund` money movement + order status,
or `failed` + a Payment Processing ticket (never retried automatically: the money may have
moved). Each step is written to the audit log.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from supportbot.core import audit
from supportbot.core.errors import IdempotencyConflict, OrderNotFound
from supportbot.core.handoff import HandoffQueue, ticket_view
from supportbot.core.orders import (
    charge_of,
    client_policy,
    load_order_by_id,
    lock_order,
    order_facts,
    refunded_minor,
)
from supportbot.core.payment_provider import PaymentProvider, ProviderRefundRequest
from supportbot.core.refund_policy import (
    REFUND_FAILED as REFUND_FAILED_REASON,
    REFUND_IN_PROGRESS,
    DecisionOutcome,
    RefundDecision,
    RequestedRefund,
    decide,
)
from supportbot.core.timeutil import Clock, add_business_days, business_days_between, utcnow
from supportbot.core.views import (
    RefundOutcome,
    RefundOutcomeStatus,
    RefundStatus,
    RefundView,
)
from supportbot.core.vocabulary import (
    MOVEMENT_REFUND,
    ORDER_PARTIALLY_REFUNDED,
    ORDER_REFUNDED,
    REFUND_COMPLETED,
    REFUND_FAILED,
    REFUND_PENDING,
    TEAM_PAYMENT_PROCESSING,
    format_money,
)
from supportbot.db.engine import session_scope
from supportbot.db.models import HandoffTicket, Order, Payment, Refund, RefundRequest

log = logging.getLogger(__name__)

#: called on the locked order inside step 1 for an automatic refund: None lets the money move
#: (whatever it wrote commits with the pending refund, e.g. a used confirmation); an outcome
#: refuses (nothing is recorded, so the same idempotency key works once it is satisfied)
Authorize = Callable[[Session, Order, RefundDecision], RefundOutcome | None]

TYPICAL_BANK_DELAY_BUSINESS_DAYS = (5, 10)
OVERDUE_AFTER_BUSINESS_DAYS = TYPICAL_BANK_DELAY_BUSINESS_DAYS[1]


@dataclass(frozen=True)
class _PendingRefund:
    """Step 1 wrote a pending refund; steps 2 and 3 still have to move and book the money."""

    refund_id: int
    request_id: int
    decision: RefundDecision
    provider_request: ProviderRefundRequest


def provider_key(order: Order, amount_minor: int) -> str:
    """The key the provider sees: one per order and amount, whoever asks how often."""
    return f"refund-{order.reference}-{amount_minor}-{order.currency}"


def decision_to_json(decision: RefundDecision) -> dict[str, Any]:
    data = asdict(decision)
    data["reasons"] = list(decision.reasons)
    data["alternatives"] = list(decision.alternatives)
    return data


def decision_from_json(data: dict[str, Any]) -> RefundDecision:
    return RefundDecision(**{**data, "reasons": tuple(data["reasons"]),
                             "alternatives": tuple(data.get("alternatives", ())),
                             "outcome": DecisionOutcome(data["outcome"])})


def failed_decision(decision: RefundDecision) -> RefundDecision:
    """The decision as the customer should hear it after the provider failed."""
    return replace(
        decision, automatic=False, team=TEAM_PAYMENT_PROCESSING, reasons=(REFUND_FAILED_REASON,),
        outcome=DecisionOutcome.HANDOFF, handoff_reason=REFUND_FAILED_REASON,
        explanation=("The automatic refund did not go through at the payment provider. Our "
                     "Payment Processing team will check it and make sure you get your money back."),
    )


def refund_view(refund: Refund, now: datetime) -> RefundView:
    elapsed = business_days_between(refund.refunded_at.date(), now.date()) if refund.refunded_at else 0
    return RefundView(
        amount_minor=refund.amount_minor,
        currency=refund.currency,
        status=refund.status,
        requested_at=refund.requested_at,
        refunded_at=refund.refunded_at,
        method=refund.method,
        card_brand=refund.card_brand,
        card_last4=refund.card_last4,
        business_days_elapsed=elapsed,
        expected_by=(add_business_days(refund.refunded_at.date(), OVERDUE_AFTER_BUSINESS_DAYS)
                     if refund.refunded_at else None),
        overdue=refund.status == REFUND_COMPLETED and elapsed > OVERDUE_AFTER_BUSINESS_DAYS,
        typical_delay_days=TYPICAL_BANK_DELAY_BUSINESS_DAYS,
    )


def refund_status(order: Order, now: datetime) -> RefundStatus:
    """Refunds of an order for "where is my refund?" (overdue -> Payment Processing)."""
    views = tuple(refund_view(r, now) for r in order.refunds)
    overdue = any(v.overdue for v in views)
    return RefundStatus(
        reference=order.reference,
        refunds=views,
        overdue=overdue,
        typical_delay_days=TYPICAL_BANK_DELAY_BUSINESS_DAYS,
        team=TEAM_PAYMENT_PROCESSING if overdue else None,
    )


class RefundService:
    def __init__(self, engine: Engine, provider: PaymentProvider, handoff: HandoffQueue,
                 *, clock: Clock = utcnow):
        self.engine = engine
        self.provider = provider
        self.handoff = handoff
        self.clock = clock

    def decide(self, session: Session, order: Order, reason: str, amount_minor: int | None = None,
               vat_refund: bool = False, now: datetime | None = None) -> RefundDecision:
        requested = RequestedRefund(reason=reason, amount_minor=amount_minor, vat_refund=vat_refund)
        return decide(order_facts(order), requested, client_policy(order.client), now or self.clock())

    def issue(
        self,
        reference: str,
        *,
        reason: str,
        idempotency_key: str,
        amount_minor: int | None = None,
        vat_refund: bool = False,
        conversation_id: str | None = None,
        source: str = "self_service",
        summary: str | None = None,
        money_allowed: bool = True,
        authorize: Authorize | None = None,
    ) -> RefundOutcome:
        """Refund `reference` if the rules allow it, else hand off; exactly once (see module doc).

        With `money_allowed=False` (the customer has not proved control of the purchase email)
        an automatic refund is not issued: the result is `not_verified` with `code_required`,
        and nothing is recorded, so the same idempotency key can be used after the code.
        `authorize` (see `Authorize`) is asked in the same transaction that writes the pending
        refund, so what it consumes is consumed only together with the refund.
        """
        if not idempotency_key:
            raise ValueError("an idempotency key is required")
        requested = RequestedRefund(reason=reason, amount_minor=amount_minor, vat_refund=vat_refund)
        for attempt in (1, 2):
            try:
                prepared = self._prepare(reference, requested, idempotency_key, conversation_id,
                                         source, summary, money_allowed, authorize)
                break
            except IntegrityError:
                # a concurrent request slipped past the lock (it cannot on PostgreSQL); the unique
                # constraints stopped it - decide again, now seeing the other request's rows
                if attempt == 2:
                    raise
                log.warning("refund of %s hit a unique constraint; re-reading", reference)
        if isinstance(prepared, RefundOutcome):  # decided without moving money
            if prepared.ticket is not None and prepared.status == RefundOutcomeStatus.HANDED_OFF:
                self.handoff.dispatch(prepared.ticket.id)
            return prepared
        return self._execute(prepared, conversation_id=conversation_id)

    # step 1: decide on the locked order, write the pending refund
    def _prepare(self, reference: str, requested: RequestedRefund, idempotency_key: str,
                 conversation_id: str | None, source: str, summary: str | None,
                 money_allowed: bool,
                 authorize: Authorize | None = None) -> RefundOutcome | _PendingRefund:
        now = self.clock()
        with session_scope(self.engine) as session:
            order_id = session.execute(
                select(Order.id).where(Order.reference == reference)
            ).scalar_one_or_none()
            if order_id is None:
                raise OrderNotFound(reference)
            lock_order(session, order_id)
            existing = session.execute(
                select(RefundRequest).where(RefundRequest.idempotency_key == idempotency_key)
            ).scalar_one_or_none()
            if existing is not None:
                return self._replay(session, existing, order_id, requested, now)

            order = load_order_by_id(session, order_id)
            decision = decide(order_facts(order), requested, client_policy(order.client), now)
            if decision.outcome == DecisionOutcome.AUTOMATIC_REFUND and not money_allowed:
                return RefundOutcome(status=RefundOutcomeStatus.NOT_VERIFIED, decision=decision,
                                     code_required=True)
            if decision.outcome == DecisionOutcome.AUTOMATIC_REFUND and authorize is not None:
                refusal = authorize(session, order, decision)
                if refusal is not None:
                    audit.record(session, "refund.refused", at=now, conversation_id=conversation_id,
                                 order_id=order.id, status=refusal.status,
                                 amount_minor=decision.amount_minor, currency=decision.currency,
                                 idempotency_key=idempotency_key)
                    return refusal
            request = RefundRequest(
                idempotency_key=idempotency_key, order_id=order.id, conversation_id=conversation_id,
                reason=requested.reason, requested_amount_minor=requested.amount_minor,
                vat_refund=requested.is_vat, automatic=decision.automatic, outcome="",
                team=decision.team, decision=decision_to_json(decision), created_at=now,
            )
            session.add(request)
            audit.record(session, "refund.decision", at=now, conversation_id=conversation_id,
                         order_id=order.id, reference=order.reference, outcome=decision.outcome,
                         automatic=decision.automatic, team=decision.team,
                         reasons=list(decision.reasons), amount_minor=decision.amount_minor,
                         currency=decision.currency, reason=requested.reason,
                         idempotency_key=idempotency_key)

            if decision.outcome != DecisionOutcome.AUTOMATIC_REFUND:
                status, ticket = self._not_automatic(session, order, decision, conversation_id,
                                                     summary, requested)
                request.outcome = status
                request.ticket_id = ticket.id if ticket else None
                session.flush()
                return RefundOutcome(status=status, decision=decision,
                                     ticket=ticket_view(ticket) if ticket else None,
                                     refund=self._latest_refund_view(order, now))

            charge = charge_of(order)
            refund = Refund(
                order_id=order.id, amount_minor=decision.amount_minor, currency=order.currency,
                status=REFUND_PENDING, reason=requested.reason, method=order.payment_method,
                card_brand=charge.card_brand if charge else None,
                card_last4=charge.card_last4 if charge else None, source=source,
                provider_idempotency_key=provider_key(order, decision.amount_minor),
                requested_at=now,
            )
            session.add(refund)
            session.flush()  # the unique constraints fire here at the latest
            request.refund_id = refund.id
            request.outcome = RefundOutcomeStatus.REFUNDED
            audit.record(session, "refund.requested", at=now, conversation_id=conversation_id,
                         order_id=order.id, refund_id=refund.id, amount_minor=refund.amount_minor,
                         currency=refund.currency, provider_key=refund.provider_idempotency_key)
            provider_request = ProviderRefundRequest(
                idempotency_key=refund.provider_idempotency_key,
                order_reference=order.reference,
                amount_minor=refund.amount_minor,
                currency=refund.currency,
                payment_method=order.payment_method,
                charge_reference=charge.provider_reference if charge else None,
                reason=requested.reason,
            )
            return _PendingRefund(refund.id, request.id, decision, provider_request)

    def _not_automatic(self, session: Session, order: Order, decision: RefundDecision,
                       conversation_id: str | None, summary: str | None,
                       requested: RequestedRefund) -> tuple[RefundOutcomeStatus, HandoffTicket | None]:
        if decision.outcome == DecisionOutcome.HANDOFF:
            assert decision.handoff_reason is not None  # decide() names one for every handoff
            text = summary or (
                f"Refund request ({requested.reason}) for order {order.reference}, "
                f"{format_money(decision.amount_minor, decision.currency)}: not automatic "
                f"({', '.join(decision.reasons)})."
            )
            ticket = self.handoff.add(session, conversation_id=conversation_id or "-",
                                      reason_code=decision.handoff_reason, team=decision.team,
                                      summary=text, order_id=order.id)
            return RefundOutcomeStatus.HANDED_OFF, ticket
        if decision.outcome == DecisionOutcome.ALREADY_REFUNDED:
            if REFUND_IN_PROGRESS in decision.reasons:
                return RefundOutcomeStatus.IN_PROGRESS, None
            return RefundOutcomeStatus.ALREADY_REFUNDED, None
        assert decision.outcome == DecisionOutcome.NOTHING_TO_REFUND
        return RefundOutcomeStatus.NOTHING_TO_REFUND, None

    def _latest_refund_view(self, order: Order, now: datetime) -> RefundView | None:
        return refund_view(order.refunds[-1], now) if order.refunds else None

    def _replay(self, session: Session, request: RefundRequest, order_id: int, requested: RequestedRefund,
                now: datetime) -> RefundOutcome:
        if request.order_id != order_id or request.requested_amount_minor != requested.amount_minor:
            raise IdempotencyConflict(
                f"idempotency key {request.idempotency_key!r} was used for another refund request"
            )
        order = load_order_by_id(session, order_id)
        decision = decision_from_json(request.decision)  # the decision as it was taken then
        ticket = ticket_view(request.ticket) if request.ticket else None
        refund = request.refund
        if refund is None:
            return RefundOutcome(status=RefundOutcomeStatus(request.outcome), decision=decision,
                                 ticket=ticket,
                                 refund=self._latest_refund_view(order, now))
        if refund.status == REFUND_PENDING and refund.provider_reference is None:
            # the first request is still talking to the provider
            status = RefundOutcomeStatus.IN_PROGRESS
        elif refund.status == REFUND_FAILED:
            status = RefundOutcomeStatus.HANDED_OFF
        else:
            status = RefundOutcomeStatus.REFUNDED
        return RefundOutcome(status=status, decision=decision, ticket=ticket,
                             refund=refund_view(refund, now))

    # steps 2 and 3: call the provider, book the result
    def _execute(self, pending: _PendingRefund, *, conversation_id: str | None) -> RefundOutcome:
        refund_id, provider_request = pending.refund_id, pending.provider_request
        decision = pending.decision
        error = None
        try:
            result = self.provider.refund(provider_request)
        except Exception as exc:  # noqa: BLE001 - any failure: book it, hand it to a person
            error = f"{exc.__class__.__name__}: {exc}"
            log.error("refund %s for order %s failed: %s", refund_id,
                      provider_request.order_reference, error)
        now = self.clock()
        ticket = None
        with session_scope(self.engine) as session:
            refund = session.get(Refund, refund_id)
            lock_order(session, refund.order_id)
            order = load_order_by_id(session, refund.order_id)
            request = session.get(RefundRequest, pending.request_id)
            if error is None:
                refund.status = REFUND_COMPLETED if result.status == "succeeded" else REFUND_PENDING
                refund.provider_reference = result.provider_reference
                refund.refunded_at = now
                session.add(Payment(
                    order_id=order.id, kind=MOVEMENT_REFUND,
                    status="completed" if refund.status == REFUND_COMPLETED else "pending",
                    amount_minor=refund.amount_minor, currency=refund.currency,
                    method=refund.method, card_brand=refund.card_brand,
                    card_last4=refund.card_last4, occurred_at=now,
                    provider_reference=result.provider_reference, refund_id=refund.id,
                ))
                session.flush()
                session.expire(order, ["refunds"])
                order.status = (ORDER_REFUNDED if refunded_minor(order) + _pending(order)
                                >= order.total_minor else ORDER_PARTIALLY_REFUNDED)
                audit.record(session, "refund.issued", at=now, conversation_id=conversation_id,
                             order_id=order.id, refund_id=refund.id,
                             amount_minor=refund.amount_minor, currency=refund.currency,
                             provider=getattr(self.provider, "name", "?"),
                             provider_reference=result.provider_reference,
                             provider_status=result.status)
                status = RefundOutcomeStatus.REFUNDED
            else:
                refund.status = REFUND_FAILED
                refund.failure = error[:1000]
                audit.record(session, "refund.failed", at=now, conversation_id=conversation_id,
                             order_id=order.id, refund_id=refund.id, error=error[:500])
                ticket = self.handoff.add(
                    session, conversation_id=conversation_id or "-", reason_code=REFUND_FAILED_REASON,
                    team=TEAM_PAYMENT_PROCESSING, order_id=order.id,
                    summary=(f"Automatic refund of {format_money(refund.amount_minor, refund.currency)}"
                             f" for order {order.reference} failed at the payment provider "
                             f"(provider key {refund.provider_idempotency_key}): {error[:300]}. "
                             "The money may or may not have moved: reconcile before refunding."),
                )
                decision = failed_decision(pending.decision)
                request.outcome = RefundOutcomeStatus.HANDED_OFF
                request.ticket_id = ticket.id
                request.decision = decision_to_json(decision)
                status = RefundOutcomeStatus.HANDED_OFF
            session.flush()
            view = refund_view(refund, now)
            ticket_v = ticket_view(ticket) if ticket else None
        if ticket_v is not None:
            self.handoff.dispatch(ticket_v.id)
        return RefundOutcome(status=status, refund=view, ticket=ticket_v, decision=decision)


def _pending(order: Order) -> int:
    return sum(r.amount_minor for r in order.refunds if r.status == REFUND_PENDING)
