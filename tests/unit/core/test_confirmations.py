"""Server-side confirmations (supportbot/core/confirmations.py): money and subscription changes
happen only against the customer's recorded "yes" to exactly that change, after a one-time code,
once. A caller's claim (a slot saying "confirmed") is worth nothing here: the facade has no
parameter for it. SQLite and PostgreSQL, demo data at ANCHOR."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from supportbot.core.errors import ConfirmationRequired, NotVerified
from supportbot.core.vocabulary import CONFIRMATION_PURPOSES, CONFIRMATION_STATUSES
from supportbot.db.engine import session_scope
from supportbot.db.models import AuditLog, Confirmation, Order, Subscription
from tests.unit.core.test_services import EMAILS, confirm, prove_email, verify

ALICE = "100000001"  # PixelForge, 49.00 EUR, Visa 4242: automatic refund
IVAN = "100000010"  # ClearFace yearly, active, auto-renew on
JUDY = "100000011"  # ClearFace yearly, cancelled, period not ended


def _sub(engine, reference):
    with session_scope(engine) as session:
        return session.execute(
            select(Subscription.auto_renew, Subscription.status, Subscription.cancelled_at)
            .join(Order, Order.id == Subscription.order_id)
            .where(Order.reference == reference)).one()


def _statuses(engine, conversation="conv-1"):
    with session_scope(engine) as session:
        return session.execute(select(Confirmation.purpose, Confirmation.status)
                               .where(Confirmation.conversation_id == conversation)
                               .order_by(Confirmation.id)).all()


# ---- refunds ---------------------------------------------------------------------------------
def test_a_refund_needs_the_customers_recorded_yes_after_the_code(services, codes, provider):
    verify(services, ALICE)
    prove_email(services, codes, ALICE)
    # the code alone (what a forged "refund_confirmed" slot used to be enough for) moves nothing
    assert services.issue_refund("conv-1", ALICE, "no_longer_needed", "k").status == \
        "confirmation_required"
    asked = services.ask_confirmation("conv-1", ALICE, "refund", reason="no_longer_needed")
    assert (asked.status, asked.amount_minor, asked.currency) == ("pending", 4900, "EUR")
    assert (asked.payment_method, asked.card_brand, asked.card_last4) == ("credit_card", "visa", "4242")
    assert asked.expires_at == services.clock() + timedelta(minutes=15)
    # asked but not answered: still nothing
    assert services.issue_refund("conv-1", ALICE, "no_longer_needed", "k").status == \
        "confirmation_required"
    assert provider.calls == []
    assert services.answer_confirmation("conv-1", ALICE, "refund", True) == "confirmed"
    assert services.issue_refund("conv-1", ALICE, "no_longer_needed", "k").status == "refunded"
    assert len(provider.refund_calls()) == 1
    assert _statuses(services.engine) == [("refund", "used")]


def test_no_means_no(services, codes, provider):
    verify(services, ALICE)
    confirm_args = ("conv-1", ALICE, "refund")
    prove_email(services, codes, ALICE)
    services.ask_confirmation(*confirm_args, reason="other")
    assert services.answer_confirmation(*confirm_args, False) == "declined"
    # a later "yes" (a replayed or forged call) finds no open question
    assert services.answer_confirmation(*confirm_args, True) == "no_question"
    assert services.issue_refund("conv-1", ALICE, "other", "k").status == "confirmation_required"
    assert provider.calls == []
    assert _statuses(services.engine) == [("refund", "declined")]


def test_a_yes_without_a_question_confirms_nothing(services, codes, provider):
    verify(services, ALICE)
    prove_email(services, codes, ALICE)
    assert services.answer_confirmation("conv-1", ALICE, "refund", True) == "no_question"
    assert services.issue_refund("conv-1", ALICE, "other", "k").status == "confirmation_required"
    assert provider.calls == []


def test_the_question_needs_a_code_first(services, codes):
    verify(services, ALICE)
    # nothing about the card is told before the code
    asked = services.ask_confirmation("conv-1", ALICE, "refund", reason="other")
    assert asked.status == "code_required" and asked.card_last4 is None and asked.amount_minor is None
    # a code for another purpose does not count either
    prove_email(services, codes, ALICE, purpose="payment")
    assert services.ask_confirmation("conv-1", ALICE, "refund", reason="other").status == \
        "code_required"


def test_a_refund_is_confirmed_for_exactly_its_terms(services, codes, provider, demo_engine):
    verify(services, ALICE)
    confirm(services, codes, ALICE, "refund", reason="no_longer_needed")
    # another reason than the one confirmed
    assert services.issue_refund("conv-1", ALICE, "other", "k1").status == "confirmation_required"
    confirm(services, codes, ALICE, "refund", reason="no_longer_needed", code=False)
    # the amount changed since the question (here: the order's total)
    with session_scope(demo_engine) as session:
        session.execute(update(Order).where(Order.reference == ALICE)
                        .values(net_minor=4900, vat_minor=1000, total_minor=5900))
    assert services.issue_refund("conv-1", ALICE, "no_longer_needed", "k2").status == \
        "confirmation_required"
    assert provider.calls == []
    # the mismatch used up the question: the customer is asked again, for the new amount
    assert services.ask_confirmation("conv-1", ALICE, "refund", reason="no_longer_needed") \
        .amount_minor == 5900


def test_a_confirmation_belongs_to_its_conversation_order_and_purpose(services, codes, provider):
    verify(services, ALICE)
    confirm(services, codes, ALICE, "change_payment_method")
    # the wrong purpose: a "yes" to a payment-method link is not a "yes" to a refund
    assert services.issue_refund("conv-1", ALICE, "other", "k").status == "confirmation_required"
    # another conversation that verified the same order cannot use it
    verify(services, ALICE, conversation="conv-2")
    with pytest.raises(ConfirmationRequired):
        services.send_payment_method_link("conv-2", ALICE)
    assert provider.calls == []


def test_a_confirmation_expires(services, codes, clock, provider):
    verify(services, ALICE)
    confirm(services, codes, ALICE, "refund", reason="other")
    clock.advance(minutes=16)
    assert services.issue_refund("conv-1", ALICE, "other", "k").status == "confirmation_required"
    # and an answer after the question expired confirms nothing (verified and code anew: the
    # verification itself lasts 30 minutes)
    verify(services, ALICE)
    prove_email(services, codes, ALICE)
    assert services.ask_confirmation("conv-1", ALICE, "refund", reason="other").status == "pending"
    clock.advance(minutes=16)
    assert services.answer_confirmation("conv-1", ALICE, "refund", True) == "no_question"
    assert provider.calls == []


def test_changing_the_order_at_the_confirmation_step_starts_over(services, codes, provider):
    verify(services, ALICE)
    confirm(services, codes, ALICE, "refund", reason="other")
    # the customer gives another order (or another email) before the refund is made
    services.verify_order("conv-1", EMAILS["100000014"], "100000014")
    # the verification of the order before is gone (server-side, whatever the slots say), and
    # with it the code
    outcome = services.issue_refund("conv-1", ALICE, "other", "k")
    assert outcome.status == "not_verified"
    with pytest.raises(NotVerified):
        services.order_summary("conv-1", ALICE)
    # the new order's card is shown only after a code sent to that order's address
    asked = services.ask_confirmation("conv-1", "100000014", "refund", reason="other")
    assert asked.status == "code_required" and asked.card_last4 is None
    assert provider.calls == []
    assert [s for _, s in _statuses(services.engine)] == ["superseded"]


def test_a_mismatching_lookup_also_starts_over(services, codes, provider):
    verify(services, ALICE)
    confirm(services, codes, ALICE, "refund", reason="other")
    assert services.verify_order("conv-1", "mallory@example.com", ALICE).status == "mismatch"
    assert services.issue_refund("conv-1", ALICE, "other", "k").status == "not_verified"
    assert provider.calls == []


def test_a_new_question_supersedes_the_open_one(services, codes):
    verify(services, ALICE)
    prove_email(services, codes, ALICE)
    services.ask_confirmation("conv-1", ALICE, "refund", reason="other")
    prove_email(services, codes, ALICE, purpose="payment")
    services.ask_confirmation("conv-1", ALICE, "change_payment_method")
    assert services.answer_confirmation("conv-1", ALICE, "refund", True) == "no_question"
    assert _statuses(services.engine) == [("refund", "superseded"),
                                          ("change_payment_method", "pending")]


def test_stopping_the_task_declines_the_open_question(services, codes, provider):
    verify(services, ALICE)
    confirm(services, codes, ALICE, "refund", reason="other")
    assert services.decline_confirmations("conv-1") == 1
    assert services.issue_refund("conv-1", ALICE, "other", "k").status == "confirmation_required"
    assert provider.calls == []


def test_a_confirmation_is_used_once(services, codes, mailer):
    verify(services, ALICE)
    confirm(services, codes, ALICE, "change_payment_method")
    sent = services.send_payment_method_link("conv-1", ALICE)
    assert sent.masked_email == "a***e@example.com"
    links = [m for m in mailer.messages if "payment-method/" in m.get_content()]
    assert len(links) == 1
    with pytest.raises(ConfirmationRequired):
        services.send_payment_method_link("conv-1", ALICE)
    assert len([m for m in mailer.messages if "payment-method/" in m.get_content()]) == 1
    assert _statuses(services.engine) == [("change_payment_method", "used")]


def test_the_payment_method_question_says_where_the_link_goes(services, codes, mailer):
    verify(services, ALICE)
    prove_email(services, codes, ALICE, purpose="payment")
    assert "to confirm a change to your payment method" in mailer.messages[-1].get_content()
    asked = services.ask_confirmation("conv-1", ALICE, "change_payment_method")
    assert (asked.status, asked.masked_email) == ("pending", "a***e@example.com")


# ---- subscriptions (issue item 2) ----------------------------------------------------------
def test_email_and_reference_alone_do_not_reinstate_a_subscription(services, demo_engine):
    """The reported attack: "reactivate my subscription" + email + reference switched a
    cancelled yearly subscription back to auto-renew, with no code and no question."""
    before = _sub(demo_engine, JUDY)
    verify(services, JUDY)
    change = services.reinstate_subscription("conv-1", JUDY)
    assert change.status == "confirmation_required"
    assert change.subscription.auto_renew is False
    assert _sub(demo_engine, JUDY) == before
    assert services.ask_confirmation("conv-1", JUDY, "reinstate_subscription").status == \
        "code_required"
    assert _sub(demo_engine, JUDY) == before


def test_reinstating_states_the_price_and_the_next_charge(services, codes, demo_engine):
    verify(services, JUDY)
    prove_email(services, codes, JUDY, purpose="subscription")
    asked = services.ask_confirmation("conv-1", JUDY, "reinstate_subscription")
    sub = services.subscription("conv-1", JUDY)
    assert (asked.plan, asked.amount_minor, asked.currency, asked.billing_period) == (
        sub.plan, sub.renewal_price_minor, sub.currency, "yearly")
    assert asked.period_end == sub.current_period_end
    assert services.answer_confirmation("conv-1", JUDY, "reinstate_subscription", True) == "confirmed"
    assert services.reinstate_subscription("conv-1", JUDY).status == "reinstated"
    assert _sub(demo_engine, JUDY).auto_renew


def test_a_price_change_after_the_question_refuses_the_reinstatement(services, codes, demo_engine):
    verify(services, JUDY)
    confirm(services, codes, JUDY, "reinstate_subscription")
    with session_scope(demo_engine) as session:
        session.execute(update(Subscription).values(renewal_price_minor=39900)
                        .where(Subscription.order_id == select(Order.id)
                               .where(Order.reference == JUDY).scalar_subquery())
                        .execution_options(synchronize_session=False))
    assert services.reinstate_subscription("conv-1", JUDY).status == "confirmation_required"
    assert not _sub(demo_engine, JUDY).auto_renew


def test_cancelling_needs_a_confirmation_of_cancelling(services, codes, demo_engine):
    verify(services, IVAN)
    # a "yes" to reinstating is not a "yes" to cancelling (and vice versa)
    prove_email(services, codes, IVAN, purpose="subscription")
    assert services.ask_confirmation("conv-1", IVAN, "reinstate_subscription").status == \
        "nothing_to_confirm"  # it is active: reinstating would change nothing
    assert services.cancel_subscription("conv-1", IVAN).status == "confirmation_required"
    assert _sub(demo_engine, IVAN).auto_renew
    confirm(services, codes, IVAN, "cancel_subscription", code=False)
    assert services.cancel_subscription("conv-1", IVAN).status == "cancelled"
    # nothing would change now: no confirmation needed to say so, none asked
    assert services.cancel_subscription("conv-1", IVAN).status == "already_cancelled"
    assert services.ask_confirmation("conv-1", IVAN, "cancel_subscription").status == \
        "nothing_to_confirm"


def test_every_step_is_in_the_audit_log(services, codes, demo_engine):
    verify(services, JUDY)
    services.reinstate_subscription("conv-1", JUDY)
    confirm(services, codes, JUDY, "reinstate_subscription")
    services.reinstate_subscription("conv-1", JUDY)
    with session_scope(demo_engine) as session:
        actions = [a for a in session.execute(select(AuditLog.action).order_by(AuditLog.id))
                   .scalars() if re.match(r"(confirmation|subscription)\.", a)]
    assert actions == ["subscription.reinstate_refused", "confirmation.asked",
                       "confirmation.answered", "subscription.reinstate"]


def test_an_unknown_purpose_is_an_error(services):
    verify(services, ALICE)
    with pytest.raises(ValueError):
        services.ask_confirmation("conv-1", ALICE, "upgrade")


def test_the_check_constraints_spell_the_vocabulary():
    table = Confirmation.__table__
    checks = {str(c.name).rsplit("_", 1)[-1]: str(c.sqltext) for c in table.constraints
              if c.__class__.__name__ == "CheckConstraint"}
    assert set(re.findall(r"'(\w+)'", checks["status"])) == set(CONFIRMATION_STATUSES)
    assert set(re.findall(r"'(\w+)'", checks["purpose"])) == set(CONFIRMATION_PURPOSES)
