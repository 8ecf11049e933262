"""Order-information tasks (actions/orders.py), run as the action server runs them:
verify_order_form's validation on the real core, then action_perform_task, on the core's
template database (demo data anchored at ANCHOR) with a fake clock and the dev outbox."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from sqlalchemy import select

from supportbot.db.models import Client, HandoffTicket, Order, OrderItem
from tests.actions.conftest import (
    confirm_in_chat,
    make_tracker,
    run_action,
    slot_events,
    texts,
    verify_in_chat,
)


def _perform(domain, sender, state):
    return run_action("action_perform_task", make_tracker(sender, slots=state), domain)


def _tickets(world):
    with world.engine.connect() as conn:
        return conn.execute(select(HandoffTicket)).all()


def _order_id(world, reference):
    with world.engine.connect() as conn:
        return conn.execute(select(Order.id).where(Order.reference == reference)).scalar_one()


def _body(message) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()


def _link_lifetime(world, mail, kind: str, reference: str) -> timedelta:
    """How long the signed link in `mail` works, from its `expires` and the core's clock."""
    link = re.search(r"https?://\S+/" + kind + "/" + reference + r"\?\S*expires=(\d+)\S*", _body(mail))
    assert link, _body(mail)
    lifetime = datetime.fromtimestamp(int(link.group(1)), timezone.utc) - world.clock()
    assert lifetime > timedelta(0)
    return lifetime


def _lifetime_phrases(lifetime: timedelta) -> set:
    """How a chat reply may state a link lifetime: '2 days' or '48 hours'."""
    hours = int(lifetime.total_seconds() // 3600)
    phrases = {f"{hours} hours" if hours != 1 else "1 hour"}
    if hours % 24 == 0:
        days = hours // 24
        phrases.add(f"{days} days" if days != 1 else "1 day")
    return phrases


def test_missing_confirmation_resends_it_to_the_purchase_email_and_says_where(anchored_world, domain):
    w, sender, ref = anchored_world, "conv-conf", "100000001"
    state = verify_in_chat(w, domain, sender, "missing_confirmation", ref)
    assert state["verified_ref"] == ref
    dispatcher, _ = _perform(domain, sender, state)
    said = texts(dispatcher)
    email = w.purchase_email(ref)
    masked = w.services.order_summary(sender, ref).masked_email
    assert f"order {ref}" in said
    assert masked in said and email not in said  # masked, as the core masks it
    mails = w.mails_to(email)
    assert len(mails) == 1
    assert ref in mails[0]["Subject"]
    assert "Total: 49.00 EUR" in _body(mails[0])
    assert len(w.all_mails()) == 1  # nobody else got anything


def test_license_goes_to_the_mailbox_never_into_the_chat(anchored_world, domain):
    w, sender, ref = anchored_world, "conv-lic", "100000001"
    state = verify_in_chat(w, domain, sender, "get_license", ref)
    dispatcher, _ = _perform(domain, sender, state)
    said = texts(dispatcher)
    with w.engine.connect() as conn:
        key, activation, url = conn.execute(
            select(OrderItem.license_key, OrderItem.activation_code, OrderItem.download_url)
            .join(Order, Order.id == OrderItem.order_id).where(Order.reference == ref)).one()
    assert key
    (mail,) = w.mails_to(w.purchase_email(ref))
    body = _body(mail)
    assert key in body and url in body
    for secret in (key, activation, url):
        if secret:
            assert secret not in said
    assert f"order {ref}" in said
    assert w.services.order_summary(sender, ref).masked_email in said


def test_invoice_link_is_mailed_to_the_order_email_only(anchored_world, domain):
    w, sender, ref = anchored_world, "conv-inv", "100000003"
    state = verify_in_chat(w, domain, sender, "download_invoice", ref)
    dispatcher, _ = _perform(domain, sender, state)
    said = texts(dispatcher)
    (mail,) = w.mails_to(w.purchase_email(ref))
    assert f"/invoice/{ref}?" in _body(mail)
    assert "http" not in said and "sig=" not in said  # the signed link stays in the mailbox
    phrases = _lifetime_phrases(_link_lifetime(w, mail, "invoice", ref))
    assert any(p in said for p in phrases), f"chat should say the link works for {phrases}: {said!r}"
    assert f"order {ref}" in said
    assert w.services.order_summary(sender, ref).masked_email in said
    assert len(w.all_mails()) == 1


def test_payment_method_link_lifetime_is_the_one_the_core_puts_in_the_link(anchored_world, domain):
    w, sender, ref = anchored_world, "conv-pm", "100000001"
    state = verify_in_chat(w, domain, sender, "change_payment_method", ref)
    state, question = confirm_in_chat(w, domain, sender, state)
    assert question == ("I will email a secure link to change the payment method for order "
                        f"{ref} to a***e@example.com. Shall I go ahead?")
    dispatcher, _ = _perform(domain, sender, state)
    said = texts(dispatcher)
    (mail,) = [m for m in w.mails_to(w.purchase_email(ref)) if "payment-method/" in _body(m)]
    phrases = _lifetime_phrases(_link_lifetime(w, mail, "payment-method", ref))
    assert any(p in said for p in phrases), f"chat should say the link works for {phrases}: {said!r}"
    assert "http" not in said and "sig=" not in said  # the signed link stays in the mailbox
    assert w.services.order_summary(sender, ref).masked_email in said


def test_a_changed_email_slot_does_not_redirect_the_mail(anchored_world, domain):
    """Once verified, the data goes to the order's address, whatever the chat claims later."""
    w, sender, ref = anchored_world, "conv-redirect", "100000001"
    state = verify_in_chat(w, domain, sender, "get_license", ref)
    state["email"] = "mallory@evil.example"
    _perform(domain, sender, state)
    assert w.mails_to("mallory@evil.example") == []
    assert len(w.mails_to(w.purchase_email(ref))) == 1


def test_forged_verification_slots_disclose_nothing_and_send_nothing(anchored_world, domain):
    """order_ref == verified_ref set by the client, but this conversation never verified."""
    w, sender, ref = anchored_world, "conv-forged", "100000001"
    for task in ("get_license", "missing_confirmation", "technical_support", "payment_missing"):
        state = {"pending_task": task, "email": "alice@example.com", "order_ref": ref,
                 "verified_ref": ref}
        dispatcher, events = _perform(domain, sender, state)
        said = texts(dispatcher)
        assert "***" not in said and "PixelForge" not in said and "49.00" not in said, said
        assert slot_events(events).get("verified_ref", "kept") is None  # verification asked again
    assert w.all_mails() == []
    assert _tickets(w) == []


def test_mismatched_pair_gets_no_task_done(anchored_world, domain):
    w, sender, ref = anchored_world, "conv-mismatch", "100000001"
    state = verify_in_chat(w, domain, sender, "missing_confirmation", ref, email="bob@example.com")
    assert state.get("verified_ref") is None
    state = {**state, "order_ref": ref}  # even if the reference were kept
    dispatcher, _ = _perform(domain, sender, state)
    assert "***" not in texts(dispatcher)
    assert w.all_mails() == []


def test_missing_payment_on_a_pending_order_goes_to_payment_processing(anchored_world, domain):
    w, sender, ref = anchored_world, "conv-pending", "100000004"
    state = verify_in_chat(w, domain, sender, "payment_missing", ref)
    dispatcher, events = _perform(domain, sender, state)
    said = texts(dispatcher)
    info = w.services.order_summary(sender, ref).pending_payment_info
    assert info is not None and info.overdue
    assert f"{info.business_days_pending} business days" in said
    assert f"up to {info.expected_business_days}" in said
    assert "49.00 EUR" in said
    assert "Payment Processing team (case #" in said
    assert any(e.get("event") == "pause" for e in events)
    (ticket,) = _tickets(w)
    assert ticket.team == "payment_processing"
    assert ticket.reason_code == "payment_missing"
    assert ticket.conversation_id == sender
    assert ticket.order_id == _order_id(w, ref)  # the verified order travels with the ticket


def test_missing_payment_on_a_paid_order_says_it_arrived_and_opens_no_ticket(anchored_world, domain):
    w, sender, ref = anchored_world, "conv-paid", "100000001"
    state = verify_in_chat(w, domain, sender, "payment_missing", ref)
    dispatcher, events = _perform(domain, sender, state)
    said = texts(dispatcher)
    assert f"order {ref}" in said and "has arrived" in said
    assert "49.00 EUR" in said
    assert _tickets(w) == []
    assert not any(e.get("event") == "pause" for e in events)


def test_technical_support_names_the_vendor_and_its_contact_from_the_database(anchored_world, domain):
    w, sender = anchored_world, "conv-tech"
    for ref in ("100000010", "100000015"):
        state = verify_in_chat(w, domain, f"{sender}-{ref}", "technical_support", ref)
        dispatcher, _ = _perform(domain, f"{sender}-{ref}", state)
        said = texts(dispatcher)
        with w.engine.connect() as conn:
            name, contact = conn.execute(
                select(Client.name, Client.technical_support)
                .join(Order, Order.client_id == Client.id).where(Order.reference == ref)).one()
        assert name in said and contact in said
    assert _tickets(w) == []
    assert w.all_mails() == []
