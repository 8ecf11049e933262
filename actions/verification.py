"""The verification form: email + order reference, then for refunds the reason, the
one-time code and the confirmation. The core decides; this module only asks and relays.
"""
from __future__ import annotations

import re
from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions import runtime
from actions.common import REFUND_TASKS, RefundRoute, format_money, refund_target
from supportbot.core.refund_reasons import REFUND_REASON_TITLES, reason_from_text
from supportbot.core.views import CodeCheckStatus, CodeDispatchStatus, VerificationStatus
from supportbot.core.vocabulary import (
    ORDER_REFERENCE_DIGITS,
    describe_payment,
    find_reference,
    format_duration,
    normalize_email,
)


class ValidateVerifyOrderForm(FormValidationAction):
    def name(self) -> str:
        return "validate_verify_order_form"

    async def required_slots(self, domain_slots: list[str], dispatcher: CollectingDispatcher,
                             tracker: Tracker, domain: DomainDict) -> list[str]:
        if tracker.get_slot("verification_blocked"):
            return []
        slots = ["email", "order_ref"]
        ref = tracker.get_slot("order_ref")
        if not ref or tracker.get_slot("verified_ref") != ref:
            return slots
        if tracker.get_slot("pending_task") in REFUND_TASKS:
            slots.append("refund_reason")
            if tracker.get_slot("refund_reason") and tracker.get_slot("refund_route") == RefundRoute.AUTOMATIC:
                slots += ["one_time_code", "refund_confirmed"]
        return slots

    async def next_requested_slot(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                                  domain: DomainDict) -> EventType:
        """Always name the next slot ourselves (rasa-sdk leaves it to Rasa when our list
        happens to equal the domain's, which would make the form's state depend on that)."""
        required = await self.required_slots(self.domain_slots(domain), dispatcher, tracker, domain)
        missing = next((slot for slot in required if tracker.slots.get(slot) is None), None)
        return SlotSet("requested_slot", missing)

    # --- per-slot checks ------------------------------------------------------------------
    def validate_email(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                       domain: DomainDict) -> dict[str, Any]:
        email = normalize_email(str(value or ""))
        if email is None:
            dispatcher.utter_message(text="That doesn't look like an email address. Could you type it again?")
            return {"email": None}
        return {"email": email}

    def validate_order_ref(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                           domain: DomainDict) -> dict[str, Any]:
        reference = find_reference(value)
        if reference is None:
            dispatcher.utter_message(
                text=f"An order reference has {ORDER_REFERENCE_DIGITS} digits, like 100000001. "
                     "You'll find it in the order confirmation email.")
            return {"order_ref": None}
        return {"order_ref": reference}

    def validate_refund_reason(self, value: Any, dispatcher: CollectingDispatcher,
                               tracker: Tracker, domain: DomainDict) -> dict[str, Any]:
        return {"refund_reason": reason_from_text(str(value or ""))}

    def validate_one_time_code(self, value: Any, dispatcher: CollectingDispatcher,
                               tracker: Tracker, domain: DomainDict) -> dict[str, Any]:
        code = re.sub(r"\D", "", str(value or ""))
        target = refund_target(tracker)
        result = runtime.services().check_one_time_code(tracker.sender_id, target, code)
        if result.status == CodeCheckStatus.OK:
            return {"one_time_code": "verified", "code_verified_ref": target}
        if result.status == CodeCheckStatus.THROTTLED:
            dispatcher.utter_message(text="That code was wrong too many times. For your security I'll stop here "
                                          "and pass your request to a person.")
            return {"one_time_code": None, "verification_blocked": True}
        if result.status in (CodeCheckStatus.EXPIRED, CodeCheckStatus.NO_CHALLENGE):
            dispatcher.utter_message(text="That code has expired. I'll send you a new one.")
            return {"one_time_code": None, "code_sent_ref": None}
        left = result.attempts_left
        dispatcher.utter_message(
            text=f"That code doesn't match. You have {left} more {'try' if left == 1 else 'tries'}.")
        return {"one_time_code": None}

    def validate_refund_confirmed(self, value: Any, dispatcher: CollectingDispatcher,
                                  tracker: Tracker, domain: DomainDict) -> dict[str, Any]:
        return {"refund_confirmed": bool(value)}

    # --- checks that need several slots at once -----------------------------------------
    async def get_validation_events(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                                    domain: DomainDict) -> list[EventType]:
        events: list[EventType] = await super().get_validation_events(dispatcher, tracker, domain)
        state = dict(tracker.slots)
        for event in events:
            if event.get("event") == "slot":
                state[event["name"]] = event["value"]
        events += self._verify_pair(state, dispatcher, tracker)
        for event in events:
            if event.get("event") == "slot":
                state[event["name"]] = event["value"]
        events += self._route_refund(state, dispatcher, tracker)
        return events

    def _verify_pair(self, state: dict[str, Any], dispatcher: CollectingDispatcher,
                     tracker: Tracker) -> list[EventType]:
        email, ref = state.get("email"), state.get("order_ref")
        if not email or not ref or state.get("verified_ref") == ref:
            return []
        result = runtime.services().verify_order(tracker.sender_id, email, ref)
        if result.status == VerificationStatus.VERIFIED:
            order = result.order
            assert order is not None  # a verified result carries the order
            dispatcher.utter_message(
                text=f"Thanks, I found order {ref}: {', '.join(order.products) or 'your purchase'} "
                     f"from {order.client_name}, {format_money(order.total_minor, order.currency)}.")
            return [SlotSet("verified_ref", ref), SlotSet("refund_route", None),
                    SlotSet("refund_target_ref", None)]
        if result.status == VerificationStatus.THROTTLED:
            dispatcher.utter_message(text="There have been too many unsuccessful attempts to find an order. "
                                          "For your security I'll pass you to a person from our Customer Service team.")
            return [SlotSet("verification_blocked", True), SlotSet("verified_ref", None)]
        dispatcher.utter_message(text="I couldn't find an order with that email address and order reference together. "
                                      "Please check both against your order confirmation email and try again.")
        return [SlotSet("email", None), SlotSet("order_ref", None), SlotSet("verified_ref", None)]

    def _route_refund(self, state: dict[str, Any], dispatcher: CollectingDispatcher,
                      tracker: Tracker) -> list[EventType]:
        task = state.get("pending_task")
        ref = state.get("order_ref")
        if (task not in REFUND_TASKS or not ref or state.get("verified_ref") != ref
                or not state.get("refund_reason") or state.get("refund_route")):
            return []
        svc = runtime.services()
        target = ref
        if task == "duplicate_charge":
            duplicates = svc.find_duplicate_orders(tracker.sender_id, ref)
            if not duplicates:
                return [SlotSet("refund_route", RefundRoute.HANDOFF.value)]
            target = duplicates[-1].reference
            dispatcher.utter_message(
                text=f"I can see order {target} looks like a duplicate of an earlier order "
                     "with the same items and amount.")
        decision = svc.refund_decision(tracker.sender_id, target, state["refund_reason"])
        route = RefundRoute.of(decision.outcome)
        return [SlotSet("refund_route", route.value), SlotSet("refund_target_ref", target)]


class ActionAskOrderRef(Action):
    def name(self) -> str:
        return "action_ask_order_ref"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
            domain: DomainDict) -> list[EventType]:
        dispatcher.utter_message(
            text=f"And the order reference? It's the {ORDER_REFERENCE_DIGITS}-digit number in your "
                 "order confirmation email (for example 100000001).")
        return []


class ActionAskRefundReason(Action):
    def name(self) -> str:
        return "action_ask_refund_reason"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
            domain: DomainDict) -> list[EventType]:
        buttons = [{"title": title, "payload": f'/inform{{"refund_reason": "{code}"}}'}
                   for code, title in REFUND_REASON_TITLES.items()]
        dispatcher.utter_message(text="What's the reason for the refund?", buttons=buttons)
        return []


class ActionAskOneTimeCode(Action):
    """Sends the one-time code to the purchase email (once) and asks for it."""

    def name(self) -> str:
        return "action_ask_one_time_code"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
            domain: DomainDict) -> list[EventType]:
        target = refund_target(tracker)
        if tracker.get_slot("code_sent_ref") == target:
            dispatcher.utter_message(text="Please type the code from the email we sent you.")
            return []
        sent = runtime.services().send_one_time_code(tracker.sender_id, target, purpose="refund")
        if sent.status != CodeDispatchStatus.SENT:
            dispatcher.utter_message(
                text="I can't send another code right now. For your security I'll pass your request to a person.")
            return [SlotSet("verification_blocked", True)]
        assert sent.valid_for is not None  # set for every code that was sent
        dispatcher.utter_message(
            text=f"To protect your money I need to confirm it's really you: I've emailed a "
                 f"{sent.code_length}-digit code to {sent.masked_email}. Please type it here "
                 f"(it's valid for {format_duration(sent.valid_for)}).")
        return [SlotSet("code_sent_ref", target)]


class ActionAskRefundConfirmed(Action):
    """'I will refund 49.00 EUR to the Visa ending 4242 - shall I go ahead?'"""

    def name(self) -> str:
        return "action_ask_refund_confirmed"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
            domain: DomainDict) -> list[EventType]:
        svc = runtime.services()
        target = refund_target(tracker)
        order = svc.order_summary(tracker.sender_id, target)
        decision = svc.refund_decision(tracker.sender_id, target, tracker.get_slot("refund_reason") or "other")
        amount = format_money(decision.amount_minor or order.total_minor, decision.currency or order.currency)
        dispatcher.utter_message(
            text=f"I will refund {amount} for order {target} to "
                 f"{describe_payment(order.payment_method, order.card_brand, order.card_last4)}. Shall I go ahead?",
            buttons=[{"title": "Yes, refund it", "payload": "/affirm"},
                     {"title": "No, don't refund", "payload": "/deny"}])
        return []
