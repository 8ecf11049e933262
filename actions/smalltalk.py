"""Details given without a task: keep them, ask what the customer wants to do."""
from __future__ import annotations

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict


class ActionHandleInform(Action):
    def name(self) -> str:
        return "action_handle_inform"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
            domain: DomainDict) -> list[EventType]:
        entities = {e.get("entity") for e in tracker.latest_message.get("entities", [])}
        if entities & {"email", "order_ref"}:
            dispatcher.utter_message(text="Thanks, I've noted that.")
        elif entities & {"amount", "date", "card_last4"}:
            dispatcher.utter_message(
                text="Thanks. Is this about a charge you don't recognise, a double charge or a refund?")
        dispatcher.utter_message(response="utter_what_can_i_do")
        return []
