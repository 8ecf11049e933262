"""Hardening: throttles per order reference and client address, verification expiry (issue 14)

Revision ID: 0004_hardening
Revises: 0003_confirmations
Create Date: 2026-12-04

Tables: throttle_hits (one counted failed order lookup or charge lookup, by scope and the HMAC
of what it counts), throttle_locks (a reference or email address locked for lookups, and the
ticket that told a team). The rules are supportbot/core/limits.py.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_hardening"
down_revision = "0003_confirmations"
branch_labels = None
depends_on = None

SCOPES = ("scope IN ('lookup_conversation', 'lookup_client', 'lookup_reference', 'lookup_email',"
          " 'charges_conversation', 'charges_client')")


def _ts(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "throttle_hits",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("scope", sa.String(32), nullable=False),
        sa.Column("key_digest", sa.String(64), nullable=False),
        _ts("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_throttle_hits"),
        sa.CheckConstraint(SCOPES, name=op.f("ck_throttle_hits_scope")),
    )
    op.create_index("ix_throttle_hits_scope_key_digest_created_at", "throttle_hits",
                    ["scope", "key_digest", "created_at"])
    op.create_table(
        "throttle_locks",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("scope", sa.String(32), nullable=False),
        sa.Column("key_digest", sa.String(64), nullable=False),
        sa.Column("conversation_id", sa.String(128), nullable=True),
        _ts("created_at"),
        _ts("locked_until"),
        sa.Column("ticket_id", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_throttle_locks"),
        sa.ForeignKeyConstraint(["ticket_id"], ["handoff_tickets.id"],
                                name="fk_throttle_locks_ticket_id_handoff_tickets"),
        sa.CheckConstraint(SCOPES, name=op.f("ck_throttle_locks_scope")),
    )
    op.create_index("ix_throttle_locks_scope_key_digest_locked_until", "throttle_locks",
                    ["scope", "key_digest", "locked_until"])


def downgrade() -> None:
    op.drop_table("throttle_locks")
    op.drop_table("throttle_hits")
