"""The closed vocabularies and shared formats of the commerce core, in one place.

The database CHECK constraints, the import JSON Schema and the refund rules all use these
names; tests assert that they agree. The formats every layer reads or writes (order
references, email addresses, one-time codes, amounts, dates, payment descriptions) are defined
here once. This module imports nothing but the standard library, so the NLU components, the
channels and the actions can use it without pulling in the database.
"""
from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from enum import Enum


class StatusEnum(str, Enum):
    """A status that is also its string value: `Status.X == "x"`, stored and logged as "x"."""

    _value_: str

    def __str__(self) -> str:
        return self.value


# ---- what customers type -------------------------------------------------------------------
# An order reference is 9 digits (customers may write "#100000001", "ref 100000001"); a run of
# 10 digits is not a reference with one digit too many.
ORDER_REFERENCE_DIGITS = 9
ORDER_REFERENCE = re.compile(rf"(?<!\d)\d{{{ORDER_REFERENCE_DIGITS}}}(?!\d)")
# An email address, found in text or (fullmatch) validated.
EMAIL_ADDRESS = re.compile(r"[\w.%+'-]+@[\w-]+(?:\.[\w-]+)+")
# The one-time code mailed to prove control of the purchase email.
ONE_TIME_CODE_DIGITS = 6


def find_reference(text: object) -> str | None:
    """The first order reference in `text` (`"my order #100000001"` -> `"100000001"`)."""
    match = ORDER_REFERENCE.search(str(text or ""))
    return match.group(0) if match else None


def normalize_reference(text: str | None) -> str | None:
    """`" #100000001 "` -> `"100000001"`; None unless the whole value is one reference."""
    value = (text or "").strip()
    value = value[1:].lstrip() if value.startswith("#") else value
    return value if ORDER_REFERENCE.fullmatch(value) else None


def normalize_email(text: str | None) -> str | None:
    """Trimmed and lower-cased; None when it is not an email address."""
    value = (text or "").strip().lower()
    return value if EMAIL_ADDRESS.fullmatch(value) else None


# Client refund-policy categories (seed 001, "Automatic Refund Eligibility").
POLICY_NO_RESTRICTIONS = "no_restrictions"
POLICY_WITHIN_DAYS = "within_days"
POLICY_APPROVAL_REQUIRED = "approval_required"
POLICY_NO_REFUNDS = "no_refunds"
REFUND_POLICIES = (
    POLICY_NO_RESTRICTIONS,
    POLICY_WITHIN_DAYS,
    POLICY_APPROVAL_REQUIRED,
    POLICY_NO_REFUNDS,
)

# Payment methods the reseller accepts; the first six are eligible for automatic refunds.
AUTO_REFUNDABLE_PAYMENT_METHODS = (
    "credit_card",
    "paypal",
    "apple_pay",
    "alipay",
    "direct_debit",
    "amazon_pay",
)
PAYMENT_METHODS = AUTO_REFUNDABLE_PAYMENT_METHODS + (
    "google_pay",
    "wire_transfer",
    "purchase_order",
)
PAYMENT_METHOD_LABELS = {
    "credit_card": "credit card",
    "paypal": "PayPal",
    "apple_pay": "Apple Pay",
    "alipay": "Alipay",
    "direct_debit": "direct debit",
    "amazon_pay": "Amazon Pay",
    "google_pay": "Google Pay",
    "wire_transfer": "wire transfer",
    "purchase_order": "purchase order / invoice",
}

CARD_BRANDS = ("visa", "mastercard", "amex", "discover", "jcb", "diners", "unionpay", "maestro")
CARD_BRAND_LABELS = {
    "visa": "Visa",
    "mastercard": "Mastercard",
    "amex": "American Express",
    "discover": "Discover",
    "jcb": "JCB",
    "diners": "Diners Club",
    "unionpay": "UnionPay",
    "maestro": "Maestro",
}

ORDER_PENDING = "pending"
ORDER_PAID = "paid"
ORDER_PARTIALLY_REFUNDED = "partially_refunded"
ORDER_REFUNDED = "refunded"
ORDER_CHARGEBACK = "chargeback"
ORDER_CANCELLED = "cancelled"
ORDER_STATUSES = (
    ORDER_PENDING,
    ORDER_PAID,
    ORDER_PARTIALLY_REFUNDED,
    ORDER_REFUNDED,
    ORDER_CHARGEBACK,
    ORDER_CANCELLED,
)

# Money movements (table `payments`): a charge, a refund or a chargeback of an order.
MOVEMENT_CHARGE = "charge"
MOVEMENT_REFUND = "refund"
MOVEMENT_CHARGEBACK = "chargeback"
MOVEMENT_KINDS = (MOVEMENT_CHARGE, MOVEMENT_REFUND, MOVEMENT_CHARGEBACK)
MOVEMENT_STATUSES = ("pending", "completed", "failed")

REFUND_PENDING = "pending"
REFUND_COMPLETED = "completed"
REFUND_FAILED = "failed"
REFUND_STATUSES = (REFUND_PENDING, REFUND_COMPLETED, REFUND_FAILED)

SUBSCRIPTION_TRIAL = "trial"
SUBSCRIPTION_ACTIVE = "active"
SUBSCRIPTION_CANCELLED = "cancelled"  # auto-renew off; usable until current_period_end
SUBSCRIPTION_EXPIRED = "expired"
SUBSCRIPTION_STATUSES = (
    SUBSCRIPTION_TRIAL,
    SUBSCRIPTION_ACTIVE,
    SUBSCRIPTION_CANCELLED,
    SUBSCRIPTION_EXPIRED,
)
BILLING_PERIODS = ("monthly", "quarterly", "yearly")

# The reseller's refund form (docs/architecture.md).
REFUND_REASONS = (
    "duplicate_order",
    "wrong_product_ordered",
    "product_not_working",
    "no_longer_needed",
    "unintended_renewal",
    "other",
)
# Not on the form, but accepted by the core: a refund of the VAT only.
VAT_REFUND_REASON = "vat_refund"

TEAM_CUSTOMER_SERVICE = "customer_service"
TEAM_PAYMENT_PROCESSING = "payment_processing"
TEAMS = (TEAM_CUSTOMER_SERVICE, TEAM_PAYMENT_PROCESSING)
TEAM_LABELS = {
    TEAM_CUSTOMER_SERVICE: "Customer Service",
    TEAM_PAYMENT_PROCESSING: "Payment Processing",
}

DELIVERY_NOT_CONFIGURED = "not_configured"
DELIVERY_PENDING = "pending"
DELIVERY_DELIVERED = "delivered"
DELIVERY_FAILED = "failed"
DELIVERY_STATUSES = (
    DELIVERY_NOT_CONFIGURED,
    DELIVERY_PENDING,
    DELIVERY_DELIVERED,
    DELIVERY_FAILED,
)

CHALLENGE_PENDING = "pending"
CHALLENGE_VERIFIED = "verified"
CHALLENGE_EXPIRED = "expired"
CHALLENGE_EXHAUSTED = "exhausted"
CHALLENGE_SUPERSEDED = "superseded"
CHALLENGE_STATUSES = (
    CHALLENGE_PENDING,
    CHALLENGE_VERIFIED,
    CHALLENGE_EXPIRED,
    CHALLENGE_EXHAUSTED,
    CHALLENGE_SUPERSEDED,
)

# What a one-time code is for (the code mail says so); `verification_challenges.purpose`.
CODE_PURPOSE_REFUND = "refund"
CODE_PURPOSE_SUBSCRIPTION = "subscription"
CODE_PURPOSE_PAYMENT = "payment"
CODE_PURPOSES = (CODE_PURPOSE_REFUND, CODE_PURPOSE_SUBSCRIPTION, CODE_PURPOSE_PAYMENT)

# Changes that move money now or later: each needs a one-time code and the customer's explicit
# "yes" to the terms the bot stated, recorded server-side (table `confirmations`).
CONFIRM_REFUND = "refund"
CONFIRM_CANCEL_SUBSCRIPTION = "cancel_subscription"
CONFIRM_REINSTATE_SUBSCRIPTION = "reinstate_subscription"
CONFIRM_CHANGE_PAYMENT_METHOD = "change_payment_method"
CONFIRMATION_PURPOSES = (
    CONFIRM_REFUND,
    CONFIRM_CANCEL_SUBSCRIPTION,
    CONFIRM_REINSTATE_SUBSCRIPTION,
    CONFIRM_CHANGE_PAYMENT_METHOD,
)
# the code each change needs
CODE_PURPOSE_OF = {
    CONFIRM_REFUND: CODE_PURPOSE_REFUND,
    CONFIRM_CANCEL_SUBSCRIPTION: CODE_PURPOSE_SUBSCRIPTION,
    CONFIRM_REINSTATE_SUBSCRIPTION: CODE_PURPOSE_SUBSCRIPTION,
    CONFIRM_CHANGE_PAYMENT_METHOD: CODE_PURPOSE_PAYMENT,
}

CONFIRMATION_PENDING = "pending"  # asked, no answer yet
CONFIRMATION_CONFIRMED = "confirmed"  # the customer said yes; not used yet
CONFIRMATION_DECLINED = "declined"  # the customer said no
CONFIRMATION_USED = "used"  # the change was made (once)
CONFIRMATION_SUPERSEDED = "superseded"  # a newer question, another order or email, a new lookup
CONFIRMATION_STATUSES = (
    CONFIRMATION_PENDING,
    CONFIRMATION_CONFIRMED,
    CONFIRMATION_DECLINED,
    CONFIRMATION_USED,
    CONFIRMATION_SUPERSEDED,
)

# What a throttle counts (table `throttle_hits` / `throttle_locks`, supportbot/core/throttles.py):
# failed order lookups per conversation, client address, order reference and email address, and
# charge lookups per conversation and client address.
THROTTLE_LOOKUP_CONVERSATION = "lookup_conversation"
THROTTLE_LOOKUP_CLIENT = "lookup_client"
THROTTLE_LOOKUP_REFERENCE = "lookup_reference"
THROTTLE_LOOKUP_EMAIL = "lookup_email"
THROTTLE_CHARGES_CONVERSATION = "charges_conversation"
THROTTLE_CHARGES_CLIENT = "charges_client"
THROTTLE_SCOPES = (
    THROTTLE_LOOKUP_CONVERSATION,
    THROTTLE_LOOKUP_CLIENT,
    THROTTLE_LOOKUP_REFERENCE,
    THROTTLE_LOOKUP_EMAIL,
    THROTTLE_CHARGES_CONVERSATION,
    THROTTLE_CHARGES_CLIENT,
)

# Currencies whose minor unit is not 1/100 (ISO 4217 exponent).
ZERO_DECIMAL_CURRENCIES = frozenset({"JPY", "KRW", "VND", "CLP", "ISK", "HUF"})


def currency_exponent(currency: str) -> int:
    return 0 if currency.upper() in ZERO_DECIMAL_CURRENCIES else 2


def format_money(amount_minor: int, currency: str | None) -> str:
    """`4900, "EUR"` -> `"49.00 EUR"` (exact: integer arithmetic, no floats). Without a
    currency: `"49.00"`, read with two decimals as `parse_money` reads it."""
    exponent = currency_exponent(currency) if currency else 2
    code = f" {currency.upper()}" if currency else ""
    sign = "-" if amount_minor < 0 else ""
    value = abs(int(amount_minor))
    if exponent == 0:
        return f"{sign}{value}{code}"
    scale = 10**exponent
    return f"{sign}{value // scale}.{value % scale:0{exponent}d}{code}"


def _is_grouped(integer_part: str, separator: str) -> bool:
    """`"1.234.567"` with `"."`: 1-3 leading digits (not a lone 0), then groups of three."""
    groups = integer_part.split(separator)
    head = groups[0]
    return (1 <= len(head) <= 3 and head.isdigit() and head != "0"
            and all(len(g) == 3 and g.isdigit() for g in groups[1:]))


def parse_amount(text: object) -> Decimal:
    """The one reading of an amount as people write it, exact (no floats).

    `"49"`, `"49.9"`, `"12,50"`, `"1,049.00"`, `"1.234,56"`, `"1 234,56"`, `"1'234.50"`.
    With both `.` and `,` the last one is the decimal mark. With one kind of separator it is
    the decimal mark, unless it is followed by exactly three digits or occurs more than once:
    then it separates thousands (`"1.234"` is 1234, `"0.125"` is 0.125). Raises ValueError
    for anything else (signs, letters, `"NaN"`).
    """
    s = str(text if text is not None else "").strip()
    s = s.replace("\u00a0", "").replace("\u202f", "").replace("'", "").replace(" ", "")
    if not re.fullmatch(r"\d[\d.,]*", s) or s[-1] in ".,":
        raise ValueError(f"not an amount: {text!r}")
    last_dot, last_comma = s.rfind("."), s.rfind(",")
    if last_dot >= 0 and last_comma >= 0:
        decimal_mark = "." if last_dot > last_comma else ","
        thousands = "," if decimal_mark == "." else "."
        integer_part, fraction = s.rsplit(decimal_mark, 1)
        if not fraction.isdigit() or not _is_grouped(integer_part, thousands):
            raise ValueError(f"not an amount: {text!r}")
        digits = f"{integer_part.replace(thousands, '')}.{fraction}"
    elif last_dot >= 0 or last_comma >= 0:
        separator = "." if last_dot >= 0 else ","
        parts = s.split(separator)
        if len(parts) == 2 and (len(parts[1]) != 3 or not _is_grouped(s, separator)):
            digits = f"{parts[0]}.{parts[1]}"
        elif _is_grouped(s, separator):
            digits = s.replace(separator, "")
        else:
            raise ValueError(f"not an amount: {text!r}")
    else:
        digits = s
    try:
        return Decimal(digits)
    except InvalidOperation as exc:  # pragma: no cover - the pattern above admits only digits
        raise ValueError(f"not an amount: {text!r}") from exc


def parse_money(text: object, currency: str | None) -> int:
    """`"12.5", "EUR"` -> `1250`, `"1,200", "JPY"` -> `1200` (see `parse_amount`).

    Exact; rejects more decimals than the currency has. Without a currency the amount is read
    with two decimals, as most currencies have."""
    value = parse_amount(text)
    exponent = currency_exponent(currency) if currency else 2
    scaled = value.scaleb(exponent)
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{text!r} has more than {exponent} decimals for {(currency or '').upper()}")
    return int(scaled)


# ---- how the customer is told --------------------------------------------------------------
def format_date(value: date | datetime) -> str:
    """`date(2024, 6, 3)` -> `"3 June 2024"` (a datetime: its UTC date as stored)."""
    return f"{value.day} {value:%B %Y}"


def format_time(value: datetime) -> str:
    """`datetime(2024, 6, 3, 11, 0, tzinfo=utc)` -> `"11:00 UTC"`."""
    return f"{value:%H:%M} UTC"


def format_duration(value: timedelta) -> str:
    """`timedelta(minutes=10)` -> `"10 minutes"`, `timedelta(days=2)` -> `"2 days"`: the largest
    whole unit (days, hours, minutes) that states it exactly."""
    seconds = int(value.total_seconds())
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'' if count == 1 else 's'}"
    count = max(1, round(seconds / 60))
    return f"{count} minute{'' if count == 1 else 's'}"


# Where a refund goes back to, by payment method, when the card is not known.
PAYMENT_DESTINATIONS = {
    "credit_card": "your card",
    "paypal": "your PayPal account",
    "apple_pay": "the card in your Apple Pay wallet",
    "alipay": "your Alipay account",
    "direct_debit": "your bank account",
    "amazon_pay": "your Amazon Pay account",
    "google_pay": "the card in your Google Pay wallet",
    "wire_transfer": "your bank account",
}


def describe_payment(payment_method: str | None, card_brand: str | None = None,
                     card_last4: str | None = None) -> str:
    """`"your Visa card ending 4242"`, `"your PayPal account"`, ... (where money goes back to)."""
    if card_last4:
        brand = CARD_BRAND_LABELS.get(card_brand or "", "")
        return f"your {brand} card ending {card_last4}" if brand else f"your card ending {card_last4}"
    return PAYMENT_DESTINATIONS.get(payment_method or "", "the original payment method")
