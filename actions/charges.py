"""Unknown charges: who we are, and a privacy-safe lookup by amount, date and card digits.

The lookup never shows an order: it names the vendor behind a matching charge and how to
see the order (verification), or hands the case to Customer Service.
"""
from __future__ import annotations

import datetime as dt
import re
from typing import Any

from dateutil import parser as date_parser
from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions import runtime
from actions.common import client_address, format_date, format_money
from actions.context import TaskContext
from actions.handoff import hand_off
from supportbot.core.timeutil import utcnow
from supportbot.core.views import ChargeLookupStatus
from supportbot.core.vocabulary import TEAM_CUSTOMER_SERVICE, format_duration, parse_money


def amount_minor(amount: Any, currency: str | None) -> int | None:
    """The amount and currency slots (the NLU's normalised entities) in minor units."""
    if amount is None:
        return None
    try:
        return parse_money(amount, currency)
    except ValueError:
        return None


def parse_date(value: Any, today: dt.date | None = None) -> dt.date | None:
    today = today or utcnow().date()
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
    def name(self) -> str:
        return "action_explain_unknown_charge"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
            domain: DomainDict) -> list[EventType]:
        dispatcher.utter_message(
            text="We're an online reseller: software companies sell their products through us, so the "
                 "charge on your statement carries our name rather than the software's. You (or someone "
                 "using your card, like a colleague or family member) may have bought or renewed a "
                 "program or subscription. I can check it without showing anyone's details: tell me "
                 "the amount, the date and the last 4 digits of the card.")
        return []


class ValidateChargeLookupForm(FormValidationAction):
    def name(self) -> str:
        return "validate_charge_lookup_form"

    def validate_amount(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                        domain: DomainDict) -> dict[str, Any]:
        if amount_minor(value, tracker.get_slot("currency")) is None:
            dispatcher.utter_message(text="Please give the amount as a number, like 49.99.")
            return {"amount": None}
        return {"amount": str(value)}

    def validate_date(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                      domain: DomainDict) -> dict[str, Any]:
        parsed = parse_date(value)
        if parsed is None:
            dispatcher.utter_message(text="I couldn't read that date. Could you write it like 18 November 2026?")
            return {"date": None}
        return {"date": parsed.isoformat()}

    def validate_card_last4(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                            domain: DomainDict) -> dict[str, Any]:
        digits = re.sub(r"\D", "", str(value or ""))
        if len(digits) != 4:
            dispatcher.utter_message(text="I only need the last 4 digits of the card, nothing more.")
            return {"card_last4": None}
        return {"card_last4": digits}


class ActionLookupCharge(Action):
    def name(self) -> str:
        return "action_lookup_charge"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
            domain: DomainDict) -> list[EventType]:
        currency = tracker.get_slot("currency")
        amount = amount_minor(tracker.get_slot("amount"), currency)
        on_date = parse_date(tracker.get_slot("date"))
        last4 = tracker.get_slot("card_last4")
        svc = runtime.services()
        found = svc.find_charges(tracker.sender_id, amount_minor=amount, currency=currency,
                                 on_date=on_date, card_last4=last4,
                                 client_address=client_address(tracker))
        clear = [SlotSet("amount", None), SlotSet("date", None), SlotSet("card_last4", None),
                 SlotSet("currency", None)]
        if found.status == ChargeLookupStatus.THROTTLED:
            assert found.retry_after is not None  # a throttled lookup says how long
            dispatcher.utter_message(
                text="I've checked several charges in a short time, so for everyone's privacy I "
                     "can't look up another one for the next "
                     f"{format_duration(found.retry_after)}. If you'd like, our Customer Service "
                     "team can look into it for you.",
                buttons=[{"title": "Pass it to a person",
                          "payload": f'/contact_human{{"handoff_team": "{TEAM_CUSTOMER_SERVICE}"}}'}])
            return clear
        if found.hints:
            hint = found.hints[0]
            dispatcher.utter_message(
                text=f"That charge matches a purchase from {hint.client_name}, sold through us; on "
                     f"statements it shows as \"{hint.statement_descriptor}\" ({format_date(hint.charged_on)}). "
                     "For privacy I can't show the order here: its details went to the email address "
                     "used for the purchase. If it was a purchase you don't want, I can help with a "
                     "refund; if you still don't recognise it, our Customer Service team will look into it.",
                buttons=[{"title": "I'd like a refund", "payload": "/request_refund"},
                         {"title": "It's mine, thanks", "payload": "/thanks"},
                         {"title": "I still don't recognise it",
                          "payload": f'/contact_human{{"handoff_team": "{TEAM_CUSTOMER_SERVICE}"}}'}])
            return clear
        dispatcher.utter_message(
            text=f"I couldn't match a charge of {format_money(amount, currency)} on "
                 f"{format_date(on_date)} to a card ending {last4}. Our Customer Service team can search further.")
        ctx = TaskContext(dispatcher, tracker, svc)
        return clear + hand_off(ctx, None, "unknown_charge",
                                f"Unrecognised charge: {format_money(amount, currency)} on {on_date}, "
                                f"card ending {last4}")
