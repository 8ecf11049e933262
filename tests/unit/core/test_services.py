"""The SupportServices facade against the demo data set (SQLite and PostgreSQL)."""
from __future__ import annotations

import subprocess
import sys
from dataclasses import fields
from datetime import timedelta

import pytest
from sqlalchemy import select

from supportbot.core.errors import ConfirmationRequired, NotVerified
from supportbot.core.services import SupportServices
from supportbot.core.views import ChargeHint, LinkDispatch, OrderSummary
from supportbot.core.vocabulary import format_date, format_duration
from supportbot.db.engine import session_scope
from supportbot.db.models import AuditLog, HandoffTicket
from supportbot.settings import Settings

EMAILS = {
    "100000001": "alice@example.com", "100000002": "bob@example.com",
    "100000003": "carol@example.com", "100000004": "dan@example.com",
    "100000005": "erin@example.com", "100000006": "erin@example.com",
    "100000007": "frank@example.com", "100000008": "grace@example.com",
    "100000009": "heidi@example.com", "100000010": "ivan@example.com",
    "100000011": "judy@example.com", "100000012": "ken@example.com",
    "100000013": "liam@example.com", "100000014": "mia@example.com",
}


def verify(services, reference, conversation="conv-1"):
    result = services.verify_order(conversation, EMAILS[reference], reference)
    assert result.status == "verified", result
    return result


def prove_email(services, codes, reference, conversation="conv-1", purpose="refund"):
    assert services.send_one_time_code(conversation, reference, purpose).status == "sent"
    assert services.check_one_time_code(conversation, reference, codes.last, purpose).status == "ok"


CODE_PURPOSE = {"refund": "refund", "cancel_subscription": "subscription",
                "reinstate_subscription": "subscription", "change_payment_method": "payment"}


def confirm(services, codes, reference, purpose, conversation="conv-1", reason=None, code=True):
    """The customer enters the code (unless `code=False`), is asked and answers yes."""
    if code:
        prove_email(services, codes, reference, conversation, CODE_PURPOSE[purpose])
    asked = services.ask_confirmation(conversation, reference, purpose, reason=reason)
    assert asked.status == "pending", asked
    assert services.answer_confirmation(conversation, reference, purpose, True) == "confirmed"
    return asked


# ---- wiring ---------------------------------------------------------------------------------
def test_importing_the_facade_connects_to_nothing():
    code = ("import supportbot.core.services, supportbot.db.engine as e; "
            "print(len(e._engines))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "0"


def test_from_settings_does_not_connect(tmp_path):
    settings = Settings(var_dir=tmp_path, outbox_dir=tmp_path / "outbox",
                        database_url="postgresql+psycopg2://nobody@127.0.0.1:1/nowhere")
    services = SupportServices.from_settings(settings)  # port 1: would fail if it connected
    assert services.provider.name == "dry-run"
    assert services.handoff.webhook_url is None
    services.close()


# ---- verification and disclosure ------------------------------------------------------------
def test_verify_order_discloses_a_summary(services):
    result = verify(services, "100000001")
    order = result.order
    assert isinstance(order, OrderSummary)
    assert (order.reference, order.client_name, order.products) == (
        "100000001", "PixelForge Studio", ("PixelForge Photo Editor 5",))
    assert (order.total_minor, order.currency, order.net_minor, order.vat_minor) == (
        4900, "EUR", 4118, 782)
    assert (order.payment_method, order.card_brand, order.card_last4) == (
        "credit_card", "visa", "4242")
    assert order.status == "paid" and order.masked_email == "a***e@example.com"
    assert order.technical_support == "support@pixelforge.example"
    assert order.placed_at == services.clock() - timedelta(days=5)
    assert order.subscription is None and order.pending_payment_info is None
    # no license key, no full email anywhere in the summary
    text = repr(order)
    assert "alice@example.com" not in text and "PFG-" not in text


def test_mismatch_discloses_nothing(services):
    result = services.verify_order("conv-1", "bob@example.com", "100000001")
    assert result.status == "mismatch" and result.order is None


DISCLOSURE_METHODS = (
    "order_summary", "resend_order_confirmation", "resend_license", "send_invoice",
    "send_payment_method_link", "find_duplicate_orders", "refund_status", "subscription")


def test_disclosure_needs_verification_in_this_conversation(services, mailer):
    verify(services, "100000001", conversation="conv-other")
    for method in DISCLOSURE_METHODS:
        for reference in ("100000001", "999999999", "garbage"):
            with pytest.raises(NotVerified):
                getattr(services, method)("conv-1", reference)
    assert mailer.messages == []
    # ... and the same calls work in the conversation that verified the order (a new payment
    # method only after a confirmation: tests/unit/core/test_confirmations.py)
    for method in DISCLOSURE_METHODS:
        if method == "send_payment_method_link":
            with pytest.raises(ConfirmationRequired):
                services.send_payment_method_link("conv-other", "100000001")
            continue
        getattr(services, method)("conv-other", "100000001")


def test_refund_decision_needs_verification(services):
    with pytest.raises(NotVerified):
        services.refund_decision("conv-1", "100000001", "other")


def test_money_and_subscription_changes_return_not_verified(services, provider):
    assert services.issue_refund("conv-1", "100000001", "other", "k").status == "not_verified"
    assert services.cancel_subscription("conv-1", "100000010").status == "not_verified"
    assert services.reinstate_subscription("conv-1", "100000011").status == "not_verified"
    assert services.send_one_time_code("conv-1", "100000001").status == "not_verified"
    assert provider.calls == []


# ---- the fixed demo records: the decisions the conversation tests rely on --------------------
DEMO_DECISIONS = [  # reference, reason, automatic, outcome, team, reasons
    ("100000001", "no_longer_needed", True, "automatic_refund", None, ()),
    ("100000002", "no_longer_needed", False, "handoff", "customer_service",
     ("refund_window_passed",)),
    ("100000003", "wrong_product_ordered", False, "handoff", "customer_service",
     ("payment_method_not_eligible",)),
    ("100000004", "other", False, "handoff", "payment_processing",
     ("payment_method_not_eligible", "payment_not_received")),
    ("100000006", "duplicate_order", True, "automatic_refund", None, ()),
    ("100000007", "other", False, "already_refunded", None, ("already_refunded",)),
    ("100000008", "other", False, "already_refunded", None, ("already_refunded",)),
    ("100000009", "other", False, "handoff", "payment_processing",
     ("refund_window_passed", "chargeback")),
    ("100000010", "unintended_renewal", False, "handoff", "customer_service",
     ("policy_no_refunds", "subscription_period_charged")),
    ("100000011", "no_longer_needed", False, "handoff", "customer_service",
     ("policy_no_refunds", "subscription_period_charged")),
    ("100000012", "no_longer_needed", False, "nothing_to_refund", None,
     ("nothing_to_refund", "policy_no_refunds")),
    ("100000013", "product_not_working", False, "handoff", "customer_service",
     ("policy_approval_required",)),
    ("100000014", "no_longer_needed", True, "automatic_refund", None, ()),
]


def test_demo_record_decisions(services, demo_engine):
    for reference, reason, automatic, outcome, team, reasons in DEMO_DECISIONS:
        verify(services, reference)
        decision = services.refund_decision("conv-1", reference, reason)
        assert (decision.automatic, decision.outcome, decision.team, decision.reasons) == (
            automatic, outcome, team, reasons), reference
    with session_scope(demo_engine) as session:
        entries = session.execute(select(AuditLog).where(
            AuditLog.action == "refund.decision_preview").order_by(AuditLog.id)).scalars().all()
    assert [e.details["outcome"] for e in entries] == [row[3] for row in DEMO_DECISIONS]


def test_ivan_is_offered_cancellation_at_period_end(services):
    verify(services, "100000010")
    decision = services.refund_decision("conv-1", "100000010", "unintended_renewal")
    assert decision.alternatives == ("cancel_at_period_end",)
    end = format_date(services.clock() + timedelta(days=200))
    assert end in decision.explanation


# ---- issuing refunds ------------------------------------------------------------------------
def test_alice_gets_her_refund_after_proving_her_email(services, provider, codes, mailer):
    verify(services, "100000001")
    blocked = services.issue_refund("conv-1", "100000001", "no_longer_needed", "key-1")
    assert blocked.status == "not_verified" and blocked.code_required is True
    assert provider.calls == []
    dispatch = services.send_one_time_code("conv-1", "100000001")
    assert dispatch.masked_email == "a***e@example.com"
    assert codes.last in mailer.bodies_to("alice@example.com")[-1]
    assert services.check_one_time_code("conv-1", "100000001", codes.last).status == "ok"
    # the code alone moves nothing: the customer's "yes" to exactly this refund is needed
    unconfirmed = services.issue_refund("conv-1", "100000001", "no_longer_needed", "key-1")
    assert unconfirmed.status == "confirmation_required" and provider.calls == []
    confirm(services, codes, "100000001", "refund", reason="no_longer_needed", code=False)
    outcome = services.issue_refund("conv-1", "100000001", "no_longer_needed", "key-1")
    assert outcome.status == "refunded"
    assert (outcome.refund.amount_minor, outcome.refund.card_last4) == (4900, "4242")
    assert len(provider.calls) == 1
    status = services.refund_status("conv-1", "100000001")
    assert len(status.refunds) == 1 and status.overdue is False


def test_a_code_proved_in_another_conversation_does_not_count(services, codes, provider):
    verify(services, "100000001", conversation="conv-a")
    prove_email(services, codes, "100000001", conversation="conv-a")
    verify(services, "100000001", conversation="conv-b")
    outcome = services.issue_refund("conv-b", "100000001", "other", "k")
    assert outcome.status == "not_verified" and outcome.code_required
    assert provider.calls == []


def test_a_refund_that_is_not_automatic_is_handed_off_without_a_code(services, demo_engine):
    verify(services, "100000002")
    outcome = services.issue_refund("conv-1", "100000002", "no_longer_needed", "k",
                                    summary="Bob wants a refund of NoteNest Pro")
    assert outcome.status == "handed_off"
    assert outcome.ticket.team == "customer_service"
    assert outcome.ticket.reason_code == "refund_window_passed"
    with session_scope(demo_engine) as session:
        ticket = session.get(HandoffTicket, outcome.ticket.id)
        assert ticket.conversation_id == "conv-1" and ticket.summary.startswith("Bob wants")


def test_erins_duplicate_is_found_and_the_later_one_refunded(services, codes, provider):
    verify(services, "100000005")
    duplicates = services.find_duplicate_orders("conv-1", "100000005")
    assert [d.reference for d in duplicates] == ["100000006"]
    later = duplicates[0]
    assert later.placed_at - services.order_summary("conv-1", "100000005").placed_at == \
        timedelta(minutes=10)
    # the duplicate belongs to the verified customer: it can be handled in this conversation
    decision = services.refund_decision("conv-1", "100000006", "duplicate_order")
    assert decision.automatic is True
    confirm(services, codes, "100000006", "refund", reason="duplicate_order")
    outcome = services.issue_refund("conv-1", "100000006", "duplicate_order", "dup-1")
    assert outcome.status == "refunded" and outcome.refund.method == "paypal"
    assert [c.order_reference for c in provider.refund_calls()] == ["100000006"]
    # and the other one is untouched
    assert services.order_summary("conv-1", "100000005").status == "paid"


def test_orders_that_are_not_duplicates_are_not_listed(services):
    verify(services, "100000001")
    assert services.find_duplicate_orders("conv-1", "100000001") == []


# ---- refund status --------------------------------------------------------------------------
def test_frank_refund_is_within_the_typical_bank_delay(services):
    verify(services, "100000007")
    status = services.refund_status("conv-1", "100000007")
    [refund] = status.refunds
    assert (refund.amount_minor, refund.currency, refund.method) == (3588, "EUR", "credit_card")
    assert (refund.card_brand, refund.card_last4) == ("mastercard", "5454")
    assert refund.refunded_at == services.clock() - timedelta(days=3)
    assert refund.business_days_elapsed == 1 and refund.overdue is False  # Fri -> Mon
    assert status.overdue is False and status.team is None
    assert status.typical_delay_days == (5, 10)


def test_grace_refund_is_overdue_for_payment_processing(services):
    verify(services, "100000008")
    status = services.refund_status("conv-1", "100000008")
    assert status.overdue is True and status.team == "payment_processing"
    assert status.refunds[0].business_days_elapsed == 14


def test_no_refunds_yet(services):
    verify(services, "100000001")
    status = services.refund_status("conv-1", "100000001")
    assert status.refunds == () and status.overdue is False


# ---- payment missing, technical support -------------------------------------------------------
def test_dan_payment_is_missing_and_overdue(services):
    verify(services, "100000004")
    info = services.order_summary("conv-1", "100000004").pending_payment_info
    assert info.payment_method == "wire_transfer" and info.amount_minor == 4900
    assert info.overdue is True and info.team == "payment_processing"
    assert "100000004" in info.instructions
    verify(services, "100000001")
    assert services.order_summary("conv-1", "100000001").pending_payment_info is None


def test_technical_support_is_the_clients_contact(services):
    verify(services, "100000002")
    summary = services.order_summary("conv-1", "100000002")
    assert summary.technical_support == "https://help.notenest.example"


# ---- mails to the purchase address ----------------------------------------------------------
def test_license_goes_to_the_purchase_email_only(services, mailer):
    verify(services, "100000001")
    masked = services.resend_license("conv-1", "100000001")
    assert masked == "a***e@example.com"
    [body] = mailer.bodies_to("alice@example.com")
    assert "License key: PFG-" in body and "https://downloads.pixelforge.example/" in body
    assert "support@pixelforge.example" in body


def test_other_mails_go_to_the_purchase_address(services, mailer, codes):
    verify(services, "100000001")
    confirm(services, codes, "100000001", "change_payment_method")
    del mailer.messages[:]  # the code
    assert services.resend_order_confirmation("conv-1", "100000001") == "a***e@example.com"
    assert "Total: 49.00 EUR" in mailer.messages[-1].get_content()
    for method, expected in [
        ("send_invoice", "https://secure.reseller.example/invoice/100000001?expires="),
        ("send_payment_method_link", "https://secure.reseller.example/payment-method/100000001?"),
    ]:
        sent = getattr(services, method)("conv-1", "100000001")
        assert isinstance(sent, LinkDispatch) and sent.masked_email == "a***e@example.com"
        message = mailer.messages[-1]
        assert message["To"] == "alice@example.com" and expected in message.get_content(), method
    assert len(mailer.messages) == 3


def test_a_mailed_link_says_until_when_it_works_as_the_link_itself_does(services, mailer, codes):
    verify(services, "100000001")
    confirm(services, codes, "100000001", "change_payment_method")
    sent = services.send_payment_method_link("conv-1", "100000001")
    assert sent.expires_at == services.clock() + sent.valid_for
    body = mailer.messages[-1].get_content()
    assert f"expires={int(sent.expires_at.timestamp())}&" in body
    assert f"valid for {format_duration(sent.valid_for)}" in body


# ---- unknown charges --------------------------------------------------------------------------
def test_find_charges_names_the_client_but_no_order_or_person(services):
    charged_on = (services.clock() - timedelta(days=5)).date()
    found = services.find_charges("conv-x", amount_minor=4900, currency="EUR", on_date=charged_on)
    assert found.status == "found"
    assert ChargeHint("PixelForge Studio", "RSLR*PIXELFORGE", charged_on, 4900, "EUR") in found.hints
    assert {f.name for f in fields(ChargeHint)} == {
        "client_name", "statement_descriptor", "charged_on", "amount_minor", "currency"}
    by_card = services.find_charges("conv-x", card_last4="5454")
    assert [h.client_name for h in by_card.hints] == ["SecureVault"]
    assert services.find_charges("conv-y").hints == ()
    none = services.find_charges("conv-y", amount_minor=123456)
    assert (none.status, none.hints) == ("not_found", ())


# ---- subscriptions ----------------------------------------------------------------------------
def test_ivan_cancels_at_period_end_and_can_reinstate(services, codes):
    verify(services, "100000010")
    sub = services.subscription("conv-1", "100000010")
    assert (sub.status, sub.auto_renew, sub.billing_period) == ("active", True, "yearly")
    assert sub.current_period_end == services.clock() + timedelta(days=200)
    assert sub.can_cancel and not sub.can_reinstate
    confirm(services, codes, "100000010", "cancel_subscription")
    change = services.cancel_subscription("conv-1", "100000010")
    assert change.status == "cancelled"
    assert change.subscription.current_period_end == sub.current_period_end  # usable until then
    assert change.subscription.auto_renew is False and change.subscription.can_reinstate
    assert services.cancel_subscription("conv-1", "100000010").status == "already_cancelled"
    assert services.reinstate_subscription("conv-1", "100000010").status == "confirmation_required"
    confirm(services, codes, "100000010", "reinstate_subscription", code=False)  # same code
    assert services.reinstate_subscription("conv-1", "100000010").status == "reinstated"
    assert services.subscription("conv-1", "100000010").auto_renew is True


def test_judy_can_reinstate_until_her_period_ends(services, clock, codes):
    verify(services, "100000011")
    sub = services.subscription("conv-1", "100000011")
    assert sub.status == "cancelled" and sub.can_reinstate
    confirm(services, codes, "100000011", "reinstate_subscription")
    assert services.reinstate_subscription("conv-1", "100000011").status == "reinstated"
    assert services.reinstate_subscription("conv-1", "100000011").status == "already_active"


def test_a_period_that_ended_cannot_be_reinstated(services, clock):
    clock.advance(days=66)
    verify(services, "100000011")
    assert services.subscription("conv-1", "100000011").status == "expired"
    assert services.reinstate_subscription("conv-1", "100000011").status == "period_ended"


def test_ken_is_in_trial_and_nothing_was_charged(services, codes):
    verify(services, "100000012")
    sub = services.subscription("conv-1", "100000012")
    assert sub.in_trial and sub.status == "trial"
    assert sub.trial_end == services.clock() + timedelta(days=7)
    assert services.order_summary("conv-1", "100000012").total_minor == 0
    assert confirm(services, codes, "100000012", "cancel_subscription").in_trial is True
    assert services.cancel_subscription("conv-1", "100000012").status == "cancelled"


def test_orders_without_subscription(services):
    verify(services, "100000001")
    assert services.subscription("conv-1", "100000001") is None
    assert services.cancel_subscription("conv-1", "100000001").status == "no_subscription"


# ---- handoff ----------------------------------------------------------------------------------
def test_hand_off_attaches_only_a_verified_order(services, demo_engine):
    verify(services, "100000004")
    ticket = services.hand_off("conv-1", None, "payment_missing", "Paid 10 days ago",
                               reference="100000004", transcript=[{"from": "customer",
                                                                   "text": "I paid!"}])
    assert ticket.team == "payment_processing" and ticket.reference == "100000004"
    unverified = services.hand_off("conv-1", "customer_service", "contact_human", "wants a person",
                                   reference="100000001")
    assert unverified.reference is None
    with session_scope(demo_engine) as session:
        # no Rasa tracker store in this database: the caller's lines, marked as unchecked
        # (with one: tests/unit/core/test_transcripts.py)
        assert session.get(HandoffTicket, ticket.id).transcript == [
            {"from": "customer", "text": "I paid!", "at": None, "source": "unverified"}]
    with pytest.raises(ValueError):
        services.hand_off("conv-1", "sales", "contact_human", "x")
