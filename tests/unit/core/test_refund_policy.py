"""Table-driven tests of the pure refund rules (supportbot.core.refund_policy.decide)."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from supportbot.core import refund_policy as rp
from supportbot.core.refund_policy import ClientPolicy, OrderFacts, RequestedRefund, decide
from supportbot.core.vocabulary import (
    AUTO_REFUNDABLE_PAYMENT_METHODS,
    PAYMENT_METHODS,
    format_date,
)

NOW = datetime(2024, 6, 3, 12, 0, tzinfo=timezone.utc)
PLACED = NOW - timedelta(days=5)

ORDER = OrderFacts(
    reference="100000001", status="paid", payment_method="credit_card", placed_at=PLACED,
    total_minor=4900, vat_minor=782, currency="EUR", card_brand="visa", card_last4="4242",
)
NO_RESTRICTIONS = ClientPolicy("PixelForge Studio", "no_restrictions")
WITHIN_30 = ClientPolicy("NoteNest", "within_days", 30)
FULL = RequestedRefund("no_longer_needed")

CS, PP = "customer_service", "payment_processing"


def test_the_happy_path_is_an_automatic_full_refund():
    decision = decide(ORDER, FULL, NO_RESTRICTIONS, NOW)
    assert decision.automatic is True
    assert decision.outcome == rp.DecisionOutcome.AUTOMATIC_REFUND
    assert decision.team is None and decision.reasons == ()
    assert decision.amount_minor == 4900 and decision.currency == "EUR"
    assert "49.00 EUR" in decision.explanation and "Visa card ending 4242" in decision.explanation


# ---- rule 1: full refunds only -------------------------------------------------------------
@pytest.mark.parametrize(
    "requested, reasons, team",
    [
        (RequestedRefund("other", amount_minor=4900), (), None),  # explicit full amount
        (RequestedRefund("other", amount_minor=4899), (rp.PARTIAL_REFUND,), PP),
        (RequestedRefund("other", amount_minor=1), (rp.PARTIAL_REFUND,), PP),
        (RequestedRefund("other", amount_minor=4901), (rp.AMOUNT_EXCEEDS_TOTAL,), PP),
        (RequestedRefund("other", vat_refund=True), (rp.VAT_REFUND,), PP),
        (RequestedRefund("vat_refund"), (rp.VAT_REFUND,), PP),
    ],
)
def test_rule_1_only_full_refunds_are_automatic(requested, reasons, team):
    decision = decide(ORDER, requested, NO_RESTRICTIONS, NOW)
    assert decision.automatic is (reasons == ())
    assert decision.reasons == reasons
    assert decision.team == team


def test_a_vat_refund_is_for_the_vat_amount():
    decision = decide(ORDER, RequestedRefund("other", vat_refund=True), NO_RESTRICTIONS, NOW)
    assert decision.amount_minor == 782
    assert decision.handoff_reason == rp.VAT_REFUND


# ---- rule 2: the client's policy -----------------------------------------------------------
@pytest.mark.parametrize(
    "policy, reasons, team",
    [
        (ClientPolicy("A", "no_restrictions"), (), None),
        (ClientPolicy("A", "within_days", 30), (), None),
        (ClientPolicy("A", "within_days", 5), (), None),  # exactly 5 days: still inside
        (ClientPolicy("A", "within_days", 4), (rp.WINDOW_PASSED,), CS),
        (ClientPolicy("A", "within_days", 0), (rp.WINDOW_PASSED,), CS),
        (ClientPolicy("A", "approval_required"), (rp.POLICY_APPROVAL,), CS),
        (ClientPolicy("A", "no_refunds"), (rp.POLICY_NONE,), CS),
    ],
)
def test_rule_2_client_policy(policy, reasons, team):
    decision = decide(ORDER, FULL, policy, NOW)
    assert decision.reasons == reasons
    assert decision.automatic is (reasons == ())
    assert decision.team == team


@pytest.mark.parametrize(
    "age, eligible",
    [
        (timedelta(days=0), True),
        (timedelta(days=29, hours=23, minutes=59), True),
        (timedelta(days=30), True),  # day N exactly: eligible (boundary is inclusive)
        (timedelta(days=30, microseconds=1), False),
        (timedelta(days=30, seconds=1), False),
        (timedelta(days=31), False),  # day N+1
        (timedelta(days=-1), True),  # clock skew: placed "in the future" is inside the window
    ],
)
def test_rule_2_window_boundary_is_now_minus_placed_at_at_most_n_days(age, eligible):
    order = replace(ORDER, placed_at=NOW - age)
    decision = decide(order, FULL, WITHIN_30, NOW)
    assert decision.automatic is eligible
    assert (rp.WINDOW_PASSED in decision.reasons) is (not eligible)


def test_rule_2_window_is_compared_in_utc_whatever_the_input_time_zones():
    berlin = timezone(timedelta(hours=2))
    new_york = timezone(timedelta(hours=-4))
    placed = datetime(2024, 5, 1, 23, 30, tzinfo=berlin)  # = 2024-05-01 21:30 UTC
    order = replace(ORDER, placed_at=placed)
    # 30 days later at 21:30 UTC = 17:30 in New York: exactly on the boundary -> eligible
    on_boundary = datetime(2024, 5, 31, 17, 30, tzinfo=new_york)
    assert decide(order, FULL, WITHIN_30, on_boundary).automatic is True
    # one minute later: not eligible, although it is still "May 31" in New York and the
    # calendar date in Berlin would suggest otherwise
    assert decide(order, FULL, WITHIN_30, on_boundary + timedelta(minutes=1)).automatic is False


def test_rule_2_naive_datetimes_are_rejected():
    with pytest.raises(ValueError):
        decide(ORDER, FULL, WITHIN_30, datetime(2024, 6, 3, 12, 0))
    with pytest.raises(ValueError):
        replace(ORDER, placed_at=datetime(2024, 6, 1))


def test_window_passed_explanation_names_the_client_window_and_the_dates():
    order = replace(ORDER, placed_at=NOW - timedelta(days=45))
    decision = decide(order, FULL, WITHIN_30, NOW)
    assert "NoteNest" in decision.explanation and "within 30 days" in decision.explanation
    assert "placed on 19 April 2024" in decision.explanation
    assert "last day for a refund was 19 May 2024" in decision.explanation
    assert "Customer Service" in decision.explanation


def test_just_after_the_window_the_explanation_gives_dates_not_a_rounded_age():
    """30 days and 1 hour: a day count would say "30 days ago" and contradict the refusal."""
    order = replace(ORDER, placed_at=NOW - timedelta(days=30, hours=1))  # 4 May 2024, 11:00 UTC
    decision = decide(order, FULL, WITHIN_30, NOW)
    assert decision.reasons == (rp.WINDOW_PASSED,)
    text = decision.explanation
    assert "30 days ago" not in text
    assert "placed on 4 May 2024 at 11:00 UTC" in text
    assert "last day for a refund was 3 June 2024 (until 11:00 UTC)" in text


# ---- rule 3: the payment method ------------------------------------------------------------
@pytest.mark.parametrize("method", PAYMENT_METHODS)
def test_rule_3_payment_method(method):
    decision = decide(replace(ORDER, payment_method=method, card_last4=None), FULL,
                      NO_RESTRICTIONS, NOW)
    eligible = method in {"credit_card", "paypal", "apple_pay", "alipay", "direct_debit",
                          "amazon_pay"}
    assert decision.automatic is eligible
    assert decision.reasons == (() if eligible else (rp.METHOD_NOT_ELIGIBLE,))
    assert decision.team == (None if eligible else CS)


def test_the_eligible_methods_are_exactly_the_six_of_seed_001():
    assert set(AUTO_REFUNDABLE_PAYMENT_METHODS) == {
        "credit_card", "paypal", "apple_pay", "alipay", "direct_debit", "amazon_pay"}


# ---- rule 4: paid, not refunded, not in chargeback -----------------------------------------
@pytest.mark.parametrize(
    "changes, reasons, outcome, team",
    [
        (dict(status="pending"), (rp.PAYMENT_NOT_RECEIVED,), rp.DecisionOutcome.HANDOFF, PP),
        (dict(status="cancelled"), (rp.ORDER_WAS_CANCELLED,), rp.DecisionOutcome.NOTHING_TO_REFUND, None),
        (dict(status="chargeback"), (rp.CHARGEBACK,), rp.DecisionOutcome.HANDOFF, PP),
        (dict(status="refunded", refunded_minor=4900), (rp.ALREADY_REFUNDED,),
         rp.DecisionOutcome.ALREADY_REFUNDED, None),
        (dict(refunded_minor=4900), (rp.ALREADY_REFUNDED,), rp.DecisionOutcome.ALREADY_REFUNDED, None),
        (dict(status="partially_refunded", refunded_minor=1000), (rp.PARTIALLY_REFUNDED,),
         rp.DecisionOutcome.HANDOFF, PP),
        (dict(pending_refund_minor=4900), (rp.REFUND_IN_PROGRESS,), rp.DecisionOutcome.ALREADY_REFUNDED,
         None),
        (dict(has_failed_refund=True), (rp.REFUND_FAILED,), rp.DecisionOutcome.HANDOFF, PP),
    ],
)
def test_rule_4_order_state(changes, reasons, outcome, team):
    decision = decide(replace(ORDER, **changes), FULL, NO_RESTRICTIONS, NOW)
    assert decision.automatic is False
    assert decision.reasons == reasons
    assert decision.outcome == outcome
    assert decision.team == team


def test_already_refunded_needs_no_person_and_says_so():
    decision = decide(replace(ORDER, status="refunded", refunded_minor=4900), FULL,
                      NO_RESTRICTIONS, NOW)
    assert decision.handoff_reason is None
    assert "already been refunded" in decision.explanation


# ---- all failing reasons are collected; the team follows seed 002 ---------------------------
def test_all_failing_reasons_are_collected_in_rule_order():
    order = replace(ORDER, status="pending", payment_method="wire_transfer",
                    placed_at=NOW - timedelta(days=45), card_last4=None)
    decision = decide(order, RequestedRefund("other", amount_minor=100), WITHIN_30, NOW)
    assert decision.reasons == (rp.PARTIAL_REFUND, rp.WINDOW_PASSED, rp.METHOD_NOT_ELIGIBLE,
                                rp.PAYMENT_NOT_RECEIVED)
    assert decision.team == PP  # Payment Processing owns the harder part
    assert decision.handoff_reason == rp.PARTIAL_REFUND
    # one customer-facing sentence per reason
    for fragment in ("Partial refunds", "30 days", "wire transfer", "not received"):
        assert fragment in decision.explanation


def test_full_refund_needing_a_person_goes_to_customer_service():
    order = replace(ORDER, payment_method="wire_transfer", placed_at=NOW - timedelta(days=45))
    decision = decide(order, FULL, WITHIN_30, NOW)
    assert decision.reasons == (rp.WINDOW_PASSED, rp.METHOD_NOT_ELIGIBLE)
    assert decision.team == CS
    assert decision.handoff_reason == rp.WINDOW_PASSED


@pytest.mark.parametrize("policy", [WITHIN_30, ClientPolicy("A", "approval_required")])
def test_a_duplicate_order_that_is_not_automatic_goes_to_payment_processing(policy):
    order = replace(ORDER, placed_at=NOW - timedelta(days=45))
    decision = decide(order, RequestedRefund("duplicate_order"), policy, NOW)
    assert decision.automatic is False
    assert decision.team == PP
    assert decision.handoff_reason == rp.DUPLICATE_PAYMENT


def test_a_duplicate_order_that_is_eligible_is_automatic():
    decision = decide(replace(ORDER, payment_method="paypal", card_last4=None),
                      RequestedRefund("duplicate_order"), NO_RESTRICTIONS, NOW)
    assert decision.automatic is True
    assert "PayPal" in decision.explanation


# ---- client terms: the subscription vendor of seed 000 --------------------------------------
SUBSCRIPTION_VENDOR = ClientPolicy("ClearFace Cloud", "no_refunds",
                                   no_refund_for_charged_period=True)
PERIOD_END = NOW + timedelta(days=200)


def test_a_charged_subscription_period_is_not_refunded_but_can_be_cancelled():
    order = replace(ORDER, subscription_status="active", subscription_period_end=PERIOD_END,
                    total_minor=29900, vat_minor=4774)
    decision = decide(order, FULL, SUBSCRIPTION_VENDOR, NOW)
    assert decision.automatic is False
    assert decision.reasons == (rp.POLICY_NONE, rp.SUBSCRIPTION_PERIOD_CHARGED)
    assert decision.team == CS
    assert decision.alternatives == (rp.ALTERNATIVE_CANCEL_AT_PERIOD_END,)
    assert "cancel" in decision.explanation and format_date(PERIOD_END) in decision.explanation


def test_charged_period_term_applies_even_with_an_otherwise_permissive_policy():
    vendor = ClientPolicy("V", "no_restrictions", no_refund_for_charged_period=True)
    order = replace(ORDER, subscription_status="active", subscription_period_end=PERIOD_END)
    decision = decide(order, FULL, vendor, NOW)
    assert decision.reasons == (rp.SUBSCRIPTION_PERIOD_CHARGED,)
    assert decision.automatic is False


def test_a_cancelled_subscription_is_told_when_it_ends_and_offered_nothing_else():
    order = replace(ORDER, subscription_status="cancelled", subscription_period_end=PERIOD_END)
    decision = decide(order, FULL, SUBSCRIPTION_VENDOR, NOW)
    assert rp.SUBSCRIPTION_PERIOD_CHARGED in decision.reasons
    assert decision.alternatives == ()
    assert "already cancelled" in decision.explanation


def test_a_trial_charged_nothing_so_there_is_nothing_to_refund():
    order = replace(ORDER, total_minor=0, vat_minor=0, subscription_status="trial",
                    subscription_period_end=NOW + timedelta(days=7))
    decision = decide(order, FULL, SUBSCRIPTION_VENDOR, NOW)
    assert decision.outcome == rp.DecisionOutcome.NOTHING_TO_REFUND
    assert rp.NOTHING_TO_REFUND in decision.reasons
    assert rp.SUBSCRIPTION_PERIOD_CHARGED not in decision.reasons  # nothing was charged
    assert decision.team is None


def test_term_does_not_apply_to_orders_without_subscription():
    vendor = ClientPolicy("V", "no_restrictions", no_refund_for_charged_period=True)
    assert decide(ORDER, FULL, vendor, NOW).automatic is True


# ---- inputs ---------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs", [
    dict(reason="because"), dict(reason="other", amount_minor=0),
    dict(reason="other", amount_minor=-5)])
def test_invalid_requests_are_refused(kwargs):
    with pytest.raises(ValueError):
        RequestedRefund(**kwargs)


@pytest.mark.parametrize("kwargs", [
    dict(client_name="A", category="sometimes"),
    dict(client_name="A", category="within_days"),
    dict(client_name="A", category="within_days", window_days=-1)])
def test_invalid_policies_are_refused(kwargs):
    with pytest.raises(ValueError):
        ClientPolicy(**kwargs)


def test_every_reason_code_is_routed_or_explicitly_teamless():
    from supportbot.core.routing import NO_TEAM_REASONS, ROUTING

    for code in rp.REASON_CODES:
        assert code in ROUTING or code in NO_TEAM_REASONS, code
    assert rp.DUPLICATE_PAYMENT in ROUTING
