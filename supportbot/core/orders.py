"""Order queries and the conversion of ORM rows into policy facts and result views."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session, selectinload
from sqlalchemy.sql import Select

from supportbot.core.refund_policy import ClientPolicy, OrderFacts
from supportbot.core.timeutil import business_days_between
from supportbot.core.views import (
    ChargeHint,
    OrderSummary,
    PendingPaymentInfo,
    SubscriptionView,
)
from supportbot.core.vocabulary import (
    MOVEMENT_CHARGE,
    ORDER_PENDING,
    PAYMENT_METHOD_LABELS,
    REFUND_COMPLETED,
    REFUND_FAILED,
    REFUND_PENDING,
    SUBSCRIPTION_CANCELLED,
    SUBSCRIPTION_EXPIRED,
    TEAM_PAYMENT_PROCESSING,
    format_money,
    normalize_email,  # noqa: F401 (re-exported for supportbot.core.cli)
    normalize_reference,  # noqa: F401 (re-exported for supportbot.core.cli)
)
from supportbot.db.models import Client, Order, Payment, Subscription

# Payments by bank transfer etc. usually arrive within this many business days.
PENDING_PAYMENT_EXPECTED_BUSINESS_DAYS = 5
DUPLICATE_WINDOW = timedelta(hours=48)


def mask_email(email: str) -> str:
    """`alice@example.com` -> `a***e@example.com` (enough to recognise, not to harvest)."""
    local, _, domain = email.partition("@")
    if len(local) <= 2:
        masked = local[:1] + "***"
    else:
        masked = f"{local[0]}***{local[-1]}"
    return f"{masked}@{domain}"


def _order_query() -> Select:
    return select(Order).options(
        selectinload(Order.client),
        selectinload(Order.customer),
        selectinload(Order.items),
        selectinload(Order.payments),
        selectinload(Order.refunds),
        selectinload(Order.subscription),
    )


def load_order(session: Session, reference: str) -> Order | None:
    order: Order | None = session.execute(
        _order_query().where(Order.reference == reference)).scalar_one_or_none()
    return order


def load_order_by_id(session: Session, order_id: int) -> Order:
    """The order with this id; it must exist (callers hold an id read from the database)."""
    order: Order = session.execute(_order_query().where(Order.id == order_id)).scalar_one()
    return order


def lock_order(session: Session, order_id: int) -> None:
    """Take the order's row lock until the end of the transaction.

    PostgreSQL: SELECT ... FOR UPDATE. SQLite has no row locks: a no-op UPDATE as the first
    statement of the transaction takes the database write lock (waiting on busy_timeout), so
    that concurrent refunders run one after another and each sees the previous one's rows.
    """
    if session.get_bind().dialect.name == "sqlite":
        session.execute(
            Order.__table__.update().where(Order.id == order_id).values(status=Order.status)
        )
    else:
        session.execute(select(Order.id).where(Order.id == order_id).with_for_update())


def charge_of(order: Order) -> Payment | None:
    """The (latest completed) charge: where the money came from."""
    charges = [p for p in order.payments if p.kind == MOVEMENT_CHARGE and p.status == "completed"]
    return charges[-1] if charges else None


def refunded_minor(order: Order) -> int:
    return sum(r.amount_minor for r in order.refunds if r.status == REFUND_COMPLETED)


def client_policy(client: Client) -> ClientPolicy:
    return ClientPolicy(
        client_name=client.name,
        category=client.refund_policy,
        window_days=client.refund_window_days,
        no_refund_for_charged_period=bool(client.no_refund_for_charged_period),
    )


def order_facts(order: Order) -> OrderFacts:
    charge = charge_of(order)
    subscription = order.subscription
    return OrderFacts(
        reference=order.reference,
        status=order.status,
        payment_method=order.payment_method,
        placed_at=order.placed_at,
        total_minor=order.total_minor,
        vat_minor=order.vat_minor,
        currency=order.currency,
        refunded_minor=refunded_minor(order),
        pending_refund_minor=sum(
            r.amount_minor for r in order.refunds if r.status == REFUND_PENDING
        ),
        has_failed_refund=any(r.status == REFUND_FAILED for r in order.refunds),
        card_brand=charge.card_brand if charge else None,
        card_last4=charge.card_last4 if charge else None,
        subscription_status=subscription.status if subscription else None,
        subscription_period_end=subscription.current_period_end if subscription else None,
    )


def subscription_status(subscription: Subscription, now: datetime) -> str:
    """The status as of `now`: a subscription that will not renew expires at its period end."""
    if subscription.current_period_end <= now and not subscription.auto_renew:
        return SUBSCRIPTION_EXPIRED
    status: str = subscription.status
    return status


def subscription_view(subscription: Subscription, now: datetime) -> SubscriptionView:
    status = subscription_status(subscription, now)
    running = status != SUBSCRIPTION_EXPIRED and subscription.current_period_end > now
    return SubscriptionView(
        reference=subscription.order.reference,
        plan=subscription.plan,
        status=status,
        billing_period=subscription.billing_period,
        started_at=subscription.started_at,
        current_period_end=subscription.current_period_end,
        auto_renew=subscription.auto_renew,
        trial_end=subscription.trial_end,
        cancelled_at=subscription.cancelled_at,
        renewal_price_minor=subscription.renewal_price_minor,
        currency=subscription.currency,
        in_trial=running and subscription.trial_end is not None and subscription.trial_end > now,
        can_cancel=running and subscription.auto_renew,
        can_reinstate=running and status == SUBSCRIPTION_CANCELLED,
    )


def pending_payment_info(order: Order, now: datetime) -> PendingPaymentInfo | None:
    if order.status != ORDER_PENDING:
        return None
    days = business_days_between(order.placed_at.date(), now.date())
    expected = PENDING_PAYMENT_EXPECTED_BUSINESS_DAYS
    money = format_money(order.total_minor, order.currency)
    method = PAYMENT_METHOD_LABELS.get(order.payment_method, order.payment_method)
    if order.payment_method == "wire_transfer":
        instructions = (
            f"Please transfer {money} to the bank account shown on your order confirmation, "
            f"with {order.reference} as the payment reference. Bank transfers usually arrive "
            f"within {expected} business days."
        )
    else:
        instructions = (
            f"The {method} payment of {money} for order {order.reference} has not reached us yet; "
            f"payments usually arrive within {expected} business days."
        )
    return PendingPaymentInfo(
        reference=order.reference,
        amount_minor=order.total_minor,
        currency=order.currency,
        payment_method=order.payment_method,
        placed_at=order.placed_at,
        business_days_pending=days,
        overdue=days > expected,
        expected_business_days=expected,
        instructions=instructions,
        team=TEAM_PAYMENT_PROCESSING,
    )


def order_summary(order: Order, now: datetime) -> OrderSummary:
    charge = charge_of(order)
    return OrderSummary(
        reference=order.reference,
        client_name=order.client.name,
        products=tuple(
            item.product_name if item.quantity == 1 else f"{item.quantity} x {item.product_name}"
            for item in order.items
        ),
        total_minor=order.total_minor,
        currency=order.currency,
        payment_method=order.payment_method,
        card_brand=charge.card_brand if charge else None,
        card_last4=charge.card_last4 if charge else None,
        status=order.status,
        placed_at=order.placed_at,
        masked_email=mask_email(order.customer.email),
        subscription=subscription_view(order.subscription, now) if order.subscription else None,
        technical_support=order.client.technical_support,
        net_minor=order.net_minor,
        vat_minor=order.vat_minor,
        paid_at=order.paid_at,
        refunded_minor=refunded_minor(order),
        statement_descriptor=order.client.statement_descriptor,
        pending_payment_info=pending_payment_info(order, now),
    )


def _basket(order: Order) -> tuple[tuple[str, str, int], ...]:
    return tuple(sorted((item.product_name, item.sku or "", item.quantity) for item in order.items))


def find_duplicates(session: Session, order: Order) -> list[Order]:
    """Other orders of the same customer and client with the same items and total placed
    within 48 hours of `order` (oldest first)."""
    candidates = session.execute(
        _order_query()
        .where(
            Order.customer_id == order.customer_id,
            Order.client_id == order.client_id,
            Order.id != order.id,
            Order.total_minor == order.total_minor,
            Order.currency == order.currency,
            Order.placed_at >= order.placed_at - DUPLICATE_WINDOW,
            Order.placed_at <= order.placed_at + DUPLICATE_WINDOW,
        )
        .order_by(Order.placed_at)
    ).scalars().all()
    basket = _basket(order)
    return [candidate for candidate in candidates if _basket(candidate) == basket]


def find_charges(
    session: Session,
    *,
    amount_minor: int | None = None,
    currency: str | None = None,
    on_date: date | None = None,
    card_last4: str | None = None,
    limit: int = 5,
) -> list[ChargeHint]:
    """Which clients charged a card for this amount / on this day / to this card.

    At least an amount or a card's last 4 digits is required. A date matches the day before
    and after as well (the statement may show another time zone's day).
    """
    if amount_minor is None and not card_last4:
        return []
    conditions = [Payment.kind == MOVEMENT_CHARGE, Payment.status == "completed"]
    if amount_minor is not None:
        conditions.append(Payment.amount_minor == amount_minor)
    if currency:
        conditions.append(func.upper(Payment.currency) == currency.upper())
    if card_last4:
        conditions.append(Payment.card_last4 == card_last4)
    if on_date is not None:
        start = datetime.combine(on_date - timedelta(days=1), datetime.min.time(), timezone.utc)
        conditions.append(and_(Payment.occurred_at >= start,
                               Payment.occurred_at < start + timedelta(days=3)))
    rows = session.execute(
        select(Client.name, Client.statement_descriptor, Payment.occurred_at,
               Payment.amount_minor, Payment.currency)
        .join(Order, Order.id == Payment.order_id)
        .join(Client, Client.id == Order.client_id)
        .where(*conditions)
        .order_by(Payment.occurred_at.desc())
        .limit(limit * 4)
    ).all()
    hints: list[ChargeHint] = []
    seen = set()
    for name, descriptor, occurred_at, amount, cur in rows:
        hint = ChargeHint(name, descriptor, occurred_at.date(), amount, cur)
        if hint not in seen:
            seen.add(hint)
            hints.append(hint)
        if len(hints) == limit:
            break
    return hints
