"""Initial schema of the commerce core (hand-written).

Revision ID: 0001_initial
Revises:
Create Date: 2024-06-01

Tables: clients, customers, orders, order_items, refunds, payments (money movements),
subscriptions, handoff_tickets, refund_requests, conversation_verifications,
verification_attempts, verification_challenges, audit_log. Nothing is named `events`
(Rasa's tracker store owns that name in a shared SQLite file).
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_initial"
down_revision = None
branch_labels = None
depends_on = None

PAYMENT_METHODS = (
    "'credit_card', 'paypal', 'apple_pay', 'alipay', 'direct_debit', 'amazon_pay',"
    " 'google_pay', 'wire_transfer', 'purchase_order'"
)


def _id() -> sa.Column:
    return sa.Column("id", sa.Integer(), primary_key=True)


def _ts(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "clients",
        _id(),
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("refund_policy", sa.String(32), nullable=False),
        sa.Column("refund_window_days", sa.Integer()),
        sa.Column("no_refund_for_charged_period", sa.Boolean(), nullable=False),
        sa.Column("technical_support", sa.String(300), nullable=False),
        sa.Column("statement_descriptor", sa.String(64), nullable=False),
        _ts("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_clients"),
        sa.UniqueConstraint("code", name="uq_clients_code"),
        sa.CheckConstraint(
            "refund_policy IN ('no_restrictions', 'within_days', 'approval_required', 'no_refunds')",
            name=op.f("ck_clients_refund_policy"),
        ),
        sa.CheckConstraint(
            "(refund_policy = 'within_days' AND refund_window_days IS NOT NULL"
            " AND refund_window_days >= 0)"
            " OR (refund_policy <> 'within_days' AND refund_window_days IS NULL)",
            name=op.f("ck_clients_refund_window_days"),
        ),
    )

    op.create_table(
        "customers",
        _id(),
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("name", sa.String(200)),
        sa.Column("company", sa.String(200)),
        sa.Column("country", sa.String(2)),
        _ts("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_customers"),
        sa.ForeignKeyConstraint(["client_id"], ["clients.id"], name="fk_customers_client_id_clients"),
        sa.UniqueConstraint("client_id", "email", name="uq_customers_client_id_email"),
    )
    op.create_index("ix_customers_email", "customers", ["email"])

    op.create_table(
        "orders",
        _id(),
        sa.Column("reference", sa.String(9), nullable=False),
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        _ts("placed_at"),
        _ts("paid_at", nullable=True),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("net_minor", sa.BigInteger(), nullable=False),
        sa.Column("vat_minor", sa.BigInteger(), nullable=False),
        sa.Column("total_minor", sa.BigInteger(), nullable=False),
        sa.Column("payment_method", sa.String(32), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_orders"),
        sa.UniqueConstraint("reference", name="uq_orders_reference"),
        sa.ForeignKeyConstraint(["client_id"], ["clients.id"], name="fk_orders_client_id_clients"),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name="fk_orders_customer_id_customers"
        ),
        sa.CheckConstraint(f"payment_method IN ({PAYMENT_METHODS})", name=op.f("ck_orders_payment_method")),
        sa.CheckConstraint(
            "status IN ('pending', 'paid', 'partially_refunded', 'refunded', 'chargeback',"
            " 'cancelled')",
            name=op.f("ck_orders_status"),
        ),
        sa.CheckConstraint(
            "net_minor >= 0 AND vat_minor >= 0 AND total_minor = net_minor + vat_minor",
            name=op.f("ck_orders_amounts"),
        ),
    )
    op.create_index("ix_orders_customer_id", "orders", ["customer_id"])
    op.create_index("ix_orders_client_id_placed_at", "orders", ["client_id", "placed_at"])

    op.create_table(
        "order_items",
        _id(),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("product_name", sa.String(200), nullable=False),
        sa.Column("sku", sa.String(64)),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("unit_price_minor", sa.BigInteger(), nullable=False),
        sa.Column("license_key", sa.String(200)),
        sa.Column("activation_code", sa.String(200)),
        sa.Column("download_url", sa.String(500)),
        sa.PrimaryKeyConstraint("id", name="pk_order_items"),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name="fk_order_items_order_id_orders", ondelete="CASCADE"
        ),
        sa.CheckConstraint(
            "quantity > 0 AND unit_price_minor >= 0", name=op.f("ck_order_items_quantity_price")
        ),
    )
    op.create_index("ix_order_items_order_id", "order_items", ["order_id"])

    op.create_table(
        "refunds",
        _id(),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(32)),
        sa.Column("method", sa.String(32), nullable=False),
        sa.Column("card_brand", sa.String(16)),
        sa.Column("card_last4", sa.String(4)),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("provider_idempotency_key", sa.String(100)),
        sa.Column("provider_reference", sa.String(100)),
        sa.Column("failure", sa.Text()),
        _ts("requested_at"),
        _ts("refunded_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_refunds"),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"], name="fk_refunds_order_id_orders"),
        # the last line of defence: one refund per order and amount
        sa.UniqueConstraint("order_id", "amount_minor", name="uq_refunds_order_id_amount_minor"),
        sa.UniqueConstraint(
            "provider_idempotency_key", name="uq_refunds_provider_idempotency_key"
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'completed', 'failed')", name=op.f("ck_refunds_status")
        ),
        sa.CheckConstraint("amount_minor > 0", name=op.f("ck_refunds_amount_positive")),
    )

    op.create_table(
        "payments",
        _id(),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("method", sa.String(32), nullable=False),
        sa.Column("card_brand", sa.String(16)),
        sa.Column("card_last4", sa.String(4)),
        _ts("occurred_at"),
        sa.Column("provider_reference", sa.String(100)),
        sa.Column("refund_id", sa.Integer()),
        sa.PrimaryKeyConstraint("id", name="pk_payments"),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"], name="fk_payments_order_id_orders"),
        sa.ForeignKeyConstraint(
            ["refund_id"], ["refunds.id"], name="fk_payments_refund_id_refunds"
        ),
        sa.CheckConstraint("kind IN ('charge', 'refund', 'chargeback')", name=op.f("ck_payments_kind")),
        sa.CheckConstraint(
            "status IN ('pending', 'completed', 'failed')", name=op.f("ck_payments_status")
        ),
        sa.CheckConstraint("amount_minor > 0", name=op.f("ck_payments_amount_positive")),
        sa.CheckConstraint(
            "card_last4 IS NULL OR length(card_last4) = 4", name=op.f("ck_payments_card_last4")
        ),
    )
    op.create_index("ix_payments_order_id", "payments", ["order_id"])
    op.create_index("ix_payments_kind_amount_minor", "payments", ["kind", "amount_minor"])

    op.create_table(
        "subscriptions",
        _id(),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("plan", sa.String(200), nullable=False),
        sa.Column("billing_period", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        _ts("started_at"),
        _ts("current_period_end"),
        sa.Column("auto_renew", sa.Boolean(), nullable=False),
        _ts("trial_end", nullable=True),
        _ts("cancelled_at", nullable=True),
        sa.Column("renewal_price_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_subscriptions"),
        sa.UniqueConstraint("order_id", name="uq_subscriptions_order_id"),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name="fk_subscriptions_order_id_orders"
        ),
        sa.ForeignKeyConstraint(
            ["client_id"], ["clients.id"], name="fk_subscriptions_client_id_clients"
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name="fk_subscriptions_customer_id_customers"
        ),
        sa.CheckConstraint(
            "status IN ('trial', 'active', 'cancelled', 'expired')", name=op.f("ck_subscriptions_status")
        ),
        sa.CheckConstraint(
            "billing_period IN ('monthly', 'quarterly', 'yearly')",
            name=op.f("ck_subscriptions_billing_period"),
        ),
    )

    op.create_table(
        "handoff_tickets",
        _id(),
        sa.Column("team", sa.String(32), nullable=False),
        sa.Column("reason_code", sa.String(64), nullable=False),
        sa.Column("order_id", sa.Integer()),
        sa.Column("conversation_id", sa.String(128), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("transcript", sa.JSON()),
        sa.Column("status", sa.String(16), nullable=False),
        _ts("created_at"),
        sa.Column("delivery_status", sa.String(16), nullable=False),
        sa.Column("delivery_attempts", sa.Integer(), nullable=False),
        _ts("delivered_at", nullable=True),
        sa.Column("delivery_error", sa.Text()),
        sa.Column("external_id", sa.String(100)),
        sa.PrimaryKeyConstraint("id", name="pk_handoff_tickets"),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name="fk_handoff_tickets_order_id_orders"
        ),
        sa.CheckConstraint(
            "team IN ('customer_service', 'payment_processing')", name=op.f("ck_handoff_tickets_team")
        ),
        sa.CheckConstraint("status IN ('open', 'closed')", name=op.f("ck_handoff_tickets_status")),
        sa.CheckConstraint(
            "delivery_status IN ('not_configured', 'pending', 'delivered', 'failed')",
            name=op.f("ck_handoff_tickets_delivery_status"),
        ),
    )
    op.create_index("ix_handoff_tickets_team_status", "handoff_tickets", ["team", "status"])
    op.create_index("ix_handoff_tickets_conversation_id", "handoff_tickets", ["conversation_id"])

    op.create_table(
        "refund_requests",
        _id(),
        sa.Column("idempotency_key", sa.String(200), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.String(128)),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("requested_amount_minor", sa.BigInteger()),
        sa.Column("vat_refund", sa.Boolean(), nullable=False),
        sa.Column("automatic", sa.Boolean(), nullable=False),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("team", sa.String(32)),
        sa.Column("decision", sa.JSON(), nullable=False),
        sa.Column("refund_id", sa.Integer()),
        sa.Column("ticket_id", sa.Integer()),
        _ts("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_refund_requests"),
        sa.UniqueConstraint("idempotency_key", name="uq_refund_requests_idempotency_key"),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name="fk_refund_requests_order_id_orders"
        ),
        sa.ForeignKeyConstraint(
            ["refund_id"], ["refunds.id"], name="fk_refund_requests_refund_id_refunds"
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["handoff_tickets.id"],
            name="fk_refund_requests_ticket_id_handoff_tickets",
        ),
    )
    op.create_index("ix_refund_requests_order_id", "refund_requests", ["order_id"])

    op.create_table(
        "conversation_verifications",
        _id(),
        sa.Column("conversation_id", sa.String(128), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("method", sa.String(32), nullable=False),
        _ts("verified_at"),
        sa.PrimaryKeyConstraint("id", name="pk_conversation_verifications"),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name="fk_conversation_verifications_order_id_orders"
        ),
        sa.UniqueConstraint(
            "conversation_id", "order_id",
            name="uq_conversation_verifications_conversation_id_order_id",
        ),
    )

    op.create_table(
        "verification_attempts",
        _id(),
        sa.Column("conversation_id", sa.String(128), nullable=False),
        sa.Column("email_digest", sa.String(64), nullable=False),
        sa.Column("succeeded", sa.Boolean(), nullable=False),
        _ts("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_verification_attempts"),
    )
    op.create_index(
        "ix_verification_attempts_conversation_id_created_at",
        "verification_attempts", ["conversation_id", "created_at"],
    )
    op.create_index(
        "ix_verification_attempts_email_digest_created_at",
        "verification_attempts", ["email_digest", "created_at"],
    )

    op.create_table(
        "verification_challenges",
        _id(),
        sa.Column("conversation_id", sa.String(128), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("email_digest", sa.String(64), nullable=False),
        sa.Column("purpose", sa.String(32), nullable=False),
        sa.Column("code_hash", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        _ts("created_at"),
        _ts("expires_at"),
        _ts("verified_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_verification_challenges"),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name="fk_verification_challenges_order_id_orders"
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'verified', 'expired', 'exhausted', 'superseded')",
            name=op.f("ck_verification_challenges_status"),
        ),
    )
    op.create_index(
        "ix_verification_challenges_conversation_id_order_id",
        "verification_challenges", ["conversation_id", "order_id"],
    )

    op.create_table(
        "audit_log",
        _id(),
        _ts("occurred_at"),
        sa.Column("actor", sa.String(32), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("conversation_id", sa.String(128)),
        sa.Column("order_id", sa.Integer()),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_log"),
    )
    op.create_index("ix_audit_log_order_id", "audit_log", ["order_id"])
    op.create_index("ix_audit_log_conversation_id", "audit_log", ["conversation_id"])


def downgrade() -> None:
    for table in (
        "audit_log",
        "verification_challenges",
        "verification_attempts",
        "conversation_verifications",
        "refund_requests",
        "handoff_tickets",
        "subscriptions",
        "payments",
        "refunds",
        "order_items",
        "orders",
        "customers",
        "clients",
    ):
        op.drop_table(table)
