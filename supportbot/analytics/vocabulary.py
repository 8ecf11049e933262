"""Closed vocabularies and fixed windows of the outcome analytics (standard library only)."""
from __future__ import annotations

from datetime import timedelta

# What can happen after a conversation (supportbot.analytics.facts.record_fact).
FACT_KINDS = ("refund_reversed", "refund_failed", "chargeback_opened", "ticket_reopened")
FACT_SOURCES = ("import", "webhook", "console")
# CSAT as a tracker event: a SlotSet of CSAT_SLOT with one of CSAT_VALUES (the prompt that sets
# it is part of the widget / email bridge); the last one in a conversation counts.
CSAT_SLOT = "csat"
CSAT_VALUES = ("up", "down")
# Who the buyer is, for re-contact linking: an order (orders.id) the conversation verified or
# acted on, or the SHA-256 of a verified email address (lower case).
BUYER_KEY_KINDS = ("order", "email")

RESOLUTION_WINDOW = timedelta(days=7)  # re-contact / reversal / reopen window after the task end
ABANDON_AFTER = timedelta(minutes=30)  # a question without a reply this long: abandoned

# Actions after which the conversation's task has reached its end (the answer was given or the
# case passed to a person): the task handlers, the FAQ answer, an explicit handoff.
TASK_END_ACTIONS = ("action_perform_task", "action_answer_faq", "action_hand_off",
                    "action_explain_unknown_charge", "action_lookup_charge")

VERIFIED_TASK_ACTION = "action_perform_task"  # a task end only for a verified order

BREAKDOWNS = ("first_task_intent", "channel", "model_id")
NONE_VALUE = "none"  # in a filter: "the field is empty" (no task intent, no model id)
