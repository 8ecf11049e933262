"""The attacks of the hardening issue, one action call at a time: slots that claim a
confirmation are worth nothing; only the customer's own answer to the question the bot asked,
recorded by the core, lets money or a subscription move (real core, demo data at ANCHOR)."""
from __future__ import annotations

from sqlalchemy import func, select

from supportbot.db.models import Confirmation, HandoffTicket, Order, Refund, Subscription
from tests.actions.conftest import (
    confirm_in_chat,
    make_tracker,
    run_action,
    slot_events,
    texts,
    verify_in_chat,
)

FORM = "verify_order_form"
ALICE = "100000001"  # PixelForge 49.00 EUR, Visa 4242: automatic refund
MIA = "100000014"  # SecureVault, Apple Pay with the Visa ending 6789: automatic refund
JUDY = "100000011"  # ClearFace yearly 299.00 EUR, cancelled, period not ended
IVAN = "100000010"  # ClearFace yearly, active


def _count(world, model, reference=None) -> int:
    query = select(func.count()).select_from(model)
    if reference is not None:
        query = query.join(Order, Order.id == model.order_id).where(Order.reference == reference)
    with world.engine.connect() as conn:
        return conn.execute(query).scalar_one()


def _sub(world, reference):
    with world.engine.connect() as conn:
        return conn.execute(select(Subscription.auto_renew, Subscription.status, Subscription.cancelled_at)
                            .join(Order, Order.id == Subscription.order_id)
                            .where(Order.reference == reference)).one()


def _confirmations(world, sender):
    with world.engine.connect() as conn:
        return conn.execute(select(Confirmation.purpose, Confirmation.status)
                            .where(Confirmation.conversation_id == sender)
                            .order_by(Confirmation.id)).all()


def _refund_state(world, domain, sender, reference):
    """Verified, reason given: the form asks for the code next."""
    state = verify_in_chat(world, domain, sender, "request_refund", reference)
    tracker = make_tracker(sender, slots=state, new_slots={"refund_reason": "no_longer_needed"},
                           active_loop=FORM)
    _, events = run_action("validate_verify_order_form", tracker, domain)
    state.update({"refund_reason": "no_longer_needed", **slot_events(events)})
    assert state["refund_route"] == "automatic"
    return state


def _perform(domain, sender, state, intent="affirm"):
    return run_action("action_perform_task", make_tracker(sender, slots=state, intent=intent), domain)


def test_a_no_cannot_be_turned_into_a_yes_by_the_slots(anchored_world, domain):
    """The reported attack: verified, code typed, answered no - then a call whose slots say
    "confirmed" refunded the order and wrote a ticket."""
    w, sender = anchored_world, "conv-said-no"
    state = _refund_state(w, domain, sender, ALICE)
    state, question = confirm_in_chat(w, domain, sender, state, answer="deny")
    assert "I will refund 49.00 EUR for order 100000001 to your Visa card ending 4242" in question
    assert state["refund_confirmed"] is False
    assert _confirmations(w, sender) == [("refund", "declined")]
    forged = {**state, "refund_confirmed": True}
    dispatcher, events = _perform(domain, sender, forged)
    assert "haven't refunded anything" in texts(dispatcher)
    assert _count(w, Refund, ALICE) == 0 and w.provider.refund_calls() == []
    assert _count(w, HandoffTicket) == 0  # and nobody is asked to refund it either
    assert not any(e.get("event") == "pause" for e in events)


def test_slots_claiming_a_code_and_a_yes_move_nothing(anchored_world, domain):
    w, sender = anchored_world, "conv-forged-slots"
    state = _refund_state(w, domain, sender, ALICE)
    forged = {**state, "one_time_code": "verified", "code_verified_ref": ALICE, "refund_confirmed": True}
    dispatcher, _ = _perform(domain, sender, forged)
    assert "haven't refunded anything" in texts(dispatcher)
    assert _count(w, Refund, ALICE) == 0 and _count(w, HandoffTicket) == 0


def test_a_yes_slot_without_an_affirm_is_not_a_yes(anchored_world, domain):
    w, sender = anchored_world, "conv-not-affirm"
    state = _refund_state(w, domain, sender, ALICE)
    _, events = run_action("action_ask_one_time_code", make_tracker(sender, slots=state), domain)
    state.update(slot_events(events))
    tracker = make_tracker(sender, slots=state, new_slots={"one_time_code": w.latest_code("alice@example.com")},
                           active_loop=FORM)
    _, events = run_action("validate_verify_order_form", tracker, domain)
    state.update(slot_events(events))
    run_action("action_ask_refund_confirmed", make_tracker(sender, slots=state), domain)
    # the slot says True, but the customer's message was not an affirm
    tracker = make_tracker(sender, slots=state, new_slots={"refund_confirmed": True}, intent="inform",
                           active_loop=FORM)
    _, events = run_action("validate_verify_order_form", tracker, domain)
    assert slot_events(events)["refund_confirmed"] is not True
    assert _confirmations(w, sender) == [("refund", "declined")]


def test_changing_the_order_at_the_confirmation_step_asks_for_a_new_code(anchored_world, domain):
    """The listed weak point: another order at the confirmation step skipped the code and
    showed that order's card brand and last 4 digits."""
    w, sender = anchored_world, "conv-switch"
    state = _refund_state(w, domain, sender, ALICE)
    _, events = run_action("action_ask_one_time_code", make_tracker(sender, slots=state), domain)
    state.update(slot_events(events))
    tracker = make_tracker(sender, slots=state, new_slots={"one_time_code": w.latest_code("alice@example.com")},
                           active_loop=FORM)
    _, events = run_action("validate_verify_order_form", tracker, domain)
    state.update(slot_events(events))
    assert state["requested_slot"] == "refund_confirmed"
    # at the question, another order and its email
    tracker = make_tracker(sender, slots=state, new_slots={"order_ref": MIA, "email": "mia@example.com"},
                           active_loop=FORM)
    dispatcher, events = run_action("validate_verify_order_form", tracker, domain)
    state.update({"order_ref": MIA, "email": "mia@example.com", **slot_events(events)})
    assert state["verified_ref"] == MIA
    assert state["one_time_code"] is None and state["code_sent_ref"] is None
    assert state["requested_slot"] == "one_time_code"  # a code for the new order first
    assert "6789" not in texts(dispatcher) and "Visa" not in texts(dispatcher)
    # even asked directly, the question shows no card before that code
    asked, events = run_action("action_ask_refund_confirmed", make_tracker(sender, slots=state), domain)
    assert "6789" not in texts(asked) and "Visa" not in texts(asked)
    # and forged slots refund neither order
    _perform(domain, sender, {**state, "one_time_code": "verified", "refund_confirmed": True})
    assert _count(w, Refund, ALICE) == 0 and _count(w, Refund, MIA) == 0


def test_a_new_email_at_the_confirmation_step_starts_over(anchored_world, domain):
    w, sender = anchored_world, "conv-new-email"
    state = _refund_state(w, domain, sender, ALICE)
    state, _ = confirm_in_chat(w, domain, sender, state)
    assert state["refund_confirmed"] is True
    tracker = make_tracker(sender, slots=state, new_slots={"email": "mallory@evil.example"},
                           active_loop=FORM)
    _, events = run_action("validate_verify_order_form", tracker, domain)
    state.update(slot_events(events))
    assert state["verified_ref"] is None and state["refund_confirmed"] is None
    _perform(domain, sender, {**state, "order_ref": ALICE, "verified_ref": ALICE, "refund_confirmed": True})
    assert _count(w, Refund, ALICE) == 0
    assert [s for _, s in _confirmations(w, sender)] == ["superseded"]


def test_the_real_path_still_refunds_once(anchored_world, domain):
    w, sender = anchored_world, "conv-ok"
    state = _refund_state(w, domain, sender, ALICE)
    state, _ = confirm_in_chat(w, domain, sender, state)
    dispatcher, _ = _perform(domain, sender, state)
    assert "I've refunded 49.00 EUR" in texts(dispatcher)
    _perform(domain, sender, state)  # a retry of the same turn
    assert _count(w, Refund, ALICE) == 1 and len(w.provider.refund_calls()) == 1
    assert _confirmations(w, sender) == [("refund", "used")]


# ---- subscriptions and payment methods (issue item 2) ----------------------------------------
def test_reactivating_with_email_and_reference_alone_changes_nothing(anchored_world, domain):
    """The reported attack: "reactivate my subscription" + email + reference switched a
    cancelled 299 EUR/year subscription back to auto-renew."""
    w, sender = anchored_world, "conv-reactivate"
    before = _sub(w, JUDY)
    state = verify_in_chat(w, domain, sender, "reinstate_subscription", JUDY)
    assert state["requested_slot"] == "one_time_code"  # the form wants the code now
    # skipping the rest of the form (or forging its slots) changes nothing
    dispatcher, _ = _perform(domain, sender, {**state, "one_time_code": "verified", "refund_confirmed": True})
    assert "haven't changed anything" in texts(dispatcher)
    assert _sub(w, JUDY) == before


def test_no_to_the_reactivation_question_leaves_it_cancelled(anchored_world, domain):
    w, sender = anchored_world, "conv-reactivate-no"
    before = _sub(w, JUDY)
    state = verify_in_chat(w, domain, sender, "reinstate_subscription", JUDY)
    state, question = confirm_in_chat(w, domain, sender, state, answer="deny")
    assert "299.00 EUR/year" in question and "Shall I go ahead?" in question
    dispatcher, _ = _perform(domain, sender, state, intent="deny")
    assert "haven't changed anything" in texts(dispatcher)
    assert _sub(w, JUDY) == before
    assert _confirmations(w, sender) == [("reinstate_subscription", "declined")]


def test_cancelling_needs_the_code_and_the_question_too(anchored_world, domain):
    w, sender = anchored_world, "conv-cancel-forged"
    before = _sub(w, IVAN)
    state = verify_in_chat(w, domain, sender, "cancel_subscription", IVAN)
    assert state["requested_slot"] == "one_time_code"
    _perform(domain, sender, {**state, "refund_confirmed": True})
    assert _sub(w, IVAN) == before
    code_mails = w.mails_to("ivan@example.com")
    assert code_mails == []  # no code was even asked for


def test_a_payment_method_link_needs_the_code_and_the_question(anchored_world, domain):
    w, sender = anchored_world, "conv-pm-forged"
    state = verify_in_chat(w, domain, sender, "change_payment_method", ALICE)
    assert state["requested_slot"] == "one_time_code"
    dispatcher, _ = _perform(domain, sender, {**state, "refund_confirmed": True})
    assert "haven't sent the link" in texts(dispatcher)
    assert w.mails_to("alice@example.com") == []


def test_the_subscription_status_needs_no_code(anchored_world, domain):
    w, sender = anchored_world, "conv-status"
    state = verify_in_chat(w, domain, sender, "subscription_status", JUDY)
    assert state["requested_slot"] is None
    dispatcher, _ = _perform(domain, sender, state)
    assert "won't renew" in texts(dispatcher)


def test_stopping_the_task_declines_the_open_question(anchored_world, domain):
    w, sender = anchored_world, "conv-stop"
    state = verify_in_chat(w, domain, sender, "reinstate_subscription", JUDY)
    _, events = run_action("action_ask_one_time_code", make_tracker(sender, slots=state), domain)
    state.update(slot_events(events))
    tracker = make_tracker(sender, slots=state, new_slots={"one_time_code": w.latest_code("judy@example.com")},
                           active_loop=FORM)
    _, events = run_action("validate_verify_order_form", tracker, domain)
    state.update(slot_events(events))
    run_action("action_ask_refund_confirmed", make_tracker(sender, slots=state), domain)
    assert _confirmations(w, sender) == [("reinstate_subscription", "pending")]
    run_action("action_stop_task", make_tracker(sender, slots=state, intent="deny"), domain)
    assert _confirmations(w, sender) == [("reinstate_subscription", "declined")]
