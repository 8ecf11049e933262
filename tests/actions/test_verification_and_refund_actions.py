"""The verification form and the refund path, action by action, against the real core."""
from __future__ import annotations

import asyncio
from datetime import timedelta

from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import func, select

from actions.charges import ActionLookupCharge
from actions.handoff import ActionHandOff
from actions.tasks import ActionPerformTask
from actions.verification import (
    ActionAskOneTimeCode,
    ActionAskRefundConfirmed,
    ValidateVerifyOrderForm,
)
from supportbot.core.refund_reasons import reason_from_text
from supportbot.core.refund_service import TYPICAL_BANK_DELAY_BUSINESS_DAYS
from supportbot.core.views import ChargeLookup, ChargeLookupStatus
from supportbot.db.models import HandoffTicket, Order, Refund
from tests.actions.conftest import make_tracker, slot_events, texts

FORM = "verify_order_form"


def _validate(domain, tracker):
    dispatcher = CollectingDispatcher()
    events = asyncio.run(ValidateVerifyOrderForm().run(dispatcher, tracker, domain))
    return dispatcher, events


def _refunds(world, reference: str) -> int:
    """Refunds recorded in the ledger for one order."""
    with world.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(Refund).join(Order, Order.id == Refund.order_id)
                            .where(Order.reference == reference)).scalar_one()


def test_matching_email_and_reference_verify_the_order(world, domain):
    tracker = make_tracker(slots={"pending_task": "get_license", "requested_slot": "order_ref",
                                  "email": "alice@example.com"},
                           new_slots={"order_ref": "100000001"}, active_loop=FORM)
    dispatcher, events = _validate(domain, tracker)
    slots = slot_events(events)
    assert slots["verified_ref"] == "100000001"
    assert slots["requested_slot"] is None  # nothing more to ask for a license
    assert "I found order 100000001" in texts(dispatcher)


def test_wrong_email_reveals_nothing_and_clears_both(world, domain):
    tracker = make_tracker(slots={"pending_task": "request_refund", "requested_slot": "order_ref",
                                  "email": "mallory@example.com"},
                           new_slots={"order_ref": "100000001"}, active_loop=FORM)
    dispatcher, events = _validate(domain, tracker)
    slots = slot_events(events)
    said = texts(dispatcher)
    assert slots["email"] is None and slots["order_ref"] is None
    assert slots.get("verified_ref") is None
    assert "couldn't find an order with that email address and order reference together" in said
    assert "alice" not in said and "49" not in said  # no order detail leaks
    # an unknown reference gets exactly the same answer
    tracker2 = make_tracker("conv-2", slots={"pending_task": "request_refund", "requested_slot": "order_ref",
                                             "email": "alice@example.com"},
                            new_slots={"order_ref": "999999999"}, active_loop=FORM)
    dispatcher2, _ = _validate(domain, tracker2)
    assert texts(dispatcher2) == said


def test_eligible_refund_needs_code_and_confirmation_and_happens_once(world, domain):
    sender = "conv-refund"
    base = {"pending_task": "request_refund", "email": "alice@example.com"}
    # verification + reason -> the refund is automatic, so the form asks for the code
    t = make_tracker(sender, slots={**base, "requested_slot": "order_ref"},
                     new_slots={"order_ref": "100000001"}, active_loop=FORM)
    _, events = _validate(domain, t)
    state = {**base, "order_ref": "100000001", **slot_events(events)}
    t = make_tracker(sender, slots=state, new_slots={"refund_reason": "no_longer_needed"}, active_loop=FORM)
    _, events = _validate(domain, t)
    state.update({"refund_reason": "no_longer_needed", **slot_events(events)})
    assert state["refund_route"] == "automatic"
    assert state["requested_slot"] == "one_time_code"

    ask = CollectingDispatcher()
    state.update(slot_events(ActionAskOneTimeCode().run(ask, make_tracker(sender, slots=state), domain)))
    assert "@example.com" in texts(ask) and "alice@example.com" not in texts(ask)  # masked
    code = world.latest_code("alice@example.com")

    t = make_tracker(sender, slots=state, new_slots={"one_time_code": code}, active_loop=FORM)
    _, events = _validate(domain, t)
    state.update({"one_time_code": code, **slot_events(events)})
    assert state["code_verified_ref"] == "100000001"
    assert state["requested_slot"] == "refund_confirmed"

    confirm = CollectingDispatcher()
    ActionAskRefundConfirmed().run(confirm, make_tracker(sender, slots=state), domain)
    assert "I will refund 49.00 EUR for order 100000001 to your Visa card ending 4242" in texts(confirm)

    # the customer's "yes" is recorded by the core against the question it asked
    t = make_tracker(sender, slots=state, new_slots={"refund_confirmed": True}, intent="affirm",
                     active_loop=FORM)
    _, events = _validate(domain, t)
    state.update({"refund_confirmed": True, **slot_events(events)})
    assert state["refund_confirmed"] is True and state["requested_slot"] is None
    done = CollectingDispatcher()
    ActionPerformTask().run(done, make_tracker(sender, slots=state, intent="affirm"), domain)
    assert "I've refunded 49.00 EUR" in texts(done)
    low, high = TYPICAL_BANK_DELAY_BUSINESS_DAYS  # the delay the core's RefundView carries
    assert f"within {low}-{high} business days" in texts(done)
    assert _refunds(world, "100000001") == 1
    assert len(world.provider.refund_calls()) == 1

    again = CollectingDispatcher()
    ActionPerformTask().run(again, make_tracker(sender, slots=state, intent="affirm"), domain)
    assert _refunds(world, "100000001") == 1
    assert len(world.provider.refund_calls()) == 1  # the retry replays the stored outcome


def test_no_at_the_confirmation_refunds_nothing(world, domain):
    state = {"pending_task": "request_refund", "email": "mia@example.com", "order_ref": "100000014",
             "verified_ref": "100000014", "refund_reason": "other", "refund_route": "automatic",
             "refund_confirmed": False}
    dispatcher = CollectingDispatcher()
    ActionPerformTask().run(dispatcher, make_tracker("conv-no", slots=state, intent="deny"), domain)
    assert "haven't refunded anything" in texts(dispatcher)
    assert _refunds(world, "100000014") == 0


def test_ineligible_refund_creates_a_ticket_for_the_right_team_and_pauses(world, domain):
    sender = "conv-bob"
    base = {"pending_task": "request_refund", "email": "bob@example.com", "refund_reason": "no_longer_needed"}
    t = make_tracker(sender, slots={**base, "requested_slot": "order_ref"},
                     new_slots={"order_ref": "100000002"}, active_loop=FORM)
    _, events = _validate(domain, t)
    state = {**base, "order_ref": "100000002", **slot_events(events)}
    assert state["refund_route"] == "handoff"
    assert state["requested_slot"] is None  # no code for a refund that will not be automatic

    dispatcher = CollectingDispatcher()
    events = ActionPerformTask().run(dispatcher, make_tracker(sender, slots=state), domain)
    assert any(e.get("event") == "pause" for e in events)
    assert "Customer Service team (case #" in texts(dispatcher)
    assert _refunds(world, "100000002") == 0
    with world.engine.connect() as conn:
        ticket = conn.execute(select(HandoffTicket)).one()
    assert ticket.team == "customer_service"
    assert ticket.conversation_id == sender


def test_guessed_codes_are_refused_then_throttled(world, domain):
    sender = "conv-guess"
    state = {"pending_task": "request_refund", "email": "mia@example.com", "order_ref": "100000014",
             "refund_reason": "other"}
    t = make_tracker(sender, slots={**state, "requested_slot": "order_ref"},
                     new_slots={"order_ref": "100000014"}, active_loop=FORM)
    _, events = _validate(domain, t)
    state.update(slot_events(events))
    ActionAskOneTimeCode().run(CollectingDispatcher(), make_tracker(sender, slots=state), domain)
    real = world.latest_code("mia@example.com")
    said = []
    for guess in ("000000", "111111", "222222", "333333", "444444", "555555"):
        if guess == real:
            continue
        t = make_tracker(sender, slots=state, new_slots={"one_time_code": guess}, active_loop=FORM)
        dispatcher, events = _validate(domain, t)
        said.append(texts(dispatcher))
        state.update(slot_events(events))
        if state.get("verification_blocked"):
            break
    assert "doesn't match" in said[0]
    assert state.get("verification_blocked") is True
    assert "too many times" in said[-1]
    assert state.get("code_verified_ref") is None
    # even the right code is useless now
    t = make_tracker(sender, slots=state, new_slots={"one_time_code": real}, active_loop=FORM)
    _, events = _validate(domain, t)
    assert slot_events(events).get("code_verified_ref") is None
    assert _refunds(world, "100000014") == 0


def test_contact_human_goes_to_the_team_of_the_task(world, domain):
    dispatcher = CollectingDispatcher()
    events = ActionHandOff().run(dispatcher, make_tracker("conv-h", slots={"pending_task": "refund_status"},
                                                          intent="contact_human"), domain)
    assert "Payment Processing team" in texts(dispatcher)
    assert any(e.get("event") == "pause" for e in events)


def test_refund_reasons_from_customers_words():
    assert reason_from_text("I was charged twice for the same thing") == "duplicate_order"
    assert reason_from_text("bought the wrong edition by mistake") == "wrong_product_ordered"
    assert reason_from_text("it crashes and won't install") == "product_not_working"
    assert reason_from_text("Didn't mean to renew") == "unintended_renewal"
    assert reason_from_text("no_longer_needed") == "no_longer_needed"
    assert reason_from_text("my cat likes boxes") == "other"


def test_ten_digits_are_not_read_as_a_reference(world, domain):
    tracker = make_tracker(slots={"pending_task": "get_license", "requested_slot": "order_ref",
                                  "email": "alice@example.com"},
                           new_slots={"order_ref": "1000000012"}, active_loop=FORM)
    dispatcher, events = _validate(domain, tracker)
    slots = slot_events(events)
    assert slots["order_ref"] is None and slots.get("verified_ref") is None
    assert "9 digits" in texts(dispatcher)


def test_the_code_prompt_states_what_the_core_sent(world, domain):
    """Length and lifetime come from the core's CodeDispatch, not from the action's text."""
    world.services.verification.code_ttl = timedelta(minutes=15)
    sender = "conv-ttl"
    state = {"pending_task": "request_refund", "email": "mia@example.com", "order_ref": "100000014",
             "refund_reason": "other"}
    t = make_tracker(sender, slots={**state, "requested_slot": "order_ref"},
                     new_slots={"order_ref": "100000014"}, active_loop=FORM)
    _, events = _validate(domain, t)
    state.update(slot_events(events))
    ask = CollectingDispatcher()
    ActionAskOneTimeCode().run(ask, make_tracker(sender, slots=state), domain)
    code = world.latest_code("mia@example.com")
    assert f"{len(code)}-digit code" in texts(ask)
    assert "valid for 15 minutes" in texts(ask)


def test_the_charge_lookup_reads_yen_as_yen(world, domain, monkeypatch):
    asked = {}

    def find_charges(conversation_id, **kwargs):
        asked.update(kwargs)
        return ChargeLookup(ChargeLookupStatus.NOT_FOUND)

    monkeypatch.setattr(world.services, "find_charges", find_charges)
    monkeypatch.setattr(world.services, "hand_off", lambda *a, **k: _FakeTicket())
    tracker = make_tracker("conv-yen", slots={"amount": "1200.00", "currency": "JPY",
                                              "date": "2024-06-01", "card_last4": "4242"})
    dispatcher = CollectingDispatcher()
    ActionLookupCharge().run(dispatcher, tracker, domain)
    assert asked["amount_minor"] == 1200 and asked["currency"] == "JPY"
    assert "1200 JPY" in texts(dispatcher)


class _FakeTicket:
    id, team, reference = 1, "customer_service", None


def test_the_action_modules_import_each_other_at_module_level_without_a_cycle():
    """No `from actions ...` inside a function, every task handler's ctx typed, and each module
    importable on its own (a cycle would fail one of them)."""
    import ast
    import subprocess
    import sys
    from pathlib import Path

    package = Path(__file__).resolve().parents[2] / "actions"
    for path in sorted(package.glob("*.py")):
        tree = ast.parse(path.read_text())
        for fn in (n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))):
            for node in ast.walk(fn):
                if isinstance(node, ast.ImportFrom):
                    assert not (node.module or "").startswith("actions"), f"{path.name}:{node.lineno}"
                if isinstance(node, ast.Import):
                    assert not any(a.name.startswith("actions") for a in node.names), \
                        f"{path.name}:{node.lineno}"
            for arg in fn.args.args:
                if arg.arg == "ctx":
                    assert ast.unparse(arg.annotation or ast.Constant(None)) == "TaskContext", \
                        f"{path.name}:{fn.name}"
        code = f"import actions.{path.stem}"
        subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
