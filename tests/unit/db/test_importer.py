"""`supportbot db import`: schema, precise errors, card numbers, all-or-nothing."""
from __future__ import annotations

import copy
import json
import re
from datetime import datetime, timezone
from pathlib import Path

import pytest
from sqlalchemy import func, select

from supportbot.cli import main
from supportbot.core import vocabulary as v
from supportbot.db import migrate
from supportbot.db.demo import load_demo
from supportbot.db.engine import make_engine, session_scope
from supportbot.db.importer import (
    ImportValidationError,
    format_path,
    import_document,
    import_file,
    load_schema,
)
from supportbot.db.models import Client, Customer, Order, Payment, Refund, Subscription

DOCS = Path(__file__).resolve().parents[3] / "docs" / "data-import.md"


def example_document() -> dict:
    """The example of docs/data-import.md (so the documentation is tested too)."""
    text = DOCS.read_text(encoding="utf-8")
    return json.loads(re.search(r"```json\n(.*?)\n```", text, re.S).group(1))


def _counts(engine) -> dict:
    with session_scope(engine) as s:
        return {m.__tablename__: s.execute(select(func.count(m.id))).scalar_one()
                for m in (Client, Customer, Order, Payment, Refund, Subscription)}


def _errors(engine, document) -> list[str]:
    with pytest.raises(ImportValidationError) as info:
        import_document(engine, document)
    return info.value.errors


def test_the_documented_example_imports(db_url):
    engine = make_engine(db_url)
    try:
        migrate.upgrade(engine)
        summary = import_document(engine, example_document())
        assert (summary.clients, summary.customers, summary.orders, summary.payments,
                summary.refunds, summary.subscriptions) == (2, 2, 2, 3, 1, 1)
        with session_scope(engine) as s:
            order = s.execute(select(Order).where(Order.reference == "300000001")).scalar_one()
            assert order.placed_at == datetime(2024, 5, 20, 7, 15, tzinfo=timezone.utc)
            assert order.paid_at == datetime(2024, 5, 20, 7, 16, tzinfo=timezone.utc)
            assert order.customer.email == "zoe@example.org"  # normalised
            assert order.client.refund_window_days == 30
            assert (order.payments[0].card_brand, order.payments[0].card_last4) == ("visa", "4242")
            assert order.items[0].license_key == "AVS3-7K2M-Q9XP-44TR"
            refunded = s.execute(select(Order).where(Order.reference == "300000002")).scalar_one()
            assert refunded.refunds[0].amount_minor == 11900 and refunded.refunds[0].source == "import"
            assert refunded.payments[1].refund_id == refunded.refunds[0].id
            assert refunded.subscription.status == "cancelled"
            assert refunded.client.no_refund_for_charged_period is True
            # the same address at two clients is two customers
            assert s.execute(select(func.count(Customer.id))).scalar_one() == 2
    finally:
        engine.dispose()


def test_a_wrong_enum_names_record_and_field(sqlite_engine):
    doc = example_document()
    doc["orders"][1]["payment_method"] = "cheque"
    errors = _errors(sqlite_engine, doc)
    assert errors[0].startswith("orders[1].payment_method: 'cheque' is not one of ['credit_card'")
    assert _counts(sqlite_engine)["orders"] == 0


def test_every_problem_is_listed_in_file_order(sqlite_engine):
    doc = example_document()
    doc["orders"][1]["status"] = "shipped"
    doc["clients"][0]["refund_policy"] = "sometimes"
    doc["orders"][0]["items"][0]["quantity"] = 0
    del doc["orders"][0]["currency"]
    errors = _errors(sqlite_engine, doc)
    assert [e.split(":")[0] for e in errors] == [
        "clients[0].refund_policy", "orders[0]", "orders[0].items[0].quantity",
        "orders[1].status"]
    assert "'currency' is a required property" in errors[1]


@pytest.mark.parametrize("mutate, path, fragment", [
    (lambda d: d["orders"][0]["payments"][0]["card"].update(number="4242424242424242"),
     "orders[0].payments[0].card.number", "full card numbers are not accepted"),
    (lambda d: d["orders"][0]["payments"][0]["card"].update(last4="4242424242424242"),
     "orders[0].payments[0].card.last4", "full card number"),
    (lambda d: d["orders"][0]["payments"][0].update(provider_reference="4111 1111 1111 1111"),
     "orders[0].payments[0].provider_reference", "looks like a full card number"),
    (lambda d: d["customers"][0].update(name="5555-5555-5555-4444"),
     "customers[0].name", "looks like a full card number"),
])
def test_full_card_numbers_are_rejected(sqlite_engine, mutate, path, fragment):
    doc = example_document()
    mutate(doc)
    errors = _errors(sqlite_engine, doc)
    assert any(e.startswith(f"{path}: ") and fragment in e for e in errors), errors
    assert _counts(sqlite_engine)["orders"] == 0


def test_digit_runs_that_are_not_card_numbers_are_fine(sqlite_engine):
    doc = example_document()
    doc["orders"][0]["payments"][0]["provider_reference"] = "1234567890123456"  # fails Luhn
    doc["orders"][0]["items"][0]["license_key"] = "4242424242424242"  # license keys are exempt
    import_document(sqlite_engine, doc)
    assert _counts(sqlite_engine)["orders"] == 2


@pytest.mark.parametrize("mutate, expected", [
    (lambda d: d["orders"][0].update(total_minor=9901),
     "orders[0].total_minor: 9901 is not net_minor + vat_minor"),
    (lambda d: d["orders"][0].update(client="nobody"), "orders[0].client: unknown client"),
    (lambda d: d["orders"][0].update(customer_email="x@example.org"),
     "orders[0].customer_email: no customer 'x@example.org'"),
    (lambda d: d["orders"][1].update(reference="300000001"),
     "orders[1].reference: 300000001 appears twice"),
    (lambda d: d["orders"][0]["payments"][0].update(amount_minor=100),
     "orders[0].payments: a paid order needs completed charges of 9900"),
    (lambda d: d["orders"][0].update(status="pending"),
     "orders[0].status: a pending order has no completed charge"),
    (lambda d: d["orders"][1]["payments"].pop(),
     "orders[1].status: a refunded order needs completed refunds of 11900"),
    (lambda d: d["orders"][0]["payments"][0].update(occurred_at="2024-05-20T06:00:00Z"),
     "orders[0].payments[0].occurred_at: is before the order was placed"),
    (lambda d: d["orders"][0]["items"][0].update(unit_price_minor=100),
     "orders[0].items: the items add up to 100"),
    (lambda d: d["orders"][0].update(placed_at="2024-05-20T09:15:00"),
     "orders[0].placed_at: '2024-05-20T09:15:00' does not match"),
    (lambda d: d["customers"].append(copy.deepcopy(d["customers"][0])),
     "customers[2].email: 'zoe@example.org' appears twice for client 'acme-design'"),
    (lambda d: d["clients"][0].pop("refund_window_days"),
     "clients[0]: 'refund_window_days' is required for refund_policy 'within_days'"),
    (lambda d: d["clients"][1].update(refund_window_days=5),
     "clients[1]: 'refund_window_days' is required for refund_policy 'within_days' and not "
     "allowed otherwise"),
    (lambda d: d["subscriptions"][0].update(order="300000009"),
     "subscriptions[0].order: order 300000009 is not in this file"),
    (lambda d: d["subscriptions"][0].update(auto_renew=True),
     "subscriptions[0].auto_renew: a cancelled subscription does not auto-renew"),
    (lambda d: d.update(format_version=2), "format_version: 1 was expected"),
    (lambda d: d.update(extra=[]), "(file): Additional properties are not allowed"),
])
def test_cross_record_problems(sqlite_engine, mutate, expected):
    doc = example_document()
    mutate(doc)
    errors = _errors(sqlite_engine, doc)
    assert any(e.startswith(expected) for e in errors), errors
    assert _counts(sqlite_engine) == dict.fromkeys(_counts(sqlite_engine), 0)


def test_conflicts_with_the_database_reject_the_whole_file(db_url):
    engine = make_engine(db_url)
    try:
        migrate.upgrade(engine)
        load_demo(engine, now=datetime(2024, 6, 3, 12, tzinfo=timezone.utc), extra_orders=0)
        before = _counts(engine)
        doc = example_document()
        doc["orders"][1]["reference"] = "100000001"  # exists in the demo data
        doc["clients"][1]["code"] = "pixelforge"
        errors = _errors(engine, doc)
        assert "orders[1].reference: order 100000001 already exists" in errors
        assert "clients[1].code: client 'pixelforge' already exists" in errors
        assert _counts(engine) == before
    finally:
        engine.dispose()


def test_orders_can_refer_to_clients_and_customers_already_in_the_database(sqlite_engine):
    load_demo(sqlite_engine, now=datetime(2024, 6, 3, 12, tzinfo=timezone.utc), extra_orders=0)
    doc = {"format_version": 1, "orders": [{
        "reference": "300000010", "client": "pixelforge", "customer_email": "ALICE@example.com",
        "placed_at": "2024-06-01T10:00:00Z", "currency": "EUR", "net_minor": 1597,
        "vat_minor": 303, "total_minor": 1900, "payment_method": "paypal", "status": "paid",
        "items": [{"product_name": "PixelForge Brush Pack"}],
        "payments": [{"kind": "charge", "amount_minor": 1900,
                      "occurred_at": "2024-06-01T10:01:00Z"}]}]}
    import_document(sqlite_engine, doc)
    with session_scope(sqlite_engine) as s:
        order = s.execute(select(Order).where(Order.reference == "300000010")).scalar_one()
        assert order.customer.email == "alice@example.com"
        assert order.customer.orders[0].reference == "100000001"


def test_a_database_failure_mid_write_rolls_everything_back(sqlite_engine, monkeypatch):
    """Validation passed, then the write fails half-way: nothing may stay behind."""
    from supportbot.db import importer

    original = importer.Subscription

    def broken(**kwargs):
        kwargs["billing_period"] = "weekly"  # violates the CHECK constraint at flush
        return original(**kwargs)

    monkeypatch.setattr(importer, "Subscription", broken)
    with pytest.raises(ImportValidationError) as info:
        import_document(sqlite_engine, example_document())
    assert info.value.errors[0].startswith("(database): IntegrityError")
    assert _counts(sqlite_engine) == dict.fromkeys(_counts(sqlite_engine), 0)


def test_the_schema_agrees_with_the_core_vocabulary():
    defs = load_schema()["$defs"]
    assert tuple(defs["payment_method"]["enum"]) == v.PAYMENT_METHODS
    assert tuple(defs["client"]["properties"]["refund_policy"]["enum"]) == v.REFUND_POLICIES
    assert tuple(defs["order"]["properties"]["status"]["enum"]) == v.ORDER_STATUSES
    assert tuple(defs["card"]["properties"]["brand"]["enum"]) == v.CARD_BRANDS
    assert tuple(defs["payment"]["properties"]["kind"]["enum"]) == v.MOVEMENT_KINDS
    assert tuple(defs["payment"]["properties"]["status"]["enum"]) == v.MOVEMENT_STATUSES
    assert tuple(defs["subscription"]["properties"]["status"]["enum"]) == v.SUBSCRIPTION_STATUSES
    assert tuple(defs["subscription"]["properties"]["billing_period"]["enum"]) == v.BILLING_PERIODS


def test_format_path():
    assert format_path(["orders", 3, "payment_method"]) == "orders[3].payment_method"
    assert format_path(["orders", 0, "payments", 1]) == "orders[0].payments[1]"
    assert format_path([]) == "(file)"


def test_bad_json_and_missing_files(tmp_path, sqlite_engine):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ImportValidationError, match="not valid JSON"):
        import_file(sqlite_engine, bad)
    with pytest.raises(ImportValidationError, match="cannot read"):
        import_file(sqlite_engine, tmp_path / "missing.json")


def test_supportbot_db_import_command(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    good, bad = tmp_path / "good.json", tmp_path / "bad.json"
    good.write_text(json.dumps(example_document()))
    doc = example_document()
    doc["orders"][1]["payment_method"] = "cheque"
    bad.write_text(json.dumps(doc))
    assert main(["db", "import", str(good), "--url", url]) == 1  # schema not migrated yet
    assert "supportbot db upgrade" in capsys.readouterr().err
    assert main(["db", "upgrade", "--url", url]) == 0
    assert main(["db", "import", str(bad), "--url", url]) == 1
    err = capsys.readouterr().err
    assert "nothing was imported" in err and "orders[1].payment_method: 'cheque'" in err
    assert main(["db", "import", str(good), "--url", url]) == 0
    assert "imported 2 clients, 2 customers, 2 orders" in capsys.readouterr().out
