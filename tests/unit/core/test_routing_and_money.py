from __future__ import annotations

from datetime import date

import pytest

from supportbot.core.routing import ROUTING, pick_team, team_for
from supportbot.core.timeutil import add_business_days, business_days_between, parse_iso
from supportbot.core.vocabulary import TEAMS, format_money, parse_money

CS, PP = "customer_service", "payment_processing"


@pytest.mark.parametrize("code, team", [
    ("unknown_charge", CS), ("redeliver_order_information", CS), ("payment_method_change", CS),
    ("subscription_cancellation", CS), ("subscription_reinstatement", CS),
    ("full_refund_review", CS), ("quote_request", CS), ("purchase_order", CS),
    ("technical_support", CS),
    ("manual_payment", PP), ("duplicate_payment", PP), ("overpayment", PP),
    ("underpayment", PP), ("duplicate_card_charge", PP), ("partial_refund", PP),
    ("vat_refund", PP), ("payment_missing", PP), ("refund_missing", PP), ("tax_question", PP),
    ("vendor_form", PP), ("w8_w9_request", PP), ("payment_delinquency", PP),
    ("processing_error", PP), ("chargeback", PP),
])
def test_seed_002_routing(code, team):
    assert team_for(code) == team


def test_routing_table_only_names_the_two_teams_and_unknown_codes_go_to_customer_service():
    assert set(ROUTING.values()) == set(TEAMS)
    assert team_for("something_new") == CS


def test_pick_team_prefers_payment_processing_and_ignores_teamless_reasons():
    assert pick_team(["refund_window_passed", "chargeback"]) == PP
    assert pick_team(["refund_window_passed"]) == CS
    assert pick_team(["already_refunded"]) is None
    assert pick_team([]) is None


@pytest.mark.parametrize("minor, currency, text", [
    (4900, "EUR", "49.00 EUR"), (5, "usd", "0.05 USD"), (0, "EUR", "0.00 EUR"),
    (1234, "JPY", "1234 JPY"), (-250, "EUR", "-2.50 EUR")])
def test_format_money(minor, currency, text):
    assert format_money(minor, currency) == text


@pytest.mark.parametrize("text, currency, minor", [
    ("49", "EUR", 4900), ("49.9", "EUR", 4990), ("0,05", "EUR", 5), ("1234", "JPY", 1234),
    (" 12.50 ", "USD", 1250), ("1,049.00", "USD", 104900), ("1.234,56", "EUR", 123456),
    ("1.234", "EUR", 123400), ("0.10", "EUR", 10), ("49.99", None, 4999),
    # zero-decimal currencies: the minor unit is the yen itself, never yen / 100
    ("1200", "JPY", 1200), ("1,200", "JPY", 1200), ("1200.00", "JPY", 1200),
    ("12,000", "jpy", 12000), ("5000", "KRW", 5000)])
def test_parse_money_is_exact(text, currency, minor):
    assert parse_money(text, currency) == minor


@pytest.mark.parametrize("text, currency", [("1.2345", "EUR"), ("1.5", "JPY"), ("abc", "EUR"),
                                            ("-1", "EUR"), ("NaN", "EUR"), ("12.", "EUR"),
                                            ("0.125", "USD"), ("1,2,3", "EUR"), ("", "EUR")])
def test_parse_money_rejects(text, currency):
    with pytest.raises(ValueError):
        parse_money(text, currency)


@pytest.mark.parametrize("start, end, days", [
    (date(2024, 6, 3), date(2024, 6, 3), 0),  # Monday -> Monday
    (date(2024, 6, 3), date(2024, 6, 7), 4),  # Mon -> Fri
    (date(2024, 6, 7), date(2024, 6, 10), 1),  # Fri -> Mon
    (date(2024, 6, 3), date(2024, 6, 17), 10),  # two weeks
    (date(2024, 5, 14), date(2024, 6, 3), 14),  # 20 calendar days
    (date(2024, 6, 8), date(2024, 6, 9), 0),  # Sat -> Sun
])
def test_business_days_between(start, end, days):
    assert business_days_between(start, end) == days


def test_add_business_days_skips_weekends():
    assert add_business_days(date(2024, 6, 7), 1) == date(2024, 6, 10)
    assert add_business_days(date(2024, 6, 3), 10) == date(2024, 6, 17)


def test_parse_iso_converts_offsets_to_utc_and_refuses_naive_times():
    assert parse_iso("2024-06-01T02:00:00+02:00").isoformat() == "2024-06-01T00:00:00+00:00"
    assert parse_iso("2024-06-01T00:00:00Z").utcoffset().total_seconds() == 0
    with pytest.raises(ValueError):
        parse_iso("2024-06-01T00:00:00")


def test_a_person_asked_for_mid_task_comes_from_the_team_that_owns_the_task():
    from supportbot.core.routing import ROUTING, TASK_REASONS, team_for_task

    assert team_for_task("duplicate_charge") == "payment_processing"
    assert team_for_task("refund_status") == "payment_processing"
    assert team_for_task("tax_question") == "payment_processing"
    assert team_for_task("get_license") == "customer_service"
    assert team_for_task(None) == "customer_service"
    # every task reason is routed explicitly, not by the unknown-code default
    assert set(TASK_REASONS.values()) <= set(ROUTING)
