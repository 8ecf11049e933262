"""The shared formats of supportbot.core.vocabulary, the status enums of the views and the
refund-reason table: one definition each, read the same way by every layer."""
from __future__ import annotations

import json
import subprocess
import sys
from datetime import date, datetime, timedelta, timezone

import pytest

from supportbot.core import vocabulary as v
from supportbot.core.refund_policy import DecisionOutcome
from supportbot.core.refund_reasons import (
    REFUND_REASON_PHRASES,
    REFUND_REASON_TITLES,
    reason_from_text,
)
from supportbot.core.views import (
    CodeCheckStatus,
    CodeDispatchStatus,
    RefundOutcomeStatus,
    SubscriptionChangeStatus,
    VerificationStatus,
)


# ---- order references and email addresses ------------------------------------------------------
@pytest.mark.parametrize("text, reference", [
    ("100000001", "100000001"),
    ("my order is #100000001.", "100000001"),
    ("ref:100000001", "100000001"),
    ("order no. 100000001, thanks", "100000001"),
    ("1000000012", None),  # ten digits: not a reference with a digit too many
    ("01000000012", None),
    ("12345678", None),
    ("", None),
    (None, None),
])
def test_a_reference_is_exactly_nine_digits_inside_text(text, reference):
    assert v.find_reference(text) == reference


@pytest.mark.parametrize("text, reference", [
    (" #100000001 ", "100000001"), ("# 100000001", "100000001"), ("100000001", "100000001"),
    ("1000000012", None), ("ref 100000001", None), ("10000000a", None), (None, None)])
def test_normalize_reference_takes_a_whole_value(text, reference):
    assert v.normalize_reference(text) == reference


@pytest.mark.parametrize("text, email", [
    (" Anna.Smith@Example.COM ", "anna.smith@example.com"),
    ("o'neil+shop@mail.example.co.uk", "o'neil+shop@mail.example.co.uk"),
    ("alice@example", None), ("alice@@example.com", None), ("alice example.com", None),
    ("alice@example.com.", None), ("", None)])
def test_normalize_email(text, email):
    assert v.normalize_email(text) == email


# ---- amounts ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("text, value", [
    ("49", "49"), ("49.9", "49.9"), ("12,50", "12.50"), ("1,049.00", "1049.00"),
    ("1.234,56", "1234.56"), ("1 234,56", "1234.56"), ("1'234.50", "1234.50"),
    ("1.234", "1234"), ("1,234,567.8", "1234567.8"), ("0.125", "0.125"), ("0,05", "0.05")])
def test_parse_amount_reads_the_separators_people_write(text, value):
    assert str(v.parse_amount(text)) == value


@pytest.mark.parametrize("text", ["", "abc", "-1", "NaN", "1e3", "12.", "1,2,3", "1.23.4,5"])
def test_parse_amount_refuses_what_is_not_an_amount(text):
    with pytest.raises(ValueError):
        v.parse_amount(text)


def test_yen_are_not_hundredths():
    """The NLU normalises "¥1,200" to "1200.00"; the one parser makes that 1200 minor units
    (JPY has no decimals), not 120000 as a float * 100 would."""
    assert v.parse_money("1200.00", "JPY") == 1200
    assert v.parse_money("1,200", "JPY") == 1200
    assert v.format_money(v.parse_money("1,200", "JPY"), "JPY") == "1200 JPY"
    with pytest.raises(ValueError):
        v.parse_money("1200.50", "JPY")
    assert v.parse_money("1200.00", "EUR") == 120000


# ---- what the customer is told ---------------------------------------------------------------------
def test_dates_and_durations_read_naturally():
    assert v.format_date(date(2024, 6, 3)) == "3 June 2024"
    assert v.format_date(datetime(2024, 12, 25, 23, 0, tzinfo=timezone.utc)) == "25 December 2024"
    assert v.format_time(datetime(2024, 6, 3, 9, 5, tzinfo=timezone.utc)) == "09:05 UTC"
    assert v.format_duration(timedelta(minutes=10)) == "10 minutes"
    assert v.format_duration(timedelta(minutes=1)) == "1 minute"
    assert v.format_duration(timedelta(hours=1)) == "1 hour"
    assert v.format_duration(timedelta(hours=36)) == "36 hours"
    assert v.format_duration(timedelta(days=2)) == "2 days"


@pytest.mark.parametrize("method, brand, last4, text", [
    ("credit_card", "visa", "4242", "your Visa card ending 4242"),
    ("apple_pay", "mastercard", "5454", "your Mastercard card ending 5454"),
    ("credit_card", None, "1111", "your card ending 1111"),
    ("credit_card", None, None, "your card"),
    ("paypal", None, None, "your PayPal account"),
    ("direct_debit", None, None, "your bank account"),
    ("purchase_order", None, None, "the original payment method"),
    (None, None, None, "the original payment method")])
def test_describe_payment(method, brand, last4, text):
    assert v.describe_payment(method, brand, last4) == text


# ---- status enums ------------------------------------------------------------------------------
ENUMS = (VerificationStatus, CodeDispatchStatus, CodeCheckStatus, RefundOutcomeStatus,
         SubscriptionChangeStatus, DecisionOutcome)


@pytest.mark.parametrize("enum", ENUMS)
def test_statuses_are_their_strings(enum):
    for member in enum:
        assert member == member.value and isinstance(member, str)
        assert str(member) == f"{member}" == member.value
        assert json.dumps({"status": member}) == json.dumps({"status": member.value})
        assert enum(member.value) is member


def test_the_status_values_are_the_documented_ones():
    assert {s.value for s in VerificationStatus} == {"verified", "mismatch", "throttled", "invalid"}
    assert {s.value for s in CodeDispatchStatus} == {"sent", "throttled", "not_verified",
                                                     "unavailable"}
    assert {s.value for s in CodeCheckStatus} == {"ok", "wrong", "expired", "throttled",
                                                  "no_challenge"}
    assert {s.value for s in RefundOutcomeStatus} == {
        "refunded", "already_refunded", "handed_off", "not_verified", "in_progress",
        "nothing_to_refund", "confirmation_required"}
    assert {s.value for s in DecisionOutcome} == {
        "automatic_refund", "handoff", "already_refunded", "nothing_to_refund"}


# ---- refund reasons ---------------------------------------------------------------------------------
def test_every_reason_of_the_form_has_a_title_and_only_those():
    assert tuple(REFUND_REASON_TITLES) == v.REFUND_REASONS
    assert set(REFUND_REASON_PHRASES) <= set(v.REFUND_REASONS)


@pytest.mark.parametrize("text, code", [
    ("I was charged twice for the same thing", "duplicate_order"),
    ("bought the wrong edition by mistake", "wrong_product_ordered"),
    ("it crashes and won't install", "product_not_working"),
    ("it doesnt work at all", "product_not_working"),
    ("Didn’t mean to renew", "unintended_renewal"),
    ("it auto-renewed", "unintended_renewal"),
    ("No longer needed", "no_longer_needed"),  # a button title
    ("wrong_product_ordered", "wrong_product_ordered"),  # a code
    ("my cat likes boxes", "other"),
    ("", "other")])
def test_reason_from_text(text, code):
    assert reason_from_text(text) == code


def test_the_reason_table_needs_neither_spacy_nor_rasa():
    code = ("import sys, supportbot.core.refund_reasons, supportbot.core.vocabulary; "
            "print(sorted(m for m in ('spacy', 'rasa', 'sqlalchemy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
