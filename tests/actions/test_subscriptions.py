"""Subscription tasks (actions/subscriptions.py): status, cancel at the end of the billing
period, reinstate. Dates the customer is told are checked against the database row, and every
change against the row afterwards (core template database, fake clock at ANCHOR)."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from supportbot.db.models import Order, Refund, Subscription
from tests.actions.conftest import (
    confirm_in_chat,
    make_tracker,
    run_action,
    slot_events,
    texts,
    verify_in_chat,
)

ACTIVE = "100000010"     # ClearFace yearly, active, auto-renew on
CANCELLED = "100000011"  # ClearFace yearly, cancelled (auto-renew off), period not ended
TRIAL = "100000012"      # ClearFace yearly in its free trial
ONE_TIME = "100000001"   # PixelForge one-time purchase


def _row(world, reference):
    """(status, auto_renew, current_period_end, trial_end, cancelled_at) of the order's subscription."""
    with world.engine.connect() as conn:
        return conn.execute(
            select(Subscription.status, Subscription.auto_renew, Subscription.current_period_end,
                   Subscription.trial_end, Subscription.cancelled_at)
            .join(Order, Order.id == Subscription.order_id)
            .where(Order.reference == reference)).one()


def _day(value) -> str:
    """A date as the customer reads it: '20 December 2024'."""
    return f"{value.day} {value:%B %Y}"


def _task(world, domain, sender, task, reference):
    """A task that changes nothing: verification, then straight to the answer (no code)."""
    state = verify_in_chat(world, domain, sender, task, reference)
    assert state["verified_ref"] == reference
    assert state["requested_slot"] is None  # nothing to change: no code, no question
    dispatcher, events = run_action("action_perform_task", make_tracker(sender, slots=state), domain)
    return texts(dispatcher), events


def _change(world, domain, sender, task, reference, answer="affirm"):
    """A task that changes the subscription: verification, the one-time code, the bot's
    question, the customer's answer, then the change. Returns (question, reply)."""
    state = verify_in_chat(world, domain, sender, task, reference)
    state, question = confirm_in_chat(world, domain, sender, state, answer)
    dispatcher, _ = run_action("action_perform_task", make_tracker(sender, slots=state), domain)
    return question, texts(dispatcher)


def test_active_subscription_renewal_date_comes_from_the_database(anchored_world, domain):
    said, _ = _task(anchored_world, domain, "conv-st-active", "subscription_status", ACTIVE)
    row = _row(anchored_world, ACTIVE)
    assert row.auto_renew and row.status == "active"
    assert "renews automatically" in said
    assert _day(row.current_period_end) in said


def test_cancelled_subscription_status_says_it_will_not_renew_and_until_when(anchored_world, domain):
    said, _ = _task(anchored_world, domain, "conv-st-cancelled", "subscription_status", CANCELLED)
    row = _row(anchored_world, CANCELLED)
    assert "won't renew" in said
    assert _day(row.current_period_end) in said
    assert "renews automatically" not in said


def test_trial_status_gives_the_trial_end_and_no_charge(anchored_world, domain):
    said, _ = _task(anchored_world, domain, "conv-st-trial", "subscription_status", TRIAL)
    row = _row(anchored_world, TRIAL)
    assert row.trial_end is not None
    assert "trial" in said and _day(row.trial_end) in said
    assert "Nothing is charged" in said


def test_a_one_time_purchase_has_nothing_to_renew(anchored_world, domain):
    said, _ = _task(anchored_world, domain, "conv-st-once", "subscription_status", ONE_TIME)
    assert f"Order {ONE_TIME} is a one-time purchase" in said
    assert "renews" not in said


def test_cancel_turns_auto_renew_off_at_the_period_end_without_a_refund(anchored_world, domain):
    w = anchored_world
    before = _row(w, ACTIVE)
    question, said = _change(w, domain, "conv-cancel", "cancel_subscription", ACTIVE)
    assert "I will turn off auto-renewal for" in question and _day(before.current_period_end) in question
    after = _row(w, ACTIVE)
    assert after.auto_renew is False or after.auto_renew == 0
    assert after.status == "cancelled"
    assert after.cancelled_at is not None
    assert after.cancelled_at.replace(tzinfo=None) == w.clock().replace(tzinfo=None)  # the fake clock
    assert after.current_period_end == before.current_period_end  # usable until the period end
    assert _day(after.current_period_end) in said
    assert "won't renew" in said
    with w.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(Refund)
                            .join(Order, Order.id == Refund.order_id)
                            .where(Order.reference == ACTIVE)).scalar_one() == 0


def test_cancelling_twice_changes_nothing_and_says_it_already_is(anchored_world, domain):
    w = anchored_world
    before = _row(w, CANCELLED)
    said, _ = _task(w, domain, "conv-cancel-again", "cancel_subscription", CANCELLED)
    assert _row(w, CANCELLED) == before  # cancelled_at is the original one, not now
    assert "already cancelled" in said
    assert _day(before.current_period_end) in said


def test_cancel_during_the_trial_stops_the_first_charge(anchored_world, domain):
    w = anchored_world
    question, said = _change(w, domain, "conv-cancel-trial", "cancel_subscription", TRIAL)
    assert "you can keep using the free trial until" in question
    after = _row(w, TRIAL)
    assert not after.auto_renew
    assert "won't renew" in said
    assert _day(after.current_period_end) in said
    # nothing was charged during the trial (seed 000): no talk of a paid period
    assert "already paid" not in said, said


def test_reinstate_a_cancelled_subscription_before_its_period_ends(anchored_world, domain):
    w = anchored_world
    before = _row(w, CANCELLED)
    question, said = _change(w, domain, "conv-reinstate", "reinstate_subscription", CANCELLED)
    assert question == (f"I will switch auto-renewal back on for ClearFace for SMB, yearly, 299.00 EUR/year, "
                        f"next charge on {_day(before.current_period_end)}. Shall I go ahead?")
    after = _row(w, CANCELLED)
    assert after.auto_renew
    assert after.status == "active"
    assert after.cancelled_at is None
    assert "active again" in said
    assert _day(after.current_period_end) in said


def test_reinstating_an_active_subscription_changes_nothing(anchored_world, domain):
    w = anchored_world
    before = _row(w, ACTIVE)
    said, _ = _task(w, domain, "conv-reinstate-active", "reinstate_subscription", ACTIVE)
    assert _row(w, ACTIVE) == before
    assert "isn't cancelled" in said
    assert _day(before.current_period_end) in said


def test_after_the_period_ended_it_cannot_be_reinstated(anchored_world, domain, fake_clock):
    w = anchored_world
    before = _row(w, CANCELLED)
    fake_clock.now = before.current_period_end + timedelta(days=1)
    said, _ = _task(w, domain, "conv-reinstate-late", "reinstate_subscription", CANCELLED)
    assert _row(w, CANCELLED) == before
    assert "can't be" in said and "reactivated" in said
    assert _day(before.current_period_end) in said
    assert "active again" not in said


def test_cancelling_after_the_period_ended_does_not_claim_it_was_cancelled_now(anchored_world, domain,
                                                                             fake_clock):
    w = anchored_world
    before = _row(w, CANCELLED)
    fake_clock.now = before.current_period_end + timedelta(days=1)
    said, _ = _task(w, domain, "conv-cancel-late", "cancel_subscription", CANCELLED)
    assert _row(w, CANCELLED) == before
    assert "ended" in said and _day(before.current_period_end) in said
    assert "stays active" not in said and "Done" not in said, said


def test_forged_verification_changes_no_subscription_and_makes_no_claim(anchored_world, domain):
    """Slots say verified, the database says this conversation never verified the order."""
    w, sender = anchored_world, "conv-sub-forged"
    for task, ref in (("cancel_subscription", ACTIVE), ("reinstate_subscription", CANCELLED),
                      ("subscription_status", ACTIVE)):
        before = _row(w, ref)
        state = {"pending_task": task, "email": w.purchase_email(ref), "order_ref": ref, "verified_ref": ref}
        dispatcher, events = run_action("action_perform_task", make_tracker(sender, slots=state), domain)
        said = texts(dispatcher)
        assert _row(w, ref) == before, task
        assert "ClearFace" not in said and _day(before.current_period_end) not in said, said
        assert "one-time purchase" not in said, f"{task}: a false claim about the order: {said!r}"
        assert slot_events(events).get("verified_ref", "kept") is None, task  # verification asked again
