"""Email bridge tables (hand-written; mirrors supportbot/channels/email_bridge/store.py).

Revision ID: email_bridge_0001
Revises: 0001_initial
Create Date: 2024-06-01

Tables: email_conversations, email_thread_ids,
email_inbound, email_outbound. Each table is only created when it does not exist yet,
because `supportbot email-bridge serve` falls back to `store.create_schema()` on a database
that was not migrated (development only); `downgrade()` drops them.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "email_bridge_0001"
down_revision = "0001_initial"
branch_labels = None
depends_on = None


def _ts(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _missing(name: str) -> bool:
    if op.get_context().as_sql:  # generating SQL offline: no database to look at
        return True
    return not sa.inspect(op.get_bind()).has_table(name)


def upgrade() -> None:
    if _missing("email_conversations"):
        op.create_table(
            "email_conversations",
            sa.Column("id", sa.String(64), nullable=False),
            sa.Column("customer_address", sa.String(320), nullable=False),
            sa.Column("subject", sa.String(998), nullable=False),
            sa.Column("offered_buttons", sa.Text(), nullable=True),
            sa.Column("turns", sa.Integer(), nullable=False),
            _ts("created_at"),
            _ts("last_activity_at"),
            sa.PrimaryKeyConstraint("id", name="pk_email_conversations"),
        )
        op.create_index("ix_email_conversations_customer_activity", "email_conversations",
                        ["customer_address", "last_activity_at"])

    if _missing("email_thread_ids"):
        op.create_table(
            "email_thread_ids",
            sa.Column("message_id", sa.String(998), nullable=False),
            sa.Column("conversation_id", sa.String(64), nullable=False),
            sa.Column("direction", sa.String(3), nullable=False),
            _ts("created_at"),
            sa.PrimaryKeyConstraint("message_id", name="pk_email_thread_ids"),
            sa.ForeignKeyConstraint(["conversation_id"], ["email_conversations.id"], ondelete="CASCADE",
                                    name="fk_email_thread_ids_conversation_id_email_conversations"),
        )
        op.create_index("ix_email_thread_ids_conversation_id", "email_thread_ids", ["conversation_id"])

    if _missing("email_inbound"):
        op.create_table(
            "email_inbound",
            sa.Column("id", sa.Integer(), nullable=False),
            sa.Column("message_id", sa.String(998), nullable=False),
            sa.Column("conversation_id", sa.String(64), nullable=True),
            sa.Column("envelope_from", sa.String(320), nullable=True),
            sa.Column("from_address", sa.String(320), nullable=True),
            sa.Column("subject", sa.String(998), nullable=True),
            sa.Column("raw", sa.LargeBinary(), nullable=False),
            sa.Column("size_bytes", sa.Integer(), nullable=False),
            sa.Column("status", sa.String(16), nullable=False),
            sa.Column("status_reason", sa.String(64), nullable=True),
            sa.Column("attempts", sa.Integer(), nullable=False),
            sa.Column("turn_text", sa.Text(), nullable=True),
            _ts("received_at"),
            _ts("processed_at", nullable=True),
            sa.PrimaryKeyConstraint("id", name="pk_email_inbound"),
            sa.UniqueConstraint("message_id", name="uq_email_inbound_message_id"),
            sa.ForeignKeyConstraint(["conversation_id"], ["email_conversations.id"], ondelete="SET NULL",
                                    name="fk_email_inbound_conversation_id_email_conversations"),
        )
        op.create_index("ix_email_inbound_conversation_id", "email_inbound", ["conversation_id"])
        op.create_index("ix_email_inbound_from_address", "email_inbound", ["from_address"])
        op.create_index("ix_email_inbound_status", "email_inbound", ["status"])
        op.create_index("ix_email_inbound_received_at", "email_inbound", ["received_at"])

    if _missing("email_outbound"):
        op.create_table(
            "email_outbound",
            sa.Column("id", sa.Integer(), nullable=False),
            sa.Column("message_id", sa.String(998), nullable=False),
            sa.Column("conversation_id", sa.String(64), nullable=True),
            sa.Column("inbound_id", sa.Integer(), nullable=True),
            sa.Column("kind", sa.String(16), nullable=False),
            sa.Column("to_address", sa.String(320), nullable=False),
            sa.Column("raw", sa.LargeBinary(), nullable=False),
            sa.Column("status", sa.String(16), nullable=False),
            sa.Column("attempts", sa.Integer(), nullable=False),
            _ts("next_attempt_at"),
            sa.Column("last_error", sa.String(500), nullable=True),
            _ts("created_at"),
            _ts("sent_at", nullable=True),
            sa.PrimaryKeyConstraint("id", name="pk_email_outbound"),
            sa.UniqueConstraint("message_id", name="uq_email_outbound_message_id"),
            sa.ForeignKeyConstraint(["conversation_id"], ["email_conversations.id"], ondelete="SET NULL",
                                    name="fk_email_outbound_conversation_id_email_conversations"),
            sa.ForeignKeyConstraint(["inbound_id"], ["email_inbound.id"], ondelete="SET NULL",
                                    name="fk_email_outbound_inbound_id_email_inbound"),
        )
        op.create_index("ix_email_outbound_conversation_id", "email_outbound", ["conversation_id"])
        op.create_index("ix_email_outbound_inbound_id", "email_outbound", ["inbound_id"])
        op.create_index("ix_email_outbound_status_next_attempt_at", "email_outbound",
                        ["status", "next_attempt_at"])


def downgrade() -> None:
    for table in ("email_outbound", "email_inbound", "email_thread_ids", "email_conversations"):
        if not _missing(table):
            op.drop_table(table)
