"""SQLAlchemy 1.4 models (2.0 style) of the commerce core.

Money is stored as integer minor units (`total_minor=4900`, `currency="EUR"`), times as
timezone-aware UTC (`UTCDateTime`), cards only as brand + last 4 digits. The schema is
created by the hand-written Alembic migrations in `supportbot/db/migrations`; a test
compares these models with the migrated schema so that the two never drift apart.

No table is called `events`: Rasa's SQL tracker store may share the database and owns it.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import declarative_base, relationship
from sqlalchemy.types import TypeDecorator

from supportbot.core.timeutil import utcnow

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLAlchemy 1.4 ships no type hints: the declarative base is Any, and annotating it so lets mypy
# accept it as the base class of the models (their columns are Any too).
Base: Any = declarative_base(metadata=MetaData(naming_convention=NAMING_CONVENTION))


class UTCDateTime(TypeDecorator):
    """A timestamp that is always timezone-aware UTC in Python.

    PostgreSQL stores it as `timestamptz`; SQLite (no time zones) stores naive UTC.
    Naive datetimes are refused instead of being guessed.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r}: the core only stores timezone-aware UTC")
        value = value.astimezone(timezone.utc)
        if dialect.name == "sqlite":
            value = value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


class Client(Base):
    """A software vendor whose products the reseller sells (merchant of record)."""

    __tablename__ = "clients"

    id = Column(Integer, primary_key=True)
    code = Column(String(64), nullable=False, unique=True)
    name = Column(String(200), nullable=False)
    refund_policy = Column(String(32), nullable=False)
    refund_window_days = Column(Integer)
    # seed 000: a charged subscription period is not refunded; cancellation at period end
    no_refund_for_charged_period = Column(Boolean, nullable=False, default=False)
    technical_support = Column(String(300), nullable=False)
    statement_descriptor = Column(String(64), nullable=False)
    created_at = Column(UTCDateTime, nullable=False, default=utcnow)

    customers = relationship("Customer", back_populates="client")

    __table_args__ = (
        CheckConstraint(
            "refund_policy IN ('no_restrictions', 'within_days', 'approval_required', 'no_refunds')",
            name="refund_policy",
        ),
        CheckConstraint(
            "(refund_policy = 'within_days' AND refund_window_days IS NOT NULL"
            " AND refund_window_days >= 0)"
            " OR (refund_policy <> 'within_days' AND refund_window_days IS NULL)",
            name="refund_window_days",
        ),
    )


class Customer(Base):
    """A buyer. Unique per client (seed 001): the same person buying from two clients is two rows."""

    __tablename__ = "customers"

    id = Column(Integer, primary_key=True)
    client_id = Column(ForeignKey("clients.id"), nullable=False)
    email = Column(String(320), nullable=False)  # normalised: trimmed, lower case
    name = Column(String(200))
    company = Column(String(200))
    country = Column(String(2))
    created_at = Column(UTCDateTime, nullable=False, default=utcnow)

    client = relationship("Client", back_populates="customers")
    orders = relationship("Order", back_populates="customer")

    __table_args__ = (
        UniqueConstraint("client_id", "email"),
        Index("ix_customers_email", "email"),
    )


class Order(Base):
    __tablename__ = "orders"

    id = Column(Integer, primary_key=True)
    reference = Column(String(9), nullable=False, unique=True)
    client_id = Column(ForeignKey("clients.id"), nullable=False)
    customer_id = Column(ForeignKey("customers.id"), nullable=False)
    placed_at = Column(UTCDateTime, nullable=False)
    paid_at = Column(UTCDateTime)
    currency = Column(String(3), nullable=False)
    net_minor = Column(BigInteger, nullable=False)
    vat_minor = Column(BigInteger, nullable=False)
    total_minor = Column(BigInteger, nullable=False)
    payment_method = Column(String(32), nullable=False)
    status = Column(String(32), nullable=False)

    client = relationship("Client")
    customer = relationship("Customer", back_populates="orders")
    items = relationship("OrderItem", back_populates="order", order_by="OrderItem.id")
    payments = relationship("Payment", back_populates="order", order_by="Payment.id")
    refunds = relationship("Refund", back_populates="order", order_by="Refund.id")
    subscription = relationship("Subscription", back_populates="order", uselist=False)

    __table_args__ = (
        CheckConstraint(
            "payment_method IN ('credit_card', 'paypal', 'apple_pay', 'alipay', 'direct_debit',"
            " 'amazon_pay', 'google_pay', 'wire_transfer', 'purchase_order')",
            name="payment_method",
        ),
        CheckConstraint(
            "status IN ('pending', 'paid', 'partially_refunded', 'refunded', 'chargeback',"
            " 'cancelled')",
            name="status",
        ),
        CheckConstraint(
            "net_minor >= 0 AND vat_minor >= 0 AND total_minor = net_minor + vat_minor",
            name="amounts",
        ),
        Index("ix_orders_customer_id", "customer_id"),
        Index("ix_orders_client_id_placed_at", "client_id", "placed_at"),
    )


class OrderItem(Base):
    __tablename__ = "order_items"

    id = Column(Integer, primary_key=True)
    order_id = Column(ForeignKey("orders.id", ondelete="CASCADE"), nullable=False)
    product_name = Column(String(200), nullable=False)
    sku = Column(String(64))
    quantity = Column(Integer, nullable=False, default=1)
    unit_price_minor = Column(BigInteger, nullable=False, default=0)  # gross, order currency
    license_key = Column(String(200))
    activation_code = Column(String(200))
    download_url = Column(String(500))

    order = relationship("Order", back_populates="items")

    __table_args__ = (
        CheckConstraint("quantity > 0 AND unit_price_minor >= 0", name="quantity_price"),
        Index("ix_order_items_order_id", "order_id"),
    )


class Payment(Base):
    """A money movement of an order: a charge, a refund or a chargeback.

    Cards are recorded as brand + last 4 digits only, never the full number.
    """

    __tablename__ = "payments"

    id = Column(Integer, primary_key=True)
    order_id = Column(ForeignKey("orders.id"), nullable=False)
    kind = Column(String(16), nullable=False)
    status = Column(String(16), nullable=False)
    amount_minor = Column(BigInteger, nullable=False)
    currency = Column(String(3), nullable=False)
    method = Column(String(32), nullable=False)
    card_brand = Column(String(16))
    card_last4 = Column(String(4))
    occurred_at = Column(UTCDateTime, nullable=False)
    provider_reference = Column(String(100))
    refund_id = Column(ForeignKey("refunds.id"))

    order = relationship("Order", back_populates="payments")
    refund = relationship("Refund")

    __table_args__ = (
        CheckConstraint("kind IN ('charge', 'refund', 'chargeback')", name="kind"),
        CheckConstraint("status IN ('pending', 'completed', 'failed')", name="status"),
        CheckConstraint("amount_minor > 0", name="amount_positive"),
        CheckConstraint("card_last4 IS NULL OR length(card_last4) = 4", name="card_last4"),
        Index("ix_payments_order_id", "order_id"),
        Index("ix_payments_kind_amount_minor", "kind", "amount_minor"),
    )


class Subscription(Base):
    __tablename__ = "subscriptions"

    id = Column(Integer, primary_key=True)
    order_id = Column(ForeignKey("orders.id"), nullable=False, unique=True)  # the order that started it
    client_id = Column(ForeignKey("clients.id"), nullable=False)
    customer_id = Column(ForeignKey("customers.id"), nullable=False)
    plan = Column(String(200), nullable=False)
    billing_period = Column(String(16), nullable=False)
    status = Column(String(16), nullable=False)
    started_at = Column(UTCDateTime, nullable=False)
    current_period_end = Column(UTCDateTime, nullable=False)
    auto_renew = Column(Boolean, nullable=False)
    trial_end = Column(UTCDateTime)
    cancelled_at = Column(UTCDateTime)
    renewal_price_minor = Column(BigInteger, nullable=False)
    currency = Column(String(3), nullable=False)

    order = relationship("Order", back_populates="subscription")
    client = relationship("Client")
    customer = relationship("Customer")

    __table_args__ = (
        CheckConstraint("status IN ('trial', 'active', 'cancelled', 'expired')", name="status"),
        CheckConstraint("billing_period IN ('monthly', 'quarterly', 'yearly')", name="billing_period"),
    )


class Refund(Base):
    """The refund ledger. One row per (order, amount): the unique constraint is the last line
    of defence against refunding twice."""

    __tablename__ = "refunds"

    id = Column(Integer, primary_key=True)
    order_id = Column(ForeignKey("orders.id"), nullable=False)
    amount_minor = Column(BigInteger, nullable=False)
    currency = Column(String(3), nullable=False)
    status = Column(String(16), nullable=False)
    reason = Column(String(32))
    method = Column(String(32), nullable=False)
    card_brand = Column(String(16))
    card_last4 = Column(String(4))
    source = Column(String(16), nullable=False)  # self_service | agent | import | demo
    provider_idempotency_key = Column(String(100), unique=True)
    provider_reference = Column(String(100))
    failure = Column(Text)
    requested_at = Column(UTCDateTime, nullable=False)
    refunded_at = Column(UTCDateTime)

    order = relationship("Order", back_populates="refunds")

    __table_args__ = (
        UniqueConstraint("order_id", "amount_minor"),
        CheckConstraint("status IN ('pending', 'completed', 'failed')", name="status"),
        CheckConstraint("amount_minor > 0", name="amount_positive"),
    )


class RefundRequest(Base):
    """Every refund request with its decision; the idempotency key makes retries replay."""

    __tablename__ = "refund_requests"

    id = Column(Integer, primary_key=True)
    idempotency_key = Column(String(200), nullable=False, unique=True)
    order_id = Column(ForeignKey("orders.id"), nullable=False)
    conversation_id = Column(String(128))
    reason = Column(String(32), nullable=False)
    requested_amount_minor = Column(BigInteger)  # NULL: the full amount
    vat_refund = Column(Boolean, nullable=False, default=False)
    automatic = Column(Boolean, nullable=False)
    outcome = Column(String(32), nullable=False)
    team = Column(String(32))
    decision = Column(JSON, nullable=False)  # the RefundDecision as taken (replayed on retries)
    refund_id = Column(ForeignKey("refunds.id"))
    ticket_id = Column(ForeignKey("handoff_tickets.id"))
    created_at = Column(UTCDateTime, nullable=False, default=utcnow)

    refund = relationship("Refund")
    ticket = relationship("HandoffTicket")

    __table_args__ = (Index("ix_refund_requests_order_id", "order_id"),)


class HandoffTicket(Base):
    __tablename__ = "handoff_tickets"

    id = Column(Integer, primary_key=True)
    team = Column(String(32), nullable=False)
    reason_code = Column(String(64), nullable=False)
    order_id = Column(ForeignKey("orders.id"))  # only an order this conversation verified
    conversation_id = Column(String(128), nullable=False)
    summary = Column(Text, nullable=False)
    transcript = Column(JSON)
    status = Column(String(16), nullable=False, default="open")
    created_at = Column(UTCDateTime, nullable=False, default=utcnow)
    delivery_status = Column(String(16), nullable=False, default="not_configured")
    delivery_attempts = Column(Integer, nullable=False, default=0)
    delivered_at = Column(UTCDateTime)
    delivery_error = Column(Text)
    external_id = Column(String(100))
    # the human teams' queue (supportbot/review/queue.py, migration 0005_review_index)
    claimed_by = Column(String(320))
    claimed_at = Column(UTCDateTime)
    closed_at = Column(UTCDateTime)
    resolution = Column(Text)

    order = relationship("Order")

    __table_args__ = (
        CheckConstraint("team IN ('customer_service', 'payment_processing')", name="team"),
        CheckConstraint("status IN ('open', 'closed')", name="status"),
        CheckConstraint(
            "delivery_status IN ('not_configured', 'pending', 'delivered', 'failed')",
            name="delivery_status",
        ),
        Index("ix_handoff_tickets_team_status", "team", "status"),
        Index("ix_handoff_tickets_conversation_id", "conversation_id"),
    )


class ConversationVerification(Base):
    """This conversation proved email + reference of this order (re-checked by every disclosure)."""

    __tablename__ = "conversation_verifications"

    id = Column(Integer, primary_key=True)
    conversation_id = Column(String(128), nullable=False)
    order_id = Column(ForeignKey("orders.id"), nullable=False)
    method = Column(String(32), nullable=False)  # email_and_reference | same_customer
    verified_at = Column(UTCDateTime, nullable=False)

    __table_args__ = (UniqueConstraint("conversation_id", "order_id"),)


class VerificationAttempt(Base):
    """One order lookup (email + reference); failed ones feed the throttle."""

    __tablename__ = "verification_attempts"

    id = Column(Integer, primary_key=True)
    conversation_id = Column(String(128), nullable=False)
    email_digest = Column(String(64), nullable=False)  # HMAC of the normalised email
    succeeded = Column(Boolean, nullable=False)
    created_at = Column(UTCDateTime, nullable=False)

    __table_args__ = (
        Index("ix_verification_attempts_conversation_id_created_at", "conversation_id", "created_at"),
        Index("ix_verification_attempts_email_digest_created_at", "email_digest", "created_at"),
    )


class VerificationChallenge(Base):
    """A one-time code sent to the purchase email (only its HMAC is stored)."""

    __tablename__ = "verification_challenges"

    id = Column(Integer, primary_key=True)
    conversation_id = Column(String(128), nullable=False)
    order_id = Column(ForeignKey("orders.id"), nullable=False)
    email_digest = Column(String(64), nullable=False)
    purpose = Column(String(32), nullable=False)
    code_hash = Column(String(64), nullable=False)
    status = Column(String(16), nullable=False)
    attempts = Column(Integer, nullable=False, default=0)
    max_attempts = Column(Integer, nullable=False)
    created_at = Column(UTCDateTime, nullable=False)
    expires_at = Column(UTCDateTime, nullable=False)
    verified_at = Column(UTCDateTime)

    __table_args__ = (
        CheckConstraint(
            "status IN ('pending', 'verified', 'expired', 'exhausted', 'superseded')", name="status"
        ),
        Index("ix_verification_challenges_conversation_id_order_id", "conversation_id", "order_id"),
    )


class Confirmation(Base):
    """A change that moves money (refund, cancelling or reinstating a subscription, a new payment
    method) as the bot put it to the customer, and the customer's answer.

    Written when the bot asks (`pending`, with the `terms` it stated and the verified one-time
    code it rests on), answered from the customer's own reply (`confirmed` / `declined`), and
    `used` exactly once by the facade method that makes the change, which re-computes the terms
    and refuses when they differ. A new question, a new order lookup or a new code supersedes it.
    """

    __tablename__ = "confirmations"

    id = Column(Integer, primary_key=True)
    conversation_id = Column(String(128), nullable=False)
    order_id = Column(ForeignKey("orders.id"), nullable=False)
    purpose = Column(String(32), nullable=False)
    terms = Column(JSON, nullable=False)  # what the customer was told will happen
    challenge_id = Column(ForeignKey("verification_challenges.id"), nullable=False)
    status = Column(String(16), nullable=False)
    created_at = Column(UTCDateTime, nullable=False)
    expires_at = Column(UTCDateTime, nullable=False)
    answered_at = Column(UTCDateTime)
    used_at = Column(UTCDateTime)

    __table_args__ = (
        CheckConstraint(
            "status IN ('pending', 'confirmed', 'declined', 'used', 'superseded')", name="status"
        ),
        CheckConstraint(
            "purpose IN ('refund', 'cancel_subscription', 'reinstate_subscription',"
            " 'change_payment_method')",
            name="purpose",
        ),
        Index("ix_confirmations_conversation_id_order_id", "conversation_id", "order_id"),
    )


class ThrottleHit(Base):
    """One counted event of a throttle (a failed order lookup, a charge lookup), by scope and the
    HMAC of what it counts (conversation, client address, reference, email address)."""

    __tablename__ = "throttle_hits"

    id = Column(Integer, primary_key=True)
    scope = Column(String(32), nullable=False)
    key_digest = Column(String(64), nullable=False)
    created_at = Column(UTCDateTime, nullable=False)

    __table_args__ = (
        CheckConstraint(
            "scope IN ('lookup_conversation', 'lookup_client', 'lookup_reference', 'lookup_email',"
            " 'charges_conversation', 'charges_client')",
            name="scope",
        ),
        Index("ix_throttle_hits_scope_key_digest_created_at", "scope", "key_digest", "created_at"),
    )


class ThrottleLock(Base):
    """A reference or email address locked for order lookups until `locked_until`; the ticket
    that tells a human team (when an order or customer stands behind it)."""

    __tablename__ = "throttle_locks"

    id = Column(Integer, primary_key=True)
    scope = Column(String(32), nullable=False)
    key_digest = Column(String(64), nullable=False)
    conversation_id = Column(String(128))  # the conversation whose failure set it off
    created_at = Column(UTCDateTime, nullable=False)
    locked_until = Column(UTCDateTime, nullable=False)
    ticket_id = Column(ForeignKey("handoff_tickets.id"))

    __table_args__ = (
        CheckConstraint(
            "scope IN ('lookup_conversation', 'lookup_client', 'lookup_reference', 'lookup_email',"
            " 'charges_conversation', 'charges_client')",
            name="scope",
        ),
        Index("ix_throttle_locks_scope_key_digest_locked_until", "scope", "key_digest",
              "locked_until"),
    )


class AuditLog(Base):
    """Append-only record of every decision and money movement.

    `order_id` is deliberately not a foreign key: the audit trail outlives the rows it mentions.
    """

    __tablename__ = "audit_log"

    id = Column(Integer, primary_key=True)
    occurred_at = Column(UTCDateTime, nullable=False, default=utcnow)
    actor = Column(String(32), nullable=False)
    action = Column(String(64), nullable=False)
    conversation_id = Column(String(128))
    order_id = Column(Integer)
    details = Column(JSON, nullable=False)

    __table_args__ = (
        Index("ix_audit_log_order_id", "order_id"),
        Index("ix_audit_log_conversation_id", "conversation_id"),
    )
