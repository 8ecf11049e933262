"""Outcome analytics (issue 16)

Revision ID: 0007_analytics
Revises: 0006_console_users
Create Date: 2026-12-04

Tables (models: supportbot/analytics/models.py): conversation_outcomes (per conversation: task
end, CSAT, unanswered questions, 7-day window), conversation_buyer_keys (orders and email digests
of a conversation, for re-contact linking), outcome_facts (refund reversed / failed, chargeback,
ticket reopened: what happened later). Standard types only: SQLite and PostgreSQL alike.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_analytics"
down_revision = "0006_console_users"
branch_labels = None
depends_on = None

# copies, not imports: a migration must not change when the vocabulary does
FACT_KINDS = ("refund_reversed", "refund_failed", "chargeback_opened", "ticket_reopened")
FACT_SOURCES = ("import", "webhook", "console")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN (" + ", ".join(f"'{v}'" for v in values) + ")"


def _ts(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "conversation_outcomes",
        sa.Column("conversation_id", sa.String(255), nullable=False),
        sa.Column("last_event_id", sa.BigInteger(), nullable=False),
        _ts("task_ended_at", nullable=True),
        sa.Column("seconds_to_end", sa.Integer()),
        _ts("window_end"),
        sa.Column("verification_attempted", sa.Boolean(), nullable=False),
        sa.Column("csat", sa.String(8)),
        _ts("abandoned_at", nullable=True),
        _ts("open_question_at", nullable=True),
        _ts("recontacted_at", nullable=True),
        _ts("later_fact_at", nullable=True),
        _ts("computed_at"),
        sa.PrimaryKeyConstraint("conversation_id", name="pk_conversation_outcomes"),
        sa.CheckConstraint(_in("csat", ("up", "down")), name=op.f("ck_conversation_outcomes_csat")),
    )
    op.create_index("ix_conversation_outcomes_window_end", "conversation_outcomes", ["window_end"])
    op.create_table(
        "conversation_buyer_keys",
        sa.Column("conversation_id", sa.String(255), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("value", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("conversation_id", "kind", "value", name="pk_conversation_buyer_keys"),
        sa.CheckConstraint(_in("kind", ("order", "email")), name=op.f("ck_conversation_buyer_keys_kind")),
    )
    op.create_index("ix_conversation_buyer_keys_kind_value", "conversation_buyer_keys",
                    ["kind", "value"])
    op.create_table(
        "outcome_facts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        _ts("occurred_at"),
        sa.Column("conversation_id", sa.String(255)),
        sa.Column("order_id", sa.Integer()),
        sa.Column("refund_id", sa.Integer()),
        sa.Column("ticket_id", sa.Integer()),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("external_id", sa.String(100)),
        sa.Column("details", sa.JSON(), nullable=False),
        _ts("recorded_at"),
        sa.PrimaryKeyConstraint("id", name="pk_outcome_facts"),
        sa.UniqueConstraint("external_id", name="uq_outcome_facts_external_id"),
        sa.CheckConstraint(_in("kind", FACT_KINDS), name=op.f("ck_outcome_facts_kind")),
        sa.CheckConstraint(_in("source", FACT_SOURCES), name=op.f("ck_outcome_facts_source")),
    )
    op.create_index("ix_outcome_facts_conversation_id_occurred_at", "outcome_facts",
                    ["conversation_id", "occurred_at"])
    op.create_index("ix_outcome_facts_order_id", "outcome_facts", ["order_id"])


def downgrade() -> None:
    op.drop_table("outcome_facts")
    op.drop_table("conversation_buyer_keys")
    op.drop_table("conversation_outcomes")
