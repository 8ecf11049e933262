"""Review console index: conversation summaries, tags, notes, corrections, full-text search (issue 15)

Revision ID: 0005_review_index
Revises: 0004_hardening
Create Date: 2026-12-04

Tables (supportbot/review/models.py, same definitions): conversation_summaries, review_facets,
review_tags, review_notes, intent_corrections, review_index_state; the full-text index
review_fts (SQLite: FTS5 virtual table; PostgreSQL: tsvector + GIN index); and the handoff
queue's columns on handoff_tickets (claimed_by, claimed_at, closed_at, resolution).
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_review_index"
down_revision = "0004_hardening"
branch_labels = None
depends_on = None


def _ts(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN (" + ", ".join(f"'{v}'" for v in values) + ")"


def upgrade() -> None:
    op.create_table(
        "conversation_summaries",
        sa.Column("conversation_id", sa.String(255), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        _ts("first_activity"),
        _ts("last_activity"),
        sa.Column("user_turns", sa.Integer(), nullable=False),
        sa.Column("first_message", sa.String(200)),
        sa.Column("intents", sa.JSON(), nullable=False),
        sa.Column("first_task_intent", sa.String(64)),
        sa.Column("lowest_confidence", sa.Float()),
        sa.Column("fallbacks", sa.Integer(), nullable=False),
        sa.Column("actions", sa.JSON(), nullable=False),
        sa.Column("verified_order_masked", sa.String(32)),
        sa.Column("verified", sa.Boolean(), nullable=False),
        sa.Column("refund_outcome", sa.String(16), nullable=False),
        sa.Column("refund_reason_code", sa.String(64)),
        sa.Column("refund_amount_minor", sa.BigInteger()),
        sa.Column("refund_currency", sa.String(3)),
        sa.Column("handoff_team", sa.String(32)),
        sa.Column("handoff_reason", sa.String(64)),
        sa.Column("review_status", sa.String(16), nullable=False),
        sa.Column("model_id", sa.String(64)),
        sa.Column("events", sa.Integer(), nullable=False),
        sa.Column("last_event_id", sa.BigInteger(), nullable=False),
        _ts("indexed_at"),
        sa.PrimaryKeyConstraint("conversation_id", name="pk_conversation_summaries"),
        sa.CheckConstraint(_in("channel", ("widget", "email", "rest", "unknown")),
                           name=op.f("ck_conversation_summaries_channel")),
        sa.CheckConstraint(_in("refund_outcome", ("issued", "declined", "failed", "none")),
                           name=op.f("ck_conversation_summaries_refund_outcome")),
        sa.CheckConstraint(_in("review_status", ("unreviewed", "reviewed", "needs_attention")),
                           name=op.f("ck_conversation_summaries_review_status")),
    )
    for name, columns in (
        ("last_activity", ["last_activity"]),
        ("first_activity", ["first_activity"]),
        ("channel_last_activity", ["channel", "last_activity"]),
        ("refund_outcome_last_activity", ["refund_outcome", "last_activity"]),
        ("handoff_team_last_activity", ["handoff_team", "last_activity"]),
        ("review_status_last_activity", ["review_status", "last_activity"]),
        ("lowest_confidence", ["lowest_confidence"]),
    ):
        op.create_index(f"ix_conversation_summaries_{name}", "conversation_summaries", columns)

    op.create_table(
        "review_facets",
        sa.Column("conversation_id", sa.String(255), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("value", sa.String(128), nullable=False),
        sa.PrimaryKeyConstraint("conversation_id", "kind", "value", name="pk_review_facets"),
        sa.CheckConstraint(_in("kind", ("intent", "action")), name=op.f("ck_review_facets_kind")),
    )
    op.create_index("ix_review_facets_kind_value", "review_facets", ["kind", "value"])

    op.create_table(
        "review_tags",
        sa.Column("conversation_id", sa.String(255), nullable=False),
        sa.Column("tag", sa.String(64), nullable=False),
        sa.Column("source", sa.String(8), nullable=False),
        sa.Column("created_by", sa.String(320), nullable=False),
        _ts("created_at"),
        sa.PrimaryKeyConstraint("conversation_id", "tag", name="pk_review_tags"),
        sa.CheckConstraint(_in("source", ("auto", "manual")), name=op.f("ck_review_tags_source")),
    )
    op.create_index("ix_review_tags_tag", "review_tags", ["tag"])

    op.create_table(
        "review_notes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.String(255), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(320), nullable=False),
        _ts("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_review_notes"),
    )
    op.create_index("ix_review_notes_conversation_id", "review_notes", ["conversation_id"])

    op.create_table(
        "intent_corrections",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.String(255), nullable=False),
        sa.Column("event_id", sa.BigInteger(), nullable=False),
        sa.Column("text_masked", sa.Text(), nullable=False),
        sa.Column("original_intent", sa.String(128)),
        sa.Column("corrected_intent", sa.String(128), nullable=False),
        sa.Column("created_by", sa.String(320), nullable=False),
        _ts("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_intent_corrections"),
        sa.UniqueConstraint("event_id", name="uq_intent_corrections_event_id"),
    )
    op.create_index("ix_intent_corrections_conversation_id", "intent_corrections",
                    ["conversation_id"])

    op.create_table(
        "review_index_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("watermark", sa.BigInteger(), nullable=False),
        sa.Column("runs", sa.BigInteger(), nullable=False),
        _ts("updated_at"),
        sa.PrimaryKeyConstraint("id", name="pk_review_index_state"),
    )

    if op.get_context().dialect.name == "postgresql":
        op.execute("CREATE TABLE review_fts (conversation_id VARCHAR(255) PRIMARY KEY, "
                   "document TSVECTOR NOT NULL)")
        op.execute("CREATE INDEX ix_review_fts_document ON review_fts USING gin (document)")
    else:
        op.execute("CREATE VIRTUAL TABLE review_fts USING fts5(conversation_id UNINDEXED, body, "
                   "tokenize = 'unicode61 remove_diacritics 2')")

    # the human teams' queue (supportbot/review/queue.py)
    with op.batch_alter_table("handoff_tickets") as batch:
        batch.add_column(sa.Column("claimed_by", sa.String(320)))
        batch.add_column(_ts("claimed_at", nullable=True))
        batch.add_column(_ts("closed_at", nullable=True))
        batch.add_column(sa.Column("resolution", sa.Text()))


def downgrade() -> None:
    with op.batch_alter_table("handoff_tickets") as batch:
        batch.drop_column("resolution")
        batch.drop_column("closed_at")
        batch.drop_column("claimed_at")
        batch.drop_column("claimed_by")
    op.execute("DROP TABLE IF EXISTS review_fts")
    for table in ("review_index_state", "intent_corrections", "review_notes", "review_tags",
                  "review_facets", "conversation_summaries"):
        op.drop_table(table)
