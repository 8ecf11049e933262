"""Refund eligibility: a PURE function of (order, requested refund, client policy, time).

`decide()` never touches a database, a clock or the network. A refund is automatic only when
all four rules of seed 001 hold (see docs/architecture.md):

1. the refund is full (partial and VAT refunds always go to Payment Processing);
2. the client's policy allows it: `no_restrictions`, or `within_days` with the purchase inside
   the window. THE BOUNDARY: eligible iff ``now - placed_at <= timedelta(days=N)``, both
   timezone-aware and compared in UTC; so an order placed at 10:00 UTC on day 0 can be refunded
   until 10:00:00 UTC on day N inclusive, and not one microsecond later;
3. the payment method is credit card, PayPal, Apple Pay, Alipay, direct debit or Amazon Pay;
4. the order is paid, not (being) refunded, not in a chargeback.

Every failing rule contributes a reason code (all of them are collected, not just the first);
the team comes from the routing table (`supportbot.core.routing`), and the explanation is one
customer-facing sentence per reason. Client terms can add a reason: a subscription vendor
that does not refund a charged period (seed 000) gets `subscription_period_charged`, with the
alternative of cancelling at the end of the billing period.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from supportbot.core.routing import pick_team, team_for
from supportbot.core.timeutil import as_utc
from supportbot.core.vocabulary import (
    AUTO_REFUNDABLE_PAYMENT_METHODS,
    ORDER_CANCELLED,
    ORDER_CHARGEBACK,
    ORDER_PARTIALLY_REFUNDED,
    ORDER_PENDING,
    ORDER_REFUNDED,
    ORDER_STATUSES,
    PAYMENT_METHOD_LABELS,
    PAYMENT_METHODS,
    POLICY_APPROVAL_REQUIRED,
    POLICY_NO_REFUNDS,
    POLICY_NO_RESTRICTIONS,
    POLICY_WITHIN_DAYS,
    REFUND_POLICIES,
    REFUND_REASONS,
    SUBSCRIPTION_CANCELLED,
    SUBSCRIPTION_EXPIRED,
    TEAM_LABELS,
    TEAM_PAYMENT_PROCESSING,
    VAT_REFUND_REASON,
    StatusEnum,
    describe_payment,
    format_date,
    format_money,
    format_time,
)

# ---- reason codes (machine-readable; documented in docs/architecture.md via the report) ----
PARTIAL_REFUND = "partial_refund"
VAT_REFUND = "vat_refund"
AMOUNT_EXCEEDS_TOTAL = "amount_exceeds_total"
NOTHING_TO_REFUND = "nothing_to_refund"
POLICY_APPROVAL = "policy_approval_required"
POLICY_NONE = "policy_no_refunds"
WINDOW_PASSED = "refund_window_passed"
SUBSCRIPTION_PERIOD_CHARGED = "subscription_period_charged"
METHOD_NOT_ELIGIBLE = "payment_method_not_eligible"
PAYMENT_NOT_RECEIVED = "payment_not_received"
ORDER_WAS_CANCELLED = "order_cancelled"
CHARGEBACK = "chargeback"
ALREADY_REFUNDED = "already_refunded"
PARTIALLY_REFUNDED = "partially_refunded"
REFUND_IN_PROGRESS = "refund_in_progress"
REFUND_FAILED = "refund_failed"
DUPLICATE_PAYMENT = "duplicate_payment"  # handoff reason for non-automatic duplicate orders

REASON_CODES = (
    PARTIAL_REFUND,
    VAT_REFUND,
    AMOUNT_EXCEEDS_TOTAL,
    NOTHING_TO_REFUND,
    POLICY_APPROVAL,
    POLICY_NONE,
    WINDOW_PASSED,
    SUBSCRIPTION_PERIOD_CHARGED,
    METHOD_NOT_ELIGIBLE,
    PAYMENT_NOT_RECEIVED,
    ORDER_WAS_CANCELLED,
    CHARGEBACK,
    ALREADY_REFUNDED,
    PARTIALLY_REFUNDED,
    REFUND_IN_PROGRESS,
    REFUND_FAILED,
)

class DecisionOutcome(StatusEnum):
    AUTOMATIC_REFUND = "automatic_refund"
    HANDOFF = "handoff"
    ALREADY_REFUNDED = "already_refunded"  # tell the customer; refund_status path
    NOTHING_TO_REFUND = "nothing_to_refund"  # e.g. a trial: nothing was charged


ALTERNATIVE_CANCEL_AT_PERIOD_END = "cancel_at_period_end"


@dataclass(frozen=True)
class ClientPolicy:
    client_name: str
    category: str
    window_days: int | None = None
    no_refund_for_charged_period: bool = False

    def __post_init__(self) -> None:
        if self.category not in REFUND_POLICIES:
            raise ValueError(f"unknown refund policy category {self.category!r}")
        if self.category == POLICY_WITHIN_DAYS and (self.window_days is None or self.window_days < 0):
            raise ValueError("a 'within_days' policy needs window_days >= 0")


@dataclass(frozen=True)
class OrderFacts:
    """What the rules need to know about an order (built from the database by the services)."""

    reference: str
    status: str
    payment_method: str
    placed_at: datetime
    total_minor: int
    vat_minor: int
    currency: str
    refunded_minor: int = 0  # completed refunds
    pending_refund_minor: int = 0  # refunds issued but not confirmed by the provider
    has_failed_refund: bool = False
    card_brand: str | None = None
    card_last4: str | None = None
    # a subscription started by this order: its status and the end of the charged period
    subscription_status: str | None = None
    subscription_period_end: datetime | None = None

    def __post_init__(self) -> None:
        if self.status not in ORDER_STATUSES:
            raise ValueError(f"unknown order status {self.status!r}")
        if self.payment_method not in PAYMENT_METHODS:
            raise ValueError(f"unknown payment method {self.payment_method!r}")
        as_utc(self.placed_at, name="placed_at")


@dataclass(frozen=True)
class RequestedRefund:
    reason: str
    amount_minor: int | None = None  # None: the full amount
    vat_refund: bool = False

    def __post_init__(self) -> None:
        if self.reason not in REFUND_REASONS and self.reason != VAT_REFUND_REASON:
            raise ValueError(f"unknown refund reason {self.reason!r}; one of {REFUND_REASONS}")
        if self.amount_minor is not None and self.amount_minor <= 0:
            raise ValueError("amount_minor must be positive")

    @property
    def is_vat(self) -> bool:
        return self.vat_refund or self.reason == VAT_REFUND_REASON


@dataclass(frozen=True)
class RefundDecision:
    """The answer of `decide()`; also what `SupportServices.refund_decision` returns."""

    automatic: bool
    team: str | None  # customer_service | payment_processing | None (nothing for a person to do)
    reasons: tuple[str, ...]  # every failing rule; empty when automatic
    explanation: str  # customer-facing
    amount_minor: int  # the amount that is / would be refunded
    currency: str
    outcome: DecisionOutcome = DecisionOutcome.HANDOFF
    handoff_reason: str | None = None  # the reason code for the handoff ticket
    alternatives: tuple[str, ...] = field(default_factory=tuple)


def decide(
    order: OrderFacts, requested: RequestedRefund, policy: ClientPolicy, now: datetime
) -> RefundDecision:
    """Decide whether `requested` can be refunded automatically at `now` (pure)."""
    now = as_utc(now, name="now")
    placed_at = as_utc(order.placed_at, name="placed_at")
    reasons: list[str] = []
    sentences: list[str] = []
    alternatives: list[str] = []

    # Rule 1: full refunds only.
    if requested.is_vat:
        amount = requested.amount_minor if requested.amount_minor is not None else order.vat_minor
        reasons.append(VAT_REFUND)
        sentences.append("VAT refunds are handled by our Payment Processing team.")
    else:
        amount = requested.amount_minor if requested.amount_minor is not None else order.total_minor
        if amount > order.total_minor:
            reasons.append(AMOUNT_EXCEEDS_TOTAL)
            sentences.append(
                f"The amount you asked for ({format_money(amount, order.currency)}) is more than "
                f"what was paid for this order ({format_money(order.total_minor, order.currency)})."
            )
        elif amount < order.total_minor:
            reasons.append(PARTIAL_REFUND)
            sentences.append("Partial refunds are handled by our Payment Processing team.")
    if order.total_minor == 0:
        reasons.append(NOTHING_TO_REFUND)
        sentences.append("Nothing was charged for this order, so there is nothing to refund.")

    # Rule 2: the client's refund policy (+ the client's own subscription terms).
    if policy.category == POLICY_NO_RESTRICTIONS:
        pass
    elif policy.category == POLICY_WITHIN_DAYS:
        assert policy.window_days is not None  # ClientPolicy.__post_init__ requires it
        window_end = placed_at + timedelta(days=policy.window_days)
        if now > window_end:
            reasons.append(WINDOW_PASSED)
            sentences.append(_window_passed(policy, placed_at, window_end))
    elif policy.category == POLICY_APPROVAL_REQUIRED:
        reasons.append(POLICY_APPROVAL)
        sentences.append(f"{policy.client_name} approves every refund individually.")
    elif policy.category == POLICY_NO_REFUNDS:
        reasons.append(POLICY_NONE)
        sentences.append(f"{policy.client_name}'s terms do not provide for refunds.")
    if (
        policy.no_refund_for_charged_period
        and order.subscription_period_end is not None
        and order.total_minor > 0
    ):
        reasons.append(SUBSCRIPTION_PERIOD_CHARGED)
        end = format_date(as_utc(order.subscription_period_end))
        if order.subscription_status == SUBSCRIPTION_CANCELLED:
            sentences.append(
                f"{policy.client_name} does not refund a subscription period that has already been "
                f"charged. Your subscription is already cancelled: you can use it until {end} and "
                "you will not be charged again."
            )
        elif order.subscription_status != SUBSCRIPTION_EXPIRED:
            alternatives.append(ALTERNATIVE_CANCEL_AT_PERIOD_END)
            sentences.append(
                f"{policy.client_name} does not refund a subscription period that has already been "
                "charged. Instead, you can cancel the subscription: it stays usable until "
                f"{end} and will not renew."
            )
        else:
            sentences.append(
                f"{policy.client_name} does not refund a subscription period that has already been "
                "charged."
            )

    # Rule 3: the payment method.
    if order.payment_method not in AUTO_REFUNDABLE_PAYMENT_METHODS:
        reasons.append(METHOD_NOT_ELIGIBLE)
        label = PAYMENT_METHOD_LABELS.get(order.payment_method, order.payment_method)
        sentences.append(
            f"Orders paid by {label} cannot be refunded automatically; a colleague has to send the "
            "money back by hand."
        )

    # Rule 4: paid, not (being) refunded, not in a chargeback.
    if order.status == ORDER_PENDING:
        reasons.append(PAYMENT_NOT_RECEIVED)
        sentences.append("We have not received the payment for this order yet.")
    elif order.status == ORDER_CANCELLED:
        reasons.append(ORDER_WAS_CANCELLED)
        sentences.append("This order was cancelled before it was paid, so nothing was charged.")
    elif order.status == ORDER_CHARGEBACK:
        reasons.append(CHARGEBACK)
        sentences.append(
            "This payment is disputed with your bank (a chargeback), so the refund has to go "
            "through our Payment Processing team."
        )
    if order.status == ORDER_REFUNDED or (
        order.total_minor > 0 and order.refunded_minor >= order.total_minor
    ):
        reasons.append(ALREADY_REFUNDED)
        sentences.append("This order has already been refunded.")
    elif order.status == ORDER_PARTIALLY_REFUNDED or order.refunded_minor > 0:
        reasons.append(PARTIALLY_REFUNDED)
        sentences.append(
            "Part of this order has already been refunded, so the rest is handled by our "
            "Payment Processing team."
        )
    if order.pending_refund_minor > 0:
        reasons.append(REFUND_IN_PROGRESS)
        sentences.append("A refund for this order is already being processed.")
    if order.has_failed_refund:
        reasons.append(REFUND_FAILED)
        sentences.append(
            "An earlier refund attempt for this order did not go through; our Payment Processing "
            "team is taking care of it."
        )

    return _conclude(order, requested, amount, reasons, sentences, alternatives)


def _conclude(order: OrderFacts, requested: RequestedRefund, amount: int, reasons: list[str],
              sentences: list[str], alternatives: list[str]) -> RefundDecision:
    money = format_money(amount, order.currency)
    if not reasons:
        return RefundDecision(
            automatic=True,
            team=None,
            reasons=(),
            explanation=(
                f"Your order {order.reference} qualifies for an automatic full refund of {money}"
                f" to {describe_payment(order.payment_method, order.card_brand, order.card_last4)}."
            ),
            amount_minor=amount,
            currency=order.currency,
            outcome=DecisionOutcome.AUTOMATIC_REFUND,
        )
    if ALREADY_REFUNDED in reasons or REFUND_IN_PROGRESS in reasons:
        outcome, team, handoff_reason = DecisionOutcome.ALREADY_REFUNDED, None, None
    elif NOTHING_TO_REFUND in reasons or ORDER_WAS_CANCELLED in reasons:
        outcome, team, handoff_reason = DecisionOutcome.NOTHING_TO_REFUND, None, None
    else:
        outcome = DecisionOutcome.HANDOFF
        if requested.reason == "duplicate_order":
            # duplicate payments belong to Payment Processing whatever else applies (seed 002)
            team, handoff_reason = TEAM_PAYMENT_PROCESSING, DUPLICATE_PAYMENT
        else:
            team = pick_team(reasons)
            # the reasons that need no team were all answered above, so one here has a team
            assert team is not None
            handoff_reason = next(code for code in reasons if team_for(code) == team)
        sentences.append(f"Our {TEAM_LABELS[team]} team will take it from here.")
    return RefundDecision(
        automatic=False,
        team=team,
        reasons=tuple(reasons),
        explanation=" ".join(sentences),
        amount_minor=amount,
        currency=order.currency,
        outcome=outcome,
        handoff_reason=handoff_reason,
        alternatives=tuple(alternatives),
    )


def _window_passed(policy: ClientPolicy, placed_at: datetime, window_end: datetime) -> str:
    """'... allows refunds within 30 days of purchase. This order was placed on 4 May 2024 at
    11:00 UTC, so the last day for a refund was 3 June 2024 (until 11:00 UTC).'"""
    return (
        f"{policy.client_name} allows refunds within {policy.window_days} days of purchase. "
        f"This order was placed on {format_date(placed_at)} at {format_time(placed_at)}, so the "
        f"last day for a refund was {format_date(window_end)} (until {format_time(window_end)})."
    )
