"""Tables of the review index (own MetaData; migration 0005_review_index, same definitions).

  conversation_summaries  one row per conversation (Rasa sender id), folded from Rasa's
                          `events` rows and the core's tables by the indexer; listing reads
                          only this table (never whole trackers)
  review_facets           (conversation, kind, value): the intents and actions a conversation
                          saw, for indexed "had intent X" / "ran action Y" filters
  review_tags             tags, automatic (rules) or manual (a console user)
  review_notes            free-text notes of a reviewer
  intent_corrections      "this message meant intent X": the source of the NLU export
  review_index_state      the indexer's watermark on `events.id` (one row, id 1)
  review_fts              full-text search; NOT in this MetaData because it differs per
                          dialect: a SQLite FTS5 virtual table (conversation_id UNINDEXED,
                          body) or a PostgreSQL table (conversation_id PK, document tsvector,
                          GIN index). `EXTRA_TABLES` names what the migration creates for it.

Nothing here stores a full card number or a one-time code: the indexer masks cards and blanks
codes before it writes text. Email addresses stay in `first_message` and the full-text index
(as in Rasa's tracker, so a lead can search by address); every view masks them unless revealed.
"""
from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

from supportbot.db.models import NAMING_CONVENTION, UTCDateTime
from supportbot.review.vocabulary import (  # noqa: F401 (re-exported)
    CHANNELS,
    FACET_KINDS,
    REFUND_OUTCOMES,
    REVIEW_STATUSES,
    TAG_SOURCES,
)

metadata = MetaData(naming_convention=NAMING_CONVENTION)


FTS_TABLE = "review_fts"
# Tables the migration creates outside this MetaData, per dialect (FTS5 makes shadow tables).
EXTRA_TABLES: dict[str, tuple[str, ...]] = {
    "sqlite": (FTS_TABLE, f"{FTS_TABLE}_data", f"{FTS_TABLE}_idx", f"{FTS_TABLE}_content",
               f"{FTS_TABLE}_docsize", f"{FTS_TABLE}_config"),
    "postgresql": (FTS_TABLE,),
}


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN (" + ", ".join(f"'{v}'" for v in values) + ")"


conversation_summaries = Table(
    "conversation_summaries", metadata,
    Column("conversation_id", String(255), primary_key=True),  # Rasa's events.sender_id
    Column("channel", String(16), nullable=False, default="unknown"),
    Column("first_activity", UTCDateTime, nullable=False),
    Column("last_activity", UTCDateTime, nullable=False),
    Column("user_turns", Integer, nullable=False, default=0),
    Column("first_message", String(200)),  # the first customer message, masked, cut
    Column("intents", JSON, nullable=False),  # distinct, in order of first appearance
    Column("first_task_intent", String(64)),
    Column("lowest_confidence", Float),
    Column("fallbacks", Integer, nullable=False, default=0),
    Column("actions", JSON, nullable=False),  # distinct custom actions, first appearance order
    Column("verified_order_masked", String(32)),
    Column("verified", Boolean, nullable=False, default=False),
    Column("refund_outcome", String(16), nullable=False, default="none"),
    Column("refund_reason_code", String(64)),
    Column("refund_amount_minor", BigInteger),
    Column("refund_currency", String(3)),
    Column("handoff_team", String(32)),
    Column("handoff_reason", String(64)),
    Column("review_status", String(16), nullable=False, default="unreviewed"),
    Column("model_id", String(64)),
    Column("events", Integer, nullable=False, default=0),
    Column("last_event_id", BigInteger, nullable=False),
    Column("indexed_at", UTCDateTime, nullable=False),
    CheckConstraint(_in("channel", CHANNELS), name="channel"),
    CheckConstraint(_in("refund_outcome", REFUND_OUTCOMES), name="refund_outcome"),
    CheckConstraint(_in("review_status", REVIEW_STATUSES), name="review_status"),
    Index("ix_conversation_summaries_last_activity", "last_activity"),
    Index("ix_conversation_summaries_first_activity", "first_activity"),
    Index("ix_conversation_summaries_channel_last_activity", "channel", "last_activity"),
    Index("ix_conversation_summaries_refund_outcome_last_activity", "refund_outcome",
          "last_activity"),
    Index("ix_conversation_summaries_handoff_team_last_activity", "handoff_team", "last_activity"),
    Index("ix_conversation_summaries_review_status_last_activity", "review_status",
          "last_activity"),
    Index("ix_conversation_summaries_lowest_confidence", "lowest_confidence"),
)

review_facets = Table(
    "review_facets", metadata,
    Column("conversation_id", String(255), primary_key=True),
    Column("kind", String(8), primary_key=True),
    Column("value", String(128), primary_key=True),
    CheckConstraint(_in("kind", FACET_KINDS), name="kind"),
    Index("ix_review_facets_kind_value", "kind", "value"),
)

review_tags = Table(
    "review_tags", metadata,
    Column("conversation_id", String(255), primary_key=True),
    Column("tag", String(64), primary_key=True),
    Column("source", String(8), nullable=False),
    Column("created_by", String(320), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    CheckConstraint(_in("source", TAG_SOURCES), name="source"),
    Index("ix_review_tags_tag", "tag"),
)

review_notes = Table(
    "review_notes", metadata,
    Column("id", Integer, primary_key=True),
    Column("conversation_id", String(255), nullable=False),
    Column("body", Text, nullable=False),
    Column("created_by", String(320), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_review_notes_conversation_id", "conversation_id"),
)

intent_corrections = Table(
    "intent_corrections", metadata,
    Column("id", Integer, primary_key=True),
    Column("conversation_id", String(255), nullable=False),
    Column("event_id", BigInteger, nullable=False, unique=True),  # Rasa's events.id (a user turn)
    Column("text_masked", Text, nullable=False),
    Column("original_intent", String(128)),
    Column("corrected_intent", String(128), nullable=False),
    Column("created_by", String(320), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_intent_corrections_conversation_id", "conversation_id"),
)

review_index_state = Table(
    "review_index_state", metadata,
    Column("id", Integer, primary_key=True),  # always 1
    Column("watermark", BigInteger, nullable=False, default=0),  # events.id done up to here
    Column("runs", BigInteger, nullable=False, default=0),
    Column("updated_at", UTCDateTime, nullable=False),
)

TABLES = (conversation_summaries, review_facets, review_tags, review_notes, intent_corrections,
          review_index_state)
