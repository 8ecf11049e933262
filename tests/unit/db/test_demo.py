"""The demo data set: fixed records, determinism, --if-empty, the CLI."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import func, select

from supportbot.cli import main
from supportbot.core.vocabulary import PAYMENT_METHODS, POLICY_NO_REFUNDS
from supportbot.db import migrate
from supportbot.db.demo import load_demo
from supportbot.db.engine import make_engine, session_scope
from supportbot.db.models import (
    AuditLog,
    Client,
    Customer,
    Order,
    OrderItem,
    Payment,
    Refund,
    Subscription,
)

NOW = datetime(2024, 6, 3, 12, 0, tzinfo=timezone.utc)
DOCS = Path(__file__).resolve().parents[3] / "docs" / "demo-data.md"


def _order(session, reference) -> Order:
    return session.execute(select(Order).where(Order.reference == reference)).scalar_one()


def _days_ago(moment) -> timedelta:
    return NOW - moment


def test_the_fixed_records(sqlite_engine):
    load_demo(sqlite_engine, now=NOW, extra_orders=0)
    with session_scope(sqlite_engine) as s:
        alice = _order(s, "100000001")
        assert alice.customer.email == "alice@example.com"
        assert alice.client.refund_policy == "no_restrictions"
        assert (alice.total_minor, alice.currency, alice.status) == (4900, "EUR", "paid")
        assert (alice.payments[0].card_brand, alice.payments[0].card_last4) == ("visa", "4242")
        assert _days_ago(alice.placed_at) == timedelta(days=5)
        [item] = alice.items
        assert item.license_key and item.download_url.startswith("https://")

        bob = _order(s, "100000002")
        assert (bob.client.refund_policy, bob.client.refund_window_days) == ("within_days", 30)
        assert bob.payment_method == "credit_card" and _days_ago(bob.placed_at) == timedelta(days=45)

        carol = _order(s, "100000003")
        assert carol.payment_method == "wire_transfer" and carol.status == "paid"
        assert carol.client.refund_policy == "no_restrictions"
        assert _days_ago(carol.placed_at) == timedelta(days=3)

        dan = _order(s, "100000004")
        assert (dan.payment_method, dan.status, dan.payments) == ("wire_transfer", "pending", [])

        e5, e6 = _order(s, "100000005"), _order(s, "100000006")
        assert e5.customer_id == e6.customer_id and e5.client_id == e6.client_id
        assert e5.total_minor == e6.total_minor and e5.payment_method == e6.payment_method == "paypal"
        assert [i.product_name for i in e5.items] == [i.product_name for i in e6.items]
        assert e6.placed_at - e5.placed_at == timedelta(minutes=10)
        assert _days_ago(e6.placed_at) == timedelta(days=2)

        frank = _order(s, "100000007")
        [refund] = frank.refunds
        assert frank.status == "refunded" and refund.status == "completed"
        assert (refund.card_brand, refund.card_last4) == ("mastercard", "5454")
        assert _days_ago(refund.refunded_at) == timedelta(days=3)

        grace = _order(s, "100000008")
        assert _days_ago(grace.refunds[0].refunded_at) == timedelta(days=20)

        heidi = _order(s, "100000009")
        assert heidi.status == "chargeback"
        assert [p.kind for p in heidi.payments] == ["charge", "chargeback"]

        ivan, judy, ken = (_order(s, r) for r in ("100000010", "100000011", "100000012"))
        assert ivan.client_id == judy.client_id == ken.client_id
        assert ivan.client.refund_policy == POLICY_NO_REFUNDS
        assert ivan.client.no_refund_for_charged_period is True
        assert (ivan.subscription.status, ivan.subscription.auto_renew,
                ivan.subscription.billing_period) == ("active", True, "yearly")
        assert ivan.subscription.current_period_end - NOW == timedelta(days=200)
        assert (judy.subscription.status, judy.subscription.auto_renew) == ("cancelled", False)
        assert judy.subscription.current_period_end > NOW
        assert ken.subscription.status == "trial" and ken.total_minor == 0 and ken.payments == []
        assert ken.subscription.trial_end - NOW == timedelta(days=7)

        liam = _order(s, "100000013")
        assert liam.client.refund_policy == "approval_required"
        assert liam.payment_method == "credit_card" and _days_ago(liam.placed_at) == timedelta(days=2)

        mia = _order(s, "100000014")
        assert (mia.client.refund_policy, mia.client.refund_window_days) == ("within_days", 14)
        assert mia.payment_method == "apple_pay"
        assert _days_ago(mia.placed_at) == timedelta(days=10)

        # every payment method and several policies are represented
        methods = set(s.execute(select(Order.payment_method)).scalars())
        assert methods == set(PAYMENT_METHODS)
        policies = set(s.execute(select(Client.refund_policy)).scalars())
        assert policies == {"no_restrictions", "within_days", "approval_required", "no_refunds"}


def test_the_emails_are_unique_per_client(sqlite_engine):
    load_demo(sqlite_engine, now=NOW, extra_orders=60)
    with session_scope(sqlite_engine) as s:
        duplicates = s.execute(
            select(Customer.client_id, Customer.email, func.count())
            .group_by(Customer.client_id, Customer.email).having(func.count() > 1)).all()
        assert duplicates == []


def _snapshot(engine) -> list:
    rows = []
    with session_scope(engine) as s:
        for model, order_by in ((Client, Client.code), (Order, Order.reference),
                                (OrderItem, OrderItem.id), (Payment, Payment.id),
                                (Refund, Refund.id), (Subscription, Subscription.id)):
            for obj in s.execute(select(model).order_by(order_by)).scalars():
                rows.append({c.name: getattr(obj, c.key) for c in model.__table__.columns
                             if c.name not in ("created_at",)})
    return rows


def test_the_demo_is_deterministic_relative_to_its_anchor(tmp_path):
    snapshots = []
    for name in ("a", "b"):
        engine = make_engine(f"sqlite:///{tmp_path / name}.db")
        migrate.upgrade(engine)
        load_demo(engine, now=NOW, extra_orders=30, seed=7)
        snapshots.append(_snapshot(engine))
        engine.dispose()
    assert snapshots[0] == snapshots[1]
    # another anchor shifts every time by the same amount and nothing else
    engine = make_engine(f"sqlite:///{tmp_path / 'c'}.db")
    migrate.upgrade(engine)
    load_demo(engine, now=NOW + timedelta(days=10), extra_orders=30, seed=7)
    shifted = _snapshot(engine)
    engine.dispose()

    def unshift(row):
        return {k: (v - timedelta(days=10) if isinstance(v, datetime) else v)
                for k, v in row.items()}
    assert [unshift(r) for r in shifted] == snapshots[0]


def test_extra_orders_are_seeded(sqlite_engine, tmp_path):
    summary = load_demo(sqlite_engine, now=NOW, extra_orders=25, seed=1)
    assert summary.orders == 22 + 25
    assert summary.references[-1] == "100001025"
    other = make_engine(f"sqlite:///{tmp_path / 'other.db'}")
    migrate.upgrade(other)
    load_demo(other, now=NOW, extra_orders=25, seed=2)
    assert _snapshot(other) != _snapshot(sqlite_engine)
    other.dispose()


def test_if_empty_leaves_a_non_empty_database_alone(sqlite_engine):
    load_demo(sqlite_engine, now=NOW, extra_orders=0)
    summary = load_demo(sqlite_engine, now=NOW, extra_orders=5, if_empty=True)
    assert summary.skipped is True
    with session_scope(sqlite_engine) as s:
        assert s.execute(select(func.count(Order.id))).scalar_one() == 22
    with pytest.raises(ValueError):
        load_demo(sqlite_engine, now=NOW)


def test_naive_anchor_is_refused(sqlite_engine):
    with pytest.raises(ValueError):
        load_demo(sqlite_engine, now=datetime(2024, 6, 3, 12, 0))


def test_demo_loads_on_postgres_too(db_url):
    engine = make_engine(db_url)
    try:
        migrate.upgrade(engine)
        summary = load_demo(engine, now=NOW, extra_orders=10)
        with session_scope(engine) as s:
            assert s.execute(select(func.count(Order.id))).scalar_one() == summary.orders == 32
            assert _order(s, "100000001").placed_at == NOW - timedelta(days=5)
            assert s.execute(select(AuditLog.action)).scalar_one() == "demo.loaded"
    finally:
        engine.dispose()


def test_supportbot_db_demo_command(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    assert main(["db", "demo", "--url", url, "--now", "2024-06-03T14:00:00+02:00",
                 "--orders", "3"]) == 0
    assert "25 orders" in capsys.readouterr().out
    assert main(["db", "demo", "--url", url, "--if-empty"]) == 0
    assert "not loaded" in capsys.readouterr().out
    assert main(["db", "demo", "--url", url]) == 1  # not empty, no --if-empty
    assert "--if-empty" in capsys.readouterr().err
    engine = make_engine(url)
    with session_scope(engine) as s:
        assert _order(s, "100000001").placed_at == NOW - timedelta(days=5)
    engine.dispose()


def test_docs_list_every_fixed_record():
    text = DOCS.read_text(encoding="utf-8")
    for n in range(1, 23):
        assert f"1000000{n:02d}" in text
    for name in ("alice", "bob", "carol", "dan", "erin", "frank", "grace", "heidi", "ivan",
                 "judy", "ken", "liam", "mia"):
        assert re.search(rf"\b{name}@example\.com\b", text), name
