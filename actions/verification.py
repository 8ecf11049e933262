"""The verification form: email + order reference, then for refunds the reason, and for every
change that moves money (an automatic refund, cancelling or reinstating a subscription, a new
payment method) the one-time code and the confirmation. The core decides and records; this
module only asks and relays: the confirmation question is registered with the core when it is
asked (`ask_confirmation`) and the customer's own yes/no is passed on (`answer_confirmation`).
Giving another order or email starts over: the core and these slots drop the code and the
confirmation of the order before.
"""
from __future__ import annotations

import re
from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions import runtime
from actions.common import (
    CHANGE_TASKS,
    CODE_AND_CONFIRMATION_SLOTS,
    REFUND_TASKS,
    RefundRoute,
    clear_task_slots,
    client_address,
    code_purpose,
    confirmation_purpose,
    format_date,
    format_money,
    refund_target,
)
from actions.context import TaskContext
from actions.handoff import hand_off
from supportbot.core.errors import NotVerified
from supportbot.core.refund_reasons import REFUND_REASON_TITLES, reason_from_text
from supportbot.core.views import (
    CodeCheckStatus,
    CodeDispatchStatus,
    ConfirmationRequest,
    ConfirmationStatus,
    VerificationStatus,
)
from supportbot.core.vocabulary import (
    CONFIRM_CANCEL_SUBSCRIPTION,
    CONFIRM_CHANGE_PAYMENT_METHOD,
    CONFIRM_REINSTATE_SUBSCRIPTION,
    ORDER_REFERENCE_DIGITS,
    TEAM_CUSTOMER_SERVICE,
    describe_payment,
    find_reference,
    format_duration,
    normalize_email,
)

PERIOD_UNITS = {"monthly": "month", "quarterly": "quarter", "yearly": "year"}
CONFIRM_SLOTS = ["one_time_code", "refund_confirmed"]


def _change_would_happen(tracker: Tracker) -> bool:
    """For a subscription task: would it change anything (else no code, no question: the
    task just says how things are)? A new payment method always is a change."""
    task = tracker.get_slot("pending_task")
    if task == "change_payment_method":
        return True
    try:
        sub = runtime.services().subscription(tracker.sender_id, tracker.get_slot("order_ref"))
    except NotVerified:
        return False  # action_perform_task asks again
    if sub is None:
        return False
    return sub.can_cancel if task == "cancel_subscription" else sub.can_reinstate


def check_again(dispatcher: CollectingDispatcher) -> list[EventType]:
    """The core no longer counts this conversation's verification (it expired, or another
    order or email was looked up): ask for the order again; the code and the question go too."""
    dispatcher.utter_message(text="For your security I need to check your order again: please "
                                  "tell me the order reference once more.")
    return [SlotSet(name, None) for name in CODE_AND_CONFIRMATION_SLOTS] + [
        SlotSet("verified_ref", None), SlotSet("order_ref", None)]


def _previous_value(tracker: Tracker, slot: str) -> Any:
    """The slot's value before the customer's latest message (from the tracker's events)."""
    events = list(tracker.events)
    last_user = max((i for i, e in enumerate(events) if e.get("event") == "user"), default=len(events))
    value = None
    for event in events[:last_user]:
        if event.get("event") == "slot" and event.get("name") == slot:
            value = event.get("value")
    return value


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
        task = tracker.get_slot("pending_task")
        if task in REFUND_TASKS:
            slots.append("refund_reason")
            if tracker.get_slot("refund_reason") and tracker.get_slot("refund_route") == RefundRoute.AUTOMATIC:
                slots += CONFIRM_SLOTS
        elif task in CHANGE_TASKS and _change_would_happen(tracker):
            slots += CONFIRM_SLOTS
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
        result = runtime.services().check_one_time_code(tracker.sender_id, target, code,
                                                        purpose=code_purpose(tracker))
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
        """The customer's answer to the confirmation question, recorded by the core against the
        question it registered when it was asked: only that record lets the change happen."""
        purpose = confirmation_purpose(tracker)
        if purpose is None or value is None:
            return {"refund_confirmed": None}
        intent = (tracker.latest_message.get("intent") or {}).get("name")
        accepted = value is True and intent == "affirm"
        status = runtime.services().answer_confirmation(tracker.sender_id, refund_target(tracker),
                                                        purpose, accepted)
        if status == ConfirmationStatus.CONFIRMED:
            return {"refund_confirmed": True}
        if status == ConfirmationStatus.DECLINED:
            return {"refund_confirmed": False}
        if status == ConfirmationStatus.CODE_REQUIRED:
            dispatcher.utter_message(text="Your code is no longer valid, so I'll send you a new one first.")
            return {"refund_confirmed": None, "one_time_code": None, "code_sent_ref": None}
        if not accepted:  # "no" to a question that has expired: nothing happens either way
            return {"refund_confirmed": False}
        dispatcher.utter_message(text="That question has expired. Let me ask again.")
        return {"refund_confirmed": None}

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
        if not email or not ref:
            return []
        new_email = "email" in tracker.slots_to_validate() and email != _previous_value(tracker, "email")
        if state.get("verified_ref") == ref and not new_email:
            return []
        # a new lookup: whatever code or confirmation there was belonged to the order before
        reset = [SlotSet(name, None) for name in CODE_AND_CONFIRMATION_SLOTS]
        result = runtime.services().verify_order(tracker.sender_id, email, ref,
                                                 client_address=client_address(tracker))
        if result.status == VerificationStatus.VERIFIED:
            order = result.order
            assert order is not None  # a verified result carries the order
            dispatcher.utter_message(
                text=f"Thanks, I found order {ref}: {', '.join(order.products) or 'your purchase'} "
                     f"from {order.client_name}, {format_money(order.total_minor, order.currency)}.")
            return reset + [SlotSet("verified_ref", ref)]
        if result.status == VerificationStatus.THROTTLED:
            assert result.retry_after is not None  # a throttled lookup says how long
            dispatcher.utter_message(
                text="There have been too many unsuccessful attempts to find an order, so for your "
                     "security I can't look orders up for the next "
                     f"{format_duration(result.retry_after)}. I'll pass you to a person from our "
                     "Customer Service team.")
            return reset + [SlotSet("verification_blocked", True), SlotSet("verified_ref", None)]
        dispatcher.utter_message(text="I couldn't find an order with that email address and order reference together. "
                                      "Please check both against your order confirmation email and try again.")
        return reset + [SlotSet("email", None), SlotSet("order_ref", None), SlotSet("verified_ref", None)]

    def _route_refund(self, state: dict[str, Any], dispatcher: CollectingDispatcher,
                      tracker: Tracker) -> list[EventType]:
        task = state.get("pending_task")
        ref = state.get("order_ref")
        if (task not in REFUND_TASKS or not ref or state.get("verified_ref") != ref
                or not state.get("refund_reason") or state.get("refund_route")):
            return []
        svc = runtime.services()
        target = ref
        # the slot is validated when it is filled, but a turn whose lookup failed can leave the
        # customer's raw words in it: only a reason code reaches the core
        reason = reason_from_text(str(state["refund_reason"]))
        try:
            if task == "duplicate_charge":
                duplicates = svc.find_duplicate_orders(tracker.sender_id, ref)
                if not duplicates:
                    return [SlotSet("refund_route", RefundRoute.HANDOFF.value)]
                target = duplicates[-1].reference
                dispatcher.utter_message(
                    text=f"I can see order {target} looks like a duplicate of an earlier order "
                         "with the same items and amount.")
            decision = svc.refund_decision(tracker.sender_id, target, reason)
        except NotVerified:  # the verification expired (or the core never had it)
            return check_again(dispatcher)
        route = RefundRoute.of(decision.outcome)
        return [SlotSet("refund_reason", reason), SlotSet("refund_route", route.value),
                SlotSet("refund_target_ref", target)]


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
        purpose = code_purpose(tracker)
        svc = runtime.services()
        sent = svc.send_one_time_code(tracker.sender_id, target, purpose=purpose)
        if sent.status == CodeDispatchStatus.NOT_VERIFIED:  # e.g. the verification expired
            return check_again(dispatcher)
        if sent.status != CodeDispatchStatus.SENT:
            # the promise "a person takes over" is kept now, with a ticket, not on a later turn
            if sent.status == CodeDispatchStatus.THROTTLED and sent.retry_after is not None:
                why = (f"I can't send another code for the next {format_duration(sent.retry_after)}, "
                       "so for your security I'll pass your request to a person.")
            else:  # the mail relay failed
                why = "I can't send you a code right now, so I'll pass your request to a person."
            dispatcher.utter_message(text=why)
            task = tracker.get_slot("pending_task")
            ctx = TaskContext(dispatcher, tracker, svc)
            return hand_off(ctx, TEAM_CUSTOMER_SERVICE, "verification_failed",
                            f"No one-time code could be sent ({sent.status}) for task {task}") \
                + clear_task_slots()
        assert sent.valid_for is not None  # set for every code that was sent
        why = "To protect your money" if tracker.get_slot("pending_task") in REFUND_TASKS \
            else "Before I change anything"
        dispatcher.utter_message(
            text=f"{why} I need to confirm it's really you: I've emailed a "
                 f"{sent.code_length}-digit code to {sent.masked_email}. Please type it here "
                 f"(it's valid for {format_duration(sent.valid_for)}).")
        return [SlotSet("code_sent_ref", target)]


def confirmation_question(asked: ConfirmationRequest) -> str:
    """The question, stating exactly the terms the core recorded."""
    price = format_money(asked.amount_minor, asked.currency)
    per = PERIOD_UNITS.get(asked.billing_period or "", "period")
    if asked.purpose == CONFIRM_REINSTATE_SUBSCRIPTION:
        return (f"I will switch auto-renewal back on for {asked.plan}, {price}/{per}, next charge on "
                f"{format_date(asked.period_end)}. Shall I go ahead?")
    if asked.purpose == CONFIRM_CANCEL_SUBSCRIPTION:
        keep = ("you can keep using the free trial" if asked.in_trial
                else "it stays active")
        return (f"I will turn off auto-renewal for {asked.plan} (order {asked.reference}): {keep} "
                f"until {format_date(asked.period_end)} and the renewal of {price}/{per} won't be "
                "charged. Shall I go ahead?")
    if asked.purpose == CONFIRM_CHANGE_PAYMENT_METHOD:
        return (f"I will email a secure link to change the payment method for order {asked.reference} "
                f"to {asked.masked_email}. Shall I go ahead?")
    return (f"I will refund {price} for order {asked.reference} to "
            f"{describe_payment(asked.payment_method, asked.card_brand, asked.card_last4)}. "
            "Shall I go ahead?")


YES_NO = {
    "refund": ("Yes, refund it", "No, don't refund"),
    CONFIRM_CANCEL_SUBSCRIPTION: ("Yes, cancel it", "No, keep it"),
    CONFIRM_REINSTATE_SUBSCRIPTION: ("Yes, reactivate it", "No, leave it cancelled"),
    CONFIRM_CHANGE_PAYMENT_METHOD: ("Yes, send the link", "No, don't send it"),
}


class ActionAskRefundConfirmed(Action):
    """'I will refund 49.00 EUR to the Visa ending 4242 - shall I go ahead?' (and the same
    question for the other changes in CONFIRMED_TASKS). The core records the question with its
    terms; the customer's answer is recorded against it (`validate_refund_confirmed`)."""

    def name(self) -> str:
        return "action_ask_refund_confirmed"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
            domain: DomainDict) -> list[EventType]:
        purpose = confirmation_purpose(tracker)
        if purpose is None:
            return [SlotSet("refund_confirmed", False)]
        asked = runtime.services().ask_confirmation(
            tracker.sender_id, refund_target(tracker), purpose,
            reason=tracker.get_slot("refund_reason") or "other")
        if asked.status == ConfirmationStatus.PENDING:
            yes, no = YES_NO[purpose]
            dispatcher.utter_message(text=confirmation_question(asked),
                                     buttons=[{"title": yes, "payload": "/affirm"},
                                              {"title": no, "payload": "/deny"}])
            return []
        if asked.status == ConfirmationStatus.CODE_REQUIRED:
            dispatcher.utter_message(text="For your security I need a new code first.")
            return [SlotSet("one_time_code", None), SlotSet("code_sent_ref", None)]
        if asked.status == ConfirmationStatus.NOT_VERIFIED:
            return check_again(dispatcher)
        # nothing would change any more (the order or subscription changed meanwhile)
        dispatcher.utter_message(text=f"Order {asked.reference} has changed since I looked at it, "
                                      "so I won't change anything now.")
        return [SlotSet("refund_confirmed", False)]
