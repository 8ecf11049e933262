"""The small frozen result types the facade returns (never ORM objects).

Every status is a member of a `str` enum, so the actions compare with the enum and a stored or
logged status is its plain string value.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from supportbot.core.refund_policy import RefundDecision
from supportbot.core.vocabulary import StatusEnum


class VerificationStatus(StatusEnum):
    VERIFIED = "verified"
    MISMATCH = "mismatch"  # no such order OR wrong email: deliberately indistinguishable
    THROTTLED = "throttled"
    INVALID = "invalid"  # not a 9-digit reference / not an email address


class CodeDispatchStatus(StatusEnum):
    SENT = "sent"
    THROTTLED = "throttled"
    NOT_VERIFIED = "not_verified"
    UNAVAILABLE = "unavailable"  # the mail relay failed; nothing was stored


class CodeCheckStatus(StatusEnum):
    OK = "ok"
    WRONG = "wrong"
    EXPIRED = "expired"
    THROTTLED = "throttled"
    NO_CHALLENGE = "no_challenge"


class RefundOutcomeStatus(StatusEnum):
    REFUNDED = "refunded"
    ALREADY_REFUNDED = "already_refunded"
    HANDED_OFF = "handed_off"
    NOT_VERIFIED = "not_verified"
    IN_PROGRESS = "in_progress"  # another request is refunding this order right now
    NOTHING_TO_REFUND = "nothing_to_refund"
    # the code was entered, but no "yes" to exactly this refund is recorded: nothing moved
    CONFIRMATION_REQUIRED = "confirmation_required"


class SubscriptionChangeStatus(StatusEnum):
    CANCELLED = "cancelled"
    ALREADY_CANCELLED = "already_cancelled"
    REINSTATED = "reinstated"
    ALREADY_ACTIVE = "already_active"
    PERIOD_ENDED = "period_ended"
    NO_SUBSCRIPTION = "no_subscription"
    NOT_VERIFIED = "not_verified"
    # no recorded "yes" (after a one-time code) to exactly this change: nothing changed
    CONFIRMATION_REQUIRED = "confirmation_required"


class ConfirmationStatus(StatusEnum):
    PENDING = "pending"  # asked: waiting for the customer's answer
    CONFIRMED = "confirmed"  # the customer said yes
    DECLINED = "declined"  # the customer said no
    NOT_VERIFIED = "not_verified"  # this conversation has not verified the order
    CODE_REQUIRED = "code_required"  # no valid one-time code for this order and purpose
    NOTHING_TO_CONFIRM = "nothing_to_confirm"  # nothing would change (not automatic, already so)
    NO_QUESTION = "no_question"  # an answer, but no open question (expired, superseded, never asked)


@dataclass(frozen=True)
class SubscriptionView:
    reference: str  # the order that started the subscription
    plan: str
    status: str  # trial | active | cancelled | expired
    billing_period: str  # monthly | quarterly | yearly
    started_at: datetime
    current_period_end: datetime
    auto_renew: bool
    trial_end: datetime | None
    cancelled_at: datetime | None
    renewal_price_minor: int
    currency: str
    in_trial: bool  # the free trial has not ended (cancelled or not): nothing is charged yet
    can_cancel: bool  # auto-renew is on and the period has not ended
    can_reinstate: bool  # cancelled and the period has not ended


@dataclass(frozen=True)
class PendingPaymentInfo:
    """For `payment_missing`: an unpaid order, what to pay and whether it is overdue."""

    reference: str
    amount_minor: int
    currency: str
    payment_method: str
    placed_at: datetime
    business_days_pending: int
    overdue: bool  # more than `expected_business_days` -> Payment Processing
    expected_business_days: int
    instructions: str
    team: str  # payment_processing


@dataclass(frozen=True)
class OrderSummary:
    reference: str
    client_name: str
    products: tuple[str, ...]
    total_minor: int
    currency: str
    payment_method: str
    card_brand: str | None
    card_last4: str | None
    status: str
    placed_at: datetime
    masked_email: str
    subscription: SubscriptionView | None
    technical_support: str  # the client's (vendor's) technical-support contact
    net_minor: int = 0
    vat_minor: int = 0
    paid_at: datetime | None = None
    refunded_minor: int = 0
    statement_descriptor: str = ""
    pending_payment_info: PendingPaymentInfo | None = None


def _wait(seconds: int | None) -> timedelta | None:
    return timedelta(seconds=seconds) if seconds is not None else None


@dataclass(frozen=True)
class VerificationResult:
    status: VerificationStatus
    order: OrderSummary | None = None
    retry_after_seconds: int | None = None

    @property
    def retry_after(self) -> timedelta | None:
        """How long a throttled customer waits (what the reply states)."""
        return _wait(self.retry_after_seconds)


@dataclass(frozen=True)
class CodeDispatch:
    status: CodeDispatchStatus
    masked_email: str | None = None
    expires_at: datetime | None = None
    retry_after_seconds: int | None = None
    code_length: int | None = None  # digits of the code that was sent
    valid_for: timedelta | None = None  # how long the code that was sent works

    @property
    def retry_after(self) -> timedelta | None:
        return _wait(self.retry_after_seconds)


@dataclass(frozen=True)
class LinkDispatch:
    """A signed link mailed to the purchase email (invoice, change of payment method)."""

    masked_email: str
    expires_at: datetime
    valid_for: timedelta


@dataclass(frozen=True)
class CodeCheck:
    status: CodeCheckStatus
    attempts_left: int = 0


@dataclass(frozen=True)
class ChargeHint:
    """Who charged a card (for "what is this charge?"): no reference, no email."""

    client_name: str
    statement_descriptor: str
    charged_on: date
    amount_minor: int
    currency: str


class ChargeLookupStatus(StatusEnum):
    FOUND = "found"
    NOT_FOUND = "not_found"
    THROTTLED = "throttled"  # too many lookups from this conversation or client address


@dataclass(frozen=True)
class ChargeLookup:
    """The charge lookup's answer: matching charges (best first), or how long to wait."""

    status: ChargeLookupStatus
    hints: tuple[ChargeHint, ...] = ()
    retry_after_seconds: int | None = None

    @property
    def retry_after(self) -> timedelta | None:
        return _wait(self.retry_after_seconds)


@dataclass(frozen=True)
class RefundView:
    amount_minor: int
    currency: str
    status: str  # pending | completed | failed
    requested_at: datetime
    refunded_at: datetime | None
    method: str
    card_brand: str | None
    card_last4: str | None
    business_days_elapsed: int
    expected_by: date | None  # refunded_at + the slowest typical bank delay
    overdue: bool
    typical_delay_days: tuple[int, int]  # business days until banks show it, e.g. (5, 10)


@dataclass(frozen=True)
class RefundStatus:
    reference: str
    refunds: tuple[RefundView, ...]
    overdue: bool  # a completed refund older than the slowest typical delay -> Payment Processing
    typical_delay_days: tuple[int, int]  # business days, e.g. (5, 10)
    team: str | None = None  # payment_processing when overdue


@dataclass(frozen=True)
class TicketView:
    id: int
    team: str
    reason_code: str
    created_at: datetime
    conversation_id: str = ""
    reference: str | None = None
    summary: str = ""
    delivery_status: str = "not_configured"


@dataclass(frozen=True)
class RefundOutcome:
    status: RefundOutcomeStatus
    refund: RefundView | None = None
    ticket: TicketView | None = None
    decision: RefundDecision | None = None
    code_required: bool = False  # not_verified because the one-time code is missing
    # the purchase email (masked) a confirmation of this refund was mailed to; None: none sent
    receipt_sent_to: str | None = None


@dataclass(frozen=True)
class ConfirmationRequest:
    """What the bot is about to ask the customer to agree to, as the core computed it (the
    same terms are re-computed and compared when the change is made)."""

    status: ConfirmationStatus
    purpose: str  # vocabulary.CONFIRMATION_PURPOSES
    reference: str | None = None
    expires_at: datetime | None = None
    # refund: amount and where it goes back to
    amount_minor: int | None = None
    currency: str | None = None
    payment_method: str | None = None
    card_brand: str | None = None
    card_last4: str | None = None
    # subscriptions: the plan, its renewal price (amount_minor) and period end / next charge
    plan: str | None = None
    billing_period: str | None = None
    period_end: datetime | None = None
    in_trial: bool = False
    # change of payment method: where the secure link goes
    masked_email: str | None = None


@dataclass(frozen=True)
class SubscriptionChange:
    status: SubscriptionChangeStatus
    subscription: SubscriptionView | None = None
