"""Small helpers shared by the topic modules: formatting, task names, transcripts."""
from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, SlotSet

from supportbot.core import vocabulary
from supportbot.core.refund_policy import DecisionOutcome
from supportbot.core.vocabulary import StatusEnum

# Intents whose path starts with finding and verifying the customer's order.
ORDER_TASKS = (
    "request_refund",
    "duplicate_charge",
    "refund_status",
    "missing_confirmation",
    "get_license",
    "cancel_subscription",
    "reinstate_subscription",
    "subscription_status",
    "change_payment_method",
    "download_invoice",
    "payment_missing",
    "technical_support",
)
REFUND_TASKS = ("request_refund", "duplicate_charge")
# Tasks that move money now or later: each needs the one-time code and the customer's "yes" to
# the change as the core states it (recorded server-side, supportbot/core/confirmations.py);
# task -> the core's confirmation purpose. The form asks for both (actions/verification.py):
# for refunds only when the refund is automatic, for the others only when something would change.
CONFIRMED_TASKS = {
    "request_refund": vocabulary.CONFIRM_REFUND,
    "duplicate_charge": vocabulary.CONFIRM_REFUND,
    "cancel_subscription": vocabulary.CONFIRM_CANCEL_SUBSCRIPTION,
    "reinstate_subscription": vocabulary.CONFIRM_REINSTATE_SUBSCRIPTION,
    "change_payment_method": vocabulary.CONFIRM_CHANGE_PAYMENT_METHOD,
}
CHANGE_TASKS = tuple(task for task in CONFIRMED_TASKS if task not in REFUND_TASKS)

# Friendly names for intents, used by the "did you mean ...?" buttons.
INTENT_TITLES = {
    "unknown_charge": "I don't recognise a charge",
    "card_declined": "My payment was declined",
    "duplicate_charge": "I was charged twice",
    "missing_confirmation": "I didn't get my order confirmation",
    "get_license": "I need my license key or download",
    "request_refund": "I want a refund",
    "refund_status": "Where is my refund?",
    "cancel_subscription": "Cancel my subscription",
    "reinstate_subscription": "Reactivate my subscription",
    "subscription_status": "When does my subscription renew?",
    "change_payment_method": "Change my payment method",
    "update_billing_address": "Change my billing address",
    "download_invoice": "I need an invoice",
    "payment_missing": "I paid but my order is pending",
    "tax_question": "A question about VAT or tax",
    "quote_request": "I need a quote or to pay by purchase order",
    "technical_support": "The product doesn't work",
    "contact_human": "Talk to a person",
    "faq": "A how-to question",
}

# Slots that belong to one task and are cleared when it ends. `refund_confirmed` holds the
# answer to the confirmation question of every task in CONFIRMED_TASKS (the name is historical).
TASK_SLOTS = (
    "pending_task",
    "refund_reason",
    "one_time_code",
    "refund_confirmed",
    "refund_route",
    "refund_target_ref",
    "code_sent_ref",
)
# What a new order lookup (another order or email) invalidates: the code and the confirmation
# belong to the order that was verified before (the core supersedes them too).
CODE_AND_CONFIRMATION_SLOTS = (
    "one_time_code",
    "code_sent_ref",
    "code_verified_ref",
    "refund_confirmed",
    "refund_route",
    "refund_target_ref",
)


class RefundRoute(StatusEnum):
    """The values of the `refund_route` slot (domain.yml)."""

    AUTOMATIC = "automatic"
    HANDOFF = "handoff"
    ALREADY_REFUNDED = "already_refunded"
    NOTHING_TO_REFUND = "nothing_to_refund"

    @classmethod
    def of(cls, outcome: DecisionOutcome) -> RefundRoute:
        """The route for the core's `RefundDecision.outcome`."""
        return {
            DecisionOutcome.AUTOMATIC_REFUND: cls.AUTOMATIC,
            DecisionOutcome.ALREADY_REFUNDED: cls.ALREADY_REFUNDED,
            DecisionOutcome.NOTHING_TO_REFUND: cls.NOTHING_TO_REFUND,
        }.get(outcome, cls.HANDOFF)


def format_money(amount_minor: int | None, currency: str | None) -> str:
    if amount_minor is None:
        return "the full amount"
    return vocabulary.format_money(amount_minor, currency)


def format_date(value: Any) -> str:
    if value is None:
        return "an unknown date"
    try:
        return vocabulary.format_date(value)
    except (AttributeError, TypeError, ValueError):
        return str(value)


def format_business_days(days: tuple[int, int]) -> str:
    """`(5, 10)` -> `"5-10 business days"` (a typical delay as the core states it)."""
    low, high = days
    return f"{low} business days" if low == high else f"{low}-{high} business days"


def clear_task_slots() -> list[EventType]:
    return [SlotSet(name, None) for name in TASK_SLOTS]


def is_verified(tracker: Tracker) -> bool:
    ref = tracker.get_slot("order_ref")
    return bool(ref) and tracker.get_slot("verified_ref") == ref


def refund_target(tracker: Tracker) -> str | None:
    """The order the task changes: a duplicate found for a duplicate charge, else the verified one."""
    target: str | None = tracker.get_slot("refund_target_ref") or tracker.get_slot("order_ref")
    return target


def confirmation_purpose(tracker: Tracker) -> str | None:
    """The core's confirmation purpose of the pending task (None: it needs no confirmation)."""
    return CONFIRMED_TASKS.get(tracker.get_slot("pending_task") or "")


def code_purpose(tracker: Tracker) -> str:
    """What the one-time code of the pending task is for (the code mail says so)."""
    purpose = confirmation_purpose(tracker)
    return vocabulary.CODE_PURPOSE_OF[purpose] if purpose else vocabulary.CODE_PURPOSE_REFUND


def transcript(tracker: Tracker, limit: int = 60) -> list[dict[str, Any]]:
    """The conversation so far as [{"from": "customer"|"bot", "text": ...}] (newest last)."""
    lines: list[dict[str, Any]] = []
    for event in tracker.events:
        if event.get("event") == "user" and event.get("text"):
            lines.append({"from": "customer", "text": event["text"], "at": event.get("timestamp")})
        elif event.get("event") == "bot" and event.get("text"):
            lines.append({"from": "bot", "text": event["text"], "at": event.get("timestamp")})
    return lines[-limit:]


def client_address(tracker: Tracker) -> str | None:
    """Where the latest message came from, as the channel set it (`metadata.client_address`:
    an IP address or `email:<address>`); None when the channel gave none (the core then
    counts the conversation as its own client). Used only for throttles, never as proof."""
    metadata = (tracker.latest_message or {}).get("metadata")
    value = metadata.get("client_address") if isinstance(metadata, dict) else None
    return value.strip() or None if isinstance(value, str) else None


def latest_text(tracker: Tracker) -> str:
    return (tracker.latest_message or {}).get("text") or ""
