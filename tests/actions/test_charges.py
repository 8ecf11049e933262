"""Unknown charges (actions/charges.py): who the reseller is, the charge_lookup_form's
checks, and the privacy-safe lookup by amount, date and card's last 4 digits on the core's
template database. A lookup names the vendor behind a charge, never an order or an email."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from supportbot.core.errors import NotVerified
from supportbot.db.models import Client, Customer, HandoffTicket, Order, Payment
from tests.actions.conftest import ANCHOR, buttons, make_tracker, run_action, slot_events, texts

FORM = "charge_lookup_form"


def _charge(world, reference):
    """The completed card/wallet charge of an order, with its vendor and buyer, from the database."""
    with world.engine.connect() as conn:
        return conn.execute(
            select(Payment.amount_minor, Payment.currency, Payment.occurred_at, Payment.card_last4,
                   Client.name.label("client"), Client.statement_descriptor, Customer.email,
                   Customer.name.label("buyer"))
            .join(Order, Order.id == Payment.order_id)
            .join(Client, Client.id == Order.client_id)
            .join(Customer, Customer.id == Order.customer_id)
            .where(Order.reference == reference, Payment.kind == "charge")).one()


def _tickets(world):
    with world.engine.connect() as conn:
        return conn.execute(select(HandoffTicket)).all()


def _validate(domain, slot, value, sender="conv-charge"):
    tracker = make_tracker(sender, slots={"requested_slot": slot}, new_slots={slot: value},
                           active_loop=FORM)
    dispatcher, events = run_action("validate_charge_lookup_form", tracker, domain)
    return texts(dispatcher), slot_events(events)


def _lookup(domain, sender, **slots):
    dispatcher, events = run_action("action_lookup_charge", make_tracker(sender, slots=slots), domain)
    return dispatcher, events


def _assert_discloses_no_order(said, charge):
    assert not re.search(r"\d{9}", said), f"an order reference leaked: {said!r}"
    assert "@" not in said and "***" not in said, f"an email address leaked: {said!r}"
    if charge.buyer:
        for part in charge.buyer.split():
            assert part not in said, f"the buyer's name leaked: {said!r}"


def test_the_explanation_says_who_charged_and_what_to_give(anchored_world, domain):
    dispatcher, events = run_action("action_explain_unknown_charge", make_tracker("conv-why"), domain)
    said = texts(dispatcher)
    assert "reseller" in said
    assert "amount" in said and "date" in said and "last 4 digits" in said
    assert events == []


@pytest.mark.parametrize("reference", ["100000001", "100000013", "100000015", "100000022"])
def test_a_matching_charge_names_the_vendor_and_nothing_else(anchored_world, domain, reference):
    w, sender = anchored_world, f"conv-lookup-{reference}"
    charge = _charge(w, reference)
    dispatcher, events = _lookup(domain, sender, amount=f"{charge.amount_minor / 100:.2f}",
                                 currency=charge.currency,
                                 date=charge.occurred_at.date().isoformat(),
                                 card_last4=charge.card_last4)
    said = texts(dispatcher)
    assert charge.client in said
    assert charge.statement_descriptor in said
    day = charge.occurred_at.date()
    assert f"{day.day} {day:%B %Y}" in said
    _assert_discloses_no_order(said, charge)
    assert "/request_refund" in [b["payload"] for b in buttons(dispatcher)]
    assert _tickets(w) == []
    assert not any(e.get("event") == "pause" for e in events)
    # the lookup proves nothing: the conversation still cannot see the order
    with pytest.raises(NotVerified):
        w.services.order_summary(sender, reference)


def test_the_form_slots_are_cleared_after_a_lookup(anchored_world, domain):
    charge = _charge(anchored_world, "100000001")
    _, events = _lookup(domain, "conv-clear", amount="49.00", date=charge.occurred_at.date().isoformat(),
                        card_last4="4242", currency="EUR")
    slots = slot_events(events)
    for name in ("amount", "date", "card_last4", "currency"):
        assert name in slots and slots[name] is None, name


def test_a_charge_the_customer_describes_in_words_is_found(anchored_world, domain):
    """The customer's sentence -> the NLU's entities (slots) -> the form's checks -> the lookup."""
    from supportbot.nlu.pattern_entities import PatternEntityExtractor

    charge = _charge(anchored_world, "100000001")
    sentence = f"I was charged 49,00 € on {charge.occurred_at:%d %B %Y} on my card ending 4242"
    extractor = PatternEntityExtractor({"dimensions": ["amount", "currency", "date", "card_last4"],
                                        "today": ANCHOR.date().isoformat()})
    entities = {e["entity"]: e["value"] for e in extractor.extract(sentence)}
    state = {"currency": entities.get("currency")}
    for slot in ("amount", "date", "card_last4"):
        tracker = make_tracker("conv-typed", slots={**state, "requested_slot": slot},
                               new_slots={slot: entities.get(slot)}, active_loop=FORM)
        dispatcher, events = run_action("validate_charge_lookup_form", tracker, domain)
        said, slots = texts(dispatcher), slot_events(events)
        assert said == "" and slots.get(slot) is not None, (slot, entities, said)
        state.update(slots)
    assert state["date"] == charge.occurred_at.date().isoformat()
    dispatcher, _ = _lookup(domain, "conv-typed", **state)
    said = texts(dispatcher)
    assert charge.client in said and charge.statement_descriptor in said
    _assert_discloses_no_order(said, charge)


def test_no_match_hands_over_to_customer_service_without_attaching_an_order(anchored_world, domain):
    w, sender = anchored_world, "conv-nomatch"
    dispatcher, events = _lookup(domain, sender, amount="12.34", date="2024-05-29", card_last4="9999")
    said = texts(dispatcher)
    assert "couldn't match" in said
    assert "Customer Service team (case #" in said
    assert any(e.get("event") == "pause" for e in events)
    (ticket,) = _tickets(w)
    assert ticket.team == "customer_service"
    assert ticket.reason_code == "unknown_charge"
    assert ticket.conversation_id == sender
    assert ticket.order_id is None


def test_no_match_repeats_the_amount_the_customer_gave(anchored_world, domain):
    dispatcher, _ = _lookup(domain, "conv-nomatch-amount", amount="12.34", date="2024-05-29",
                            card_last4="9999")
    said = texts(dispatcher).split("\n")[0]
    assert "12.34" in said, said
    assert "the full amount" not in said


def test_a_right_amount_on_another_card_reveals_nothing(anchored_world, domain):
    """49.00 EUR on 29 May is alice's charge, but not on a card ending 9999."""
    w = anchored_world
    charge = _charge(w, "100000001")
    dispatcher, _ = _lookup(domain, "conv-othercard", amount="49.00", currency="EUR",
                            date=charge.occurred_at.date().isoformat(), card_last4="9999")
    said = texts(dispatcher)
    assert charge.client not in said and charge.statement_descriptor not in said
    _assert_discloses_no_order(said, charge)


def test_a_full_card_number_is_refused_and_not_echoed(anchored_world, domain):
    said, slots = _validate(domain, "card_last4", "4111 1111 1111 1111")
    assert slots["card_last4"] is None
    assert "last 4 digits" in said
    assert "4111" not in said and "1111" not in said


def test_the_form_refuses_what_is_not_an_amount_or_a_date(anchored_world, domain):
    said, slots = _validate(domain, "amount", "a lot")
    assert slots["amount"] is None and "number" in said
    said, slots = _validate(domain, "date", "the day my cat was sick")
    assert slots["date"] is None and "date" in said
    said, slots = _validate(domain, "card_last4", "42")
    assert slots["card_last4"] is None
