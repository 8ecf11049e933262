"""What a task handler gets: the dispatcher, the tracker and the core's facade.

Every topic module (orders, refunds, subscriptions, handoff, charges) takes a `TaskContext`;
the modules import each other only downwards (context <- handoff <- orders/refunds <- tasks).
"""
from __future__ import annotations

from dataclasses import dataclass

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from supportbot.core.errors import NotVerified
from supportbot.core.services import SupportServices


@dataclass
class TaskContext:
    dispatcher: CollectingDispatcher
    tracker: Tracker
    services: SupportServices

    @property
    def conversation_id(self) -> str:
        sender_id: str = self.tracker.sender_id
        return sender_id

    @property
    def reference(self) -> str:
        """The order the task is about. Tasks run only once it is verified; without one the
        core would refuse the task, so this raises the same `NotVerified`."""
        reference: str | None = self.tracker.get_slot("order_ref")
        if not reference:
            raise NotVerified(self.conversation_id, str(reference))
        return reference
