"""Unknown charges: who we are, and a privacy-safe lookup by amount, date and card digits.

The lookup never shows an order: it names the vendor behind a matching charge and how to
see the order (verification), or hands the case to Customer Service.
"""
from __future__ import annotations

import datetime as dt
import re
from typing import Any, Dict, List, Optional, Text

from dateutil import parser as date_parser
from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions import runtime
from actions.common import format_date, format_money


def parse_amount(value: Any) -> Optional[int]:
    """'49', '49.00', '49,90', '1,049.00' -> minor units."""
    text = re.sub(r"[^\d.,]", "", str(value or ""))
    if not text:
        return None
    if re.search(r",\d{2}$", text) and "." not in text[-3:]:
        text = text.replace(".", "").replace(",", ".")
    else:
        text = text.replace(",", "")
    try:
        return round(float(text) * 100)
    except ValueError:
        return None


def parse_date(value: Any, today: Optional[dt.date] = None) -> Optional[dt.date]:
    today = today or dt.datetime.now(dt.timezone.utc).date()
    text = str(value or "").strip().lower()
    if not text:
        return None
    if text in ("today", "this morning", "tonight"):
        return today
    if text in ("yesterday", "last night"):
        return today - dt.timedelta(days=1)
    match = re.search(r"(\d+)\s+days?\s+ago", text)
    if match:
        return today - dt.timedelta(days=int(match.group(1)))
    try:
        parsed = date_parser.parse(text, fuzzy=True, dayfirst=False,
                                   default=dt.datetime(today.year, today.month, today.day))
    except (ValueError, OverflowError):
        return None
    result = parsed.date()
    if result > today:  # "12 December" said in January means last year
        result = result.replace(year=result.year - 1)
    return result


class ActionExplainUnknownCharge(Action):
    def name(self) -> Text:
        return "action_explain_unknown_charge"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
            domain: DomainDict) -> List[EventType]:
        dispatcher.utter_message(
            text="We're an online reseller: software companies sell their products through us, so the "
                 "charge on your statement carries our name rather than the software's. You (or someone "
                 "using your card, like a colleague or family member) may have bought or renewed a "
                 "program or subscription. I can check it without showing anyone's details: tell me "
                 "the amount, the date and the last 4 digits of the card.")
        return []


class ValidateChargeLookupForm(FormValidationAction):
    def name(self) -> Text:
        return "validate_charge_lookup_form"

    def validate_amount(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                        domain: DomainDict) -> Dict[Text, Any]:
        if parse_amount(value) is None:
            dispatcher.utter_message(text="Please give the amount as a number, like 49.99.")
            return {"amount": None}
        return {"amount": str(value)}

    def validate_date(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                      domain: DomainDict) -> Dict[Text, Any]:
        parsed = parse_date(value)
        if parsed is None:
            dispatcher.utter_message(text="I couldn't read that date. Could you write it like 18 November 2026?")
            return {"date": None}
        return {"date": parsed.isoformat()}

    def validate_card_last4(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                            domain: DomainDict) -> Dict[Text, Any]:
        digits = re.sub(r"\D", "", str(value or ""))
        if len(digits) != 4:
            dispatcher.utter_message(text="I only need the last 4 digits of the card, nothing more.")
            return {"card_last4": None}
        return {"card_last4": digits}


class ActionLookupCharge(Action):
    def name(self) -> Text:
        return "action_lookup_charge"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
            domain: DomainDict) -> List[EventType]:
        from actions.handoff import hand_off
        from actions.tasks import TaskContext

        amount_minor = parse_amount(tracker.get_slot("amount"))
        on_date = parse_date(tracker.get_slot("date"))
        last4 = tracker.get_slot("card_last4")
        currency = tracker.get_slot("currency")
        svc = runtime.services()
        hints = svc.find_charges(tracker.sender_id, amount_minor=amount_minor, currency=currency,
                                 on_date=on_date, card_last4=last4)
        clear = [SlotSet("amount", None), SlotSet("date", None), SlotSet("card_last4", None),
                 SlotSet("currency", None)]
        if hints:
            hint = hints[0]
            dispatcher.utter_message(
                text=f"That charge matches a purchase from {hint.client_name}, sold through us; on "
                     f"statements it shows as \"{hint.statement_descriptor}\" ({format_date(hint.charged_on)}). "
                     "For privacy I can't show the order here: its details went to the email address "
                     "used for the purchase. If it was a purchase you don't want, I can help with a "
                     "refund; if you still don't recognise it, our Customer Service team will look into it.",
                buttons=[{"title": "I'd like a refund", "payload": "/request_refund"},
                         {"title": "It's mine, thanks", "payload": "/thanks"},
                         {"title": "I still don't recognise it", "payload": '/contact_human{"handoff_team": "customer_service"}'}])
            return clear
        dispatcher.utter_message(
            text=f"I couldn't match a charge of {format_money(amount_minor, currency)} on "
                 f"{format_date(on_date)} to a card ending {last4}. Our Customer Service team can search further.")
        ctx = TaskContext(dispatcher, tracker, svc)
        return clear + hand_off(ctx, "customer_service", "unknown_charge",
                                f"Unrecognised charge: {format_money(amount_minor, currency)} on {on_date}, card ending {last4}")
