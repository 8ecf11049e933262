"""Tables of the outcome analytics (own MetaData; migration 0007_analytics, same definitions).

  conversation_outcomes    one row per indexed conversation (conversation_summaries), folded
                           by the OutcomeIndexer from Rasa's events and the core's tables: when
                           the task reached its end, CSAT, unanswered questions, whether a
                           verification was attempted, and the end of its 7-day window
  conversation_buyer_keys  who the buyer is: the orders the conversation verified or acted on,
                           the SHA-256 of each verified email address (never the address)
  outcome_facts            what happened later (refund reversed / failed at the provider,
                           chargeback opened, ticket reopened), linked to order and conversation;
                           `external_id` makes a re-delivered fact a no-op
Resolution, containment and abandonment are not stored: they are conditions over these tables
and the review index (supportbot/analytics/filters.py), evaluated as of a given time. What they
need from other rows (the first re-contact, the first later fact inside the window) is kept in
`recontacted_at` / `later_fact_at`, so counting 100,000 conversations reads one row each.
"""
from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Index,
    Integer,
    MetaData,
    String,
    Table,
)

from supportbot.analytics.vocabulary import BUYER_KEY_KINDS, CSAT_VALUES, FACT_KINDS, FACT_SOURCES
from supportbot.db.models import NAMING_CONVENTION, UTCDateTime

metadata = MetaData(naming_convention=NAMING_CONVENTION)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN (" + ", ".join(f"'{v}'" for v in values) + ")"


conversation_outcomes = Table(
    "conversation_outcomes", metadata,
    Column("conversation_id", String(255), primary_key=True),
    Column("last_event_id", BigInteger, nullable=False),  # the summary's, when folded
    Column("task_ended_at", UTCDateTime),  # the first task-end action after the first task intent
    Column("seconds_to_end", Integer),  # first activity -> task end
    Column("window_end", UTCDateTime, nullable=False),  # (task end or last activity) + 7 days
    Column("verification_attempted", Boolean, nullable=False, default=False),
    Column("csat", String(8)),
    Column("abandoned_at", UTCDateTime),  # a question answered only after 30 min (first one)
    Column("open_question_at", UTCDateTime),  # the last question, still without a reply
    # kept up to date by the OutcomeIndexer (links) and record_fact (facts), so that counting
    # needs no join: the first re-contact's start and the first later fact, within the window
    Column("recontacted_at", UTCDateTime),
    Column("later_fact_at", UTCDateTime),
    Column("computed_at", UTCDateTime, nullable=False),
    CheckConstraint(_in("csat", CSAT_VALUES), name="csat"),
    Index("ix_conversation_outcomes_window_end", "window_end"),
)

conversation_buyer_keys = Table(
    "conversation_buyer_keys", metadata,
    Column("conversation_id", String(255), primary_key=True),
    Column("kind", String(8), primary_key=True),
    Column("value", String(64), primary_key=True),
    CheckConstraint(_in("kind", BUYER_KEY_KINDS), name="kind"),
    Index("ix_conversation_buyer_keys_kind_value", "kind", "value"),
)

outcome_facts = Table(
    "outcome_facts", metadata,
    Column("id", Integer, primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("occurred_at", UTCDateTime, nullable=False),
    Column("conversation_id", String(255)),  # NULL: no conversation is about it
    Column("order_id", Integer),
    Column("refund_id", Integer),
    Column("ticket_id", Integer),
    Column("source", String(16), nullable=False),
    Column("external_id", String(100), unique=True),
    Column("details", JSON, nullable=False),
    Column("recorded_at", UTCDateTime, nullable=False),
    CheckConstraint(_in("kind", FACT_KINDS), name="kind"),
    CheckConstraint(_in("source", FACT_SOURCES), name="source"),
    Index("ix_outcome_facts_conversation_id_occurred_at", "conversation_id", "occurred_at"),
    Index("ix_outcome_facts_order_id", "order_id"),
)

TABLES = (conversation_outcomes, conversation_buyer_keys, outcome_facts)
