"""`supportbot refund check`: the decision, without issuing anything."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from supportbot.cli import main
from supportbot.db import migrate
from supportbot.db.demo import load_demo
from supportbot.db.engine import make_engine, session_scope
from supportbot.db.models import AuditLog, Refund, RefundRequest

ANCHOR_ISO = "2024-06-03T12:00:00Z"


@pytest.fixture(scope="module")
def demo_url(tmp_path_factory):
    from datetime import datetime, timezone

    path = tmp_path_factory.mktemp("cli") / "demo.db"
    engine = make_engine(f"sqlite:///{path}")
    migrate.upgrade(engine)
    load_demo(engine, now=datetime(2024, 6, 3, 12, tzinfo=timezone.utc), extra_orders=0)
    engine.dispose()
    return f"sqlite:///{path}"


def check(capsys, url, *args) -> tuple[int, str, str]:
    code = main(["refund", "check", "--url", url, *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_json_decision_for_an_eligible_order(demo_url, capsys):
    code, out, _ = check(capsys, demo_url, "--order", "100000001", "--email",
                         " Alice@Example.com ", "--at", ANCHOR_ISO, "--json")
    assert code == 0
    result = json.loads(out)
    assert result["automatic"] is True and result["outcome"] == "automatic_refund"
    assert result["amount_minor"] == 4900 and result["amount"] == "49.00 EUR"
    assert result["reasons"] == [] and result["team"] is None


@pytest.mark.parametrize("at, automatic", [
    ("2024-06-07T12:00:00Z", True),  # day 14 exactly (Mia bought 2024-05-24 12:00 UTC)
    ("2024-06-07T14:00:00+02:00", True),  # the same instant in another time zone
    ("2024-06-07T12:00:01Z", False),  # one second later
    ("2024-06-08T12:00:00Z", False),  # day 15
])
def test_the_window_boundary_with_at(demo_url, capsys, at, automatic):
    code, out, _ = check(capsys, demo_url, "--order", "100000014", "--email", "mia@example.com",
                         "--at", at, "--json")
    result = json.loads(out)
    assert code == 0 and result["automatic"] is automatic
    assert (result["reasons"] == ["refund_window_passed"]) is (not automatic)


def test_partial_amount_and_reason(demo_url, capsys):
    code, out, _ = check(capsys, demo_url, "--order", "100000001", "--email", "alice@example.com",
                         "--at", ANCHOR_ISO, "--amount", "10.50", "--reason", "product_not_working",
                         "--json")
    result = json.loads(out)
    assert result["amount_minor"] == 1050 and result["reasons"] == ["partial_refund"]
    assert result["team"] == "payment_processing"


def test_human_readable_output(demo_url, capsys):
    code, out, _ = check(capsys, demo_url, "--order", "100000002", "--email", "bob@example.com",
                         "--at", ANCHOR_ISO)
    assert code == 0
    assert "HANDOFF -> customer_service" in out and "refund_window_passed" in out


@pytest.mark.parametrize("args, message", [
    (["--order", "100000001", "--email", "bob@example.com"], "no order matches"),
    (["--order", "999999999", "--email", "alice@example.com"], "no order matches"),
    (["--order", "12", "--email", "alice@example.com"], "9-digit"),
    (["--order", "100000001", "--email", "alice@example.com", "--at", "2024-06-03T12:00"],
     "--at"),
    (["--order", "100000001", "--email", "alice@example.com", "--amount", "1.2345"],
     "decimals"),
])
def test_errors(demo_url, capsys, args, message):
    code, _, err = check(capsys, demo_url, *args)
    assert code == 1 and message in err


def test_check_issues_nothing(demo_url, capsys):
    check(capsys, demo_url, "--order", "100000001", "--email", "alice@example.com", "--json")
    engine = make_engine(demo_url)
    with session_scope(engine) as s:
        assert s.execute(select(func.count(Refund.id)).where(Refund.source != "demo")).scalar_one() == 0
        assert s.execute(select(func.count(RefundRequest.id))).scalar_one() == 0
        assert s.execute(select(func.count(AuditLog.id))).scalar_one() == 1  # demo.loaded
    engine.dispose()


@pytest.mark.parametrize("at", [
    "2024-05-24T11:59:59Z",  # one second before Mia's purchase (2024-05-24 12:00 UTC)
    "2024-05-24T13:59:59+02:00",  # the same instant in another time zone
    "2020-01-01T00:00:00Z",
])
def test_at_before_the_purchase_is_rejected(demo_url, capsys, at):
    code, out, err = check(capsys, demo_url, "--order", "100000014", "--email", "mia@example.com",
                           "--at", at, "--json")
    assert code == 2 and out == ""
    assert "--at" in err and "is before order 100000014 was placed (2024-05-24T12:00:00+00:00)" in err
    assert "automatic" not in err.lower()


def test_at_the_purchase_instant_is_accepted(demo_url, capsys):
    code, out, _ = check(capsys, demo_url, "--order", "100000014", "--email", "mia@example.com",
                         "--at", "2024-05-24T12:00:00Z", "--json")
    assert code == 0 and json.loads(out)["automatic"] is True
