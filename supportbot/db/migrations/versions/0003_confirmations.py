"""Server-side confirmations of changes that move money (supportbot/db/models.py `Confirmation`).

Revision ID: 0003_confirmations
Revises: email_bridge_0001
Create Date: 2025-01-15

Table: confirmations. A refund, cancelling or reinstating a subscription and a new payment
method happen only against a row here that the customer's own "yes" confirmed, for exactly
that conversation, order, purpose and terms, resting on a verified one-time code.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_confirmations"
down_revision = "email_bridge_0001"
branch_labels = None
depends_on = None


def _ts(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "confirmations",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("conversation_id", sa.String(128), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.String(32), nullable=False),
        sa.Column("terms", sa.JSON(), nullable=False),
        sa.Column("challenge_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        _ts("created_at"),
        _ts("expires_at"),
        _ts("answered_at", nullable=True),
        _ts("used_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_confirmations"),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"], name="fk_confirmations_order_id_orders"),
        sa.ForeignKeyConstraint(["challenge_id"], ["verification_challenges.id"],
                                name="fk_confirmations_challenge_id_verification_challenges"),
        sa.CheckConstraint(
            "status IN ('pending', 'confirmed', 'declined', 'used', 'superseded')",
            name=op.f("ck_confirmations_status"),
        ),
        sa.CheckConstraint(
            "purpose IN ('refund', 'cancel_subscription', 'reinstate_subscription',"
            " 'change_payment_method')",
            name=op.f("ck_confirmations_purpose"),
        ),
    )
    op.create_index("ix_confirmations_conversation_id_order_id", "confirmations",
                    ["conversation_id", "order_id"])


def downgrade() -> None:
    op.drop_table("confirmations")
