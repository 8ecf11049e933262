"""Handing a conversation to a human team: a ticket in the core's queue, then the bot
pauses for this conversation (ConversationPaused). What the customer writes afterwards
stays in the conversation's tracker for the team to read.
"""
from __future__ import annotations

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActiveLoop, ConversationPaused, EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions import runtime
from actions.common import clear_task_slots, is_verified, transcript
from actions.context import TaskContext
from supportbot.core.routing import team_for_task
from supportbot.core.views import TicketView
from supportbot.core.vocabulary import TEAM_LABELS


def hand_off(ctx: TaskContext, team: str | None, reason_code: str, summary: str,
             reference: str | None = None) -> list[EventType]:
    """Create the ticket, tell the customer who answers and how, pause the bot. `team=None`
    lets the core route by `reason_code` (supportbot/core/routing.py)."""
    tracker = ctx.tracker
    if reference is None and is_verified(tracker):
        reference = tracker.get_slot("order_ref")
    ticket = ctx.services.hand_off(
        tracker.sender_id, team, reason_code, summary,
        reference=reference, transcript=transcript(tracker))
    return announce_handoff(ctx, ticket)


def announce_handoff(ctx: TaskContext, ticket: TicketView) -> list[EventType]:
    """Tell the customer which team has their case and how it answers; pause the bot."""
    name = TEAM_LABELS.get(ticket.team, ticket.team)
    via = "by email to the address on your order" if ticket.reference else "here in this conversation"
    ctx.dispatcher.utter_message(
        text=f"I've passed this to our {name} team (case #{ticket.id}), with everything you've told me "
             f"so you won't have to repeat it. They'll answer {via}, usually within one business day. "
             "Anything you write here from now on is added to your case.")
    return [ActiveLoop(None), SlotSet("requested_slot", None), SlotSet("handoff_team", None),
            ConversationPaused()]


class ActionHandOff(Action):
    """The customer asked for a person (or pressed a button that hands over)."""

    def name(self) -> str:
        return "action_hand_off"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
            domain: DomainDict) -> list[EventType]:
        task = tracker.get_slot("pending_task")
        team = tracker.get_slot("handoff_team")
        if team not in TEAM_LABELS:
            team = team_for_task(task)
        topic = f" about {task.replace('_', ' ')}" if task else ""
        ctx = TaskContext(dispatcher, tracker, runtime.services())
        return hand_off(ctx, team, "customer_request",
                        f"Customer asked for a person{topic}") + clear_task_slots()
