"""Small helpers shared by the topic modules: formatting, task names, transcripts."""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, SlotSet

from supportbot.core import vocabulary

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

TEAM_NAMES = {
    "customer_service": "Customer Service",
    "payment_processing": "Payment Processing",
}

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

# Slots that belong to one task and are cleared when it ends.
TASK_SLOTS = (
    "pending_task",
    "refund_reason",
    "one_time_code",
    "refund_confirmed",
    "refund_route",
    "refund_target_ref",
    "code_sent_ref",
)

REFUND_REASONS = {
    "duplicate_order": "Duplicate order",
    "wrong_product_ordered": "Wrong product ordered",
    "product_not_working": "Product doesn't work",
    "no_longer_needed": "No longer needed",
    "unintended_renewal": "Didn't mean to renew",
    "other": "Another reason",
}


def format_money(amount_minor: Optional[int], currency: Optional[str]) -> str:
    if amount_minor is None or not currency:
        return "the full amount"
    return vocabulary.format_money(amount_minor, currency)


def format_date(value: Any) -> str:
    if value is None:
        return "an unknown date"
    try:
        return value.strftime("%-d %B %Y")
    except AttributeError:
        return str(value)


def describe_payment(payment_method: Optional[str], card_brand: Optional[str],
                     card_last4: Optional[str]) -> str:
    """'the Visa ending 4242', 'your PayPal account', ..."""
    if card_last4:
        brand = vocabulary.CARD_BRAND_LABELS.get(card_brand or "", "card")
        return f"the {brand} ending {card_last4}"
    label = vocabulary.PAYMENT_METHOD_LABELS.get(payment_method or "")
    return f"your {label}" if label else "the original payment method"


def clear_task_slots() -> List[EventType]:
    return [SlotSet(name, None) for name in TASK_SLOTS]


def is_verified(tracker: Tracker) -> bool:
    ref = tracker.get_slot("order_ref")
    return bool(ref) and tracker.get_slot("verified_ref") == ref


def refund_target(tracker: Tracker) -> Optional[Text]:
    return tracker.get_slot("refund_target_ref") or tracker.get_slot("order_ref")


def transcript(tracker: Tracker, limit: int = 60) -> List[Dict[str, Any]]:
    """The conversation so far as [{"from": "customer"|"bot", "text": ...}] (newest last)."""
    lines: List[Dict[str, Any]] = []
    for event in tracker.events:
        if event.get("event") == "user" and event.get("text"):
            lines.append({"from": "customer", "text": event["text"], "at": event.get("timestamp")})
        elif event.get("event") == "bot" and event.get("text"):
            lines.append({"from": "bot", "text": event["text"], "at": event.get("timestamp")})
    return lines[-limit:]


def latest_text(tracker: Tracker) -> Text:
    return (tracker.latest_message or {}).get("text") or ""
