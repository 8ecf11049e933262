"""Start, finish and stop a customer's task (the intents in common.ORDER_TASKS).

Every order task goes: action_start_task -> verify_order_form -> action_perform_task,
which hands over to the topic module that owns the task.
"""
from __future__ import annotations

from collections.abc import Callable

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActiveLoop, EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions import orders, refunds, runtime, subscriptions
from actions.common import ORDER_TASKS, clear_task_slots, is_verified
from actions.context import TaskContext
from actions.handoff import hand_off
from supportbot.core.errors import NotVerified

HANDLERS: dict[str, Callable[[TaskContext], list[EventType]]] = {
    "request_refund": refunds.finish_refund,
    "duplicate_charge": refunds.finish_refund,
    "refund_status": refunds.report_refund_status,
    "missing_confirmation": orders.resend_confirmation,
    "get_license": orders.resend_license,
    "download_invoice": orders.send_invoice,
    "change_payment_method": orders.send_payment_method_link,
    "payment_missing": orders.report_missing_payment,
    "technical_support": orders.give_technical_support_contact,
    "cancel_subscription": subscriptions.cancel,
    "reinstate_subscription": subscriptions.reinstate,
    "subscription_status": subscriptions.status,
}


class ActionStartTask(Action):
    """Remember what the customer wants; keep what we already know about them."""

    def name(self) -> str:
        return "action_start_task"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
            domain: DomainDict) -> list[EventType]:
        intent = (tracker.latest_message.get("intent") or {}).get("name")
        task = intent if intent in ORDER_TASKS else tracker.get_slot("pending_task")
        events = clear_task_slots() + [SlotSet("pending_task", task)]
        if task == "duplicate_charge":
            events.append(SlotSet("refund_reason", "duplicate_order"))
        if not is_verified(tracker) and not tracker.get_slot("verification_blocked"):
            if tracker.get_slot("email") and not tracker.get_slot("order_ref"):
                dispatcher.utter_message(
                    text="I can help with that. I have your email address; I just need the order reference.")
            elif not tracker.get_slot("email"):
                dispatcher.utter_message(response="utter_verification_intro")
        return events


class ActionPerformTask(Action):
    """Runs once the verification form is complete."""

    def name(self) -> str:
        return "action_perform_task"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
            domain: DomainDict) -> list[EventType]:
        task = tracker.get_slot("pending_task")
        ctx = TaskContext(dispatcher, tracker, runtime.services())
        if tracker.get_slot("verification_blocked"):
            return hand_off(ctx, None, "verification_failed",
                            f"Customer could not verify an order for task {task}") + clear_task_slots()
        handler = HANDLERS.get(task)
        if handler is None or not is_verified(tracker):
            dispatcher.utter_message(response="utter_what_can_i_do")
            return clear_task_slots()
        try:
            return handler(ctx) + clear_task_slots()
        except NotVerified:
            # the database does not know this conversation verified the order (e.g. a new
            # session): never trust the slot alone, ask again
            dispatcher.utter_message(text="For your security I need to check your order again.")
            return clear_task_slots() + [SlotSet("verified_ref", None), SlotSet("order_ref", None)]


class ActionStopTask(Action):
    """The customer said no in the middle of a task: stop, change nothing (an open
    confirmation question is declined in the core, so nothing can use it later)."""

    def name(self) -> str:
        return "action_stop_task"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
            domain: DomainDict) -> list[EventType]:
        runtime.services().decline_confirmations(tracker.sender_id)
        dispatcher.utter_message(response="utter_stopped")
        return [ActiveLoop(None), SlotSet("requested_slot", None)] + clear_task_slots()
