"""The closed vocabularies of the commerce core, in one place.

The database CHECK constraints, the import JSON Schema and the refund rules all use these
names; tests assert that they agree.
"""
from __future__ import annotations

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

# Currencies whose minor unit is not 1/100 (ISO 4217 exponent).
ZERO_DECIMAL_CURRENCIES = frozenset({"JPY", "KRW", "VND", "CLP", "ISK", "HUF"})


def currency_exponent(currency: str) -> int:
    return 0 if currency.upper() in ZERO_DECIMAL_CURRENCIES else 2


def format_money(amount_minor: int, currency: str) -> str:
    """`4900, "EUR"` -> `"49.00 EUR"` (exact: integer arithmetic, no floats)."""
    exponent = currency_exponent(currency)
    sign = "-" if amount_minor < 0 else ""
    value = abs(int(amount_minor))
    if exponent == 0:
        return f"{sign}{value} {currency.upper()}"
    scale = 10**exponent
    return f"{sign}{value // scale}.{value % scale:0{exponent}d} {currency.upper()}"


def parse_money(text: str, currency: str) -> int:
    """`"12.5", "EUR"` -> `1250`. Exact (decimal string), rejects more decimals than the currency has."""
    from decimal import Decimal, InvalidOperation

    exponent = currency_exponent(currency)
    try:
        value = Decimal(str(text).strip().replace(",", "."))
    except InvalidOperation as exc:
        raise ValueError(f"not an amount: {text!r}") from exc
    if not value.is_finite() or value < 0:
        raise ValueError(f"not a positive amount: {text!r}")
    scaled = value.scaleb(exponent)
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{text!r} has more than {exponent} decimals for {currency.upper()}")
    return int(scaled)
