"""Order information tasks: confirmation, license, invoice, payment link, missing payment,
the vendor's technical support. Nothing is shown in chat that the purchase email should get.
"""
from __future__ import annotations

from rasa_sdk.events import EventType

from actions.common import format_date, format_money
from actions.context import TaskContext
from actions.handoff import hand_off
from supportbot.core.errors import ConfirmationRequired
from supportbot.core.vocabulary import format_duration


def resend_confirmation(ctx: TaskContext) -> list[EventType]:
    sent_to = ctx.services.resend_order_confirmation(ctx.conversation_id, ctx.reference)
    ctx.dispatcher.utter_message(
        text=f"I've sent the order confirmation for order {ctx.reference} again to {sent_to}. "
             "It can take a few minutes; please also check your spam or junk folder.")
    return []


def resend_license(ctx: TaskContext) -> list[EventType]:
    sent_to = ctx.services.resend_license(ctx.conversation_id, ctx.reference)
    ctx.dispatcher.utter_message(
        text=f"I've emailed the license key, activation code and download link for order "
             f"{ctx.reference} to {sent_to}. For your security I don't show keys in the chat. "
             "If it isn't there in a few minutes, check your spam folder.")
    return []


def send_invoice(ctx: TaskContext) -> list[EventType]:
    sent = ctx.services.send_invoice(ctx.conversation_id, ctx.reference)
    ctx.dispatcher.utter_message(
        text=f"I've sent a link to download the invoice for order {ctx.reference} to "
             f"{sent.masked_email}. The link works for {format_duration(sent.valid_for)}.")
    return []


def send_payment_method_link(ctx: TaskContext) -> list[EventType]:
    """Only after the code and a confirmed question (verify_order_form); the core refuses
    otherwise."""
    if ctx.tracker.get_slot("refund_confirmed") is False:
        ctx.dispatcher.utter_message(text="OK, I haven't sent anything.")
        return []
    try:
        sent = ctx.services.send_payment_method_link(ctx.conversation_id, ctx.reference)
    except ConfirmationRequired:
        ctx.dispatcher.utter_message(
            text="I haven't sent the link: I can only do that after you've typed the code from our "
                 "email and said yes. Just ask again if you'd like it.")
        return []
    ctx.dispatcher.utter_message(
        text=f"I've sent a secure link to {sent.masked_email}. Use it to change the card or payment "
             f"method for order {ctx.reference}; the link works for {format_duration(sent.valid_for)}.")
    return []


def report_missing_payment(ctx: TaskContext) -> list[EventType]:
    order = ctx.services.order_summary(ctx.conversation_id, ctx.reference)
    pending = order.pending_payment_info
    if pending is None:
        ctx.dispatcher.utter_message(
            text=f"Good news: the payment for order {ctx.reference} "
                 f"({format_money(order.total_minor, order.currency)}) has arrived; the order is {order.status}.")
        return []
    ctx.dispatcher.utter_message(
        text=f"Order {ctx.reference} from {format_date(order.placed_at)} is still waiting for its payment "
             f"of {format_money(pending.amount_minor, pending.currency)} "
             f"({pending.business_days_pending} business days so far; transfers usually take up to "
             f"{pending.expected_business_days}). {pending.instructions} "
             "Our Payment Processing team can trace your payment and assign it to the order.")
    return hand_off(ctx, pending.team, "payment_missing",
                    f"Customer says order {ctx.reference} is paid but it is still {order.status} "
                    f"after {pending.business_days_pending} business days")


def give_technical_support_contact(ctx: TaskContext) -> list[EventType]:
    order = ctx.services.order_summary(ctx.conversation_id, ctx.reference)
    contact = order.technical_support or "the support section of the vendor's website"
    ctx.dispatcher.utter_message(
        text=f"Problems with the software itself are handled by its maker, {order.client_name}. "
             f"Their technical support: {contact}. We're the reseller, so we look after the order, "
             "payment and refunds; if the product can't be made to work, I can help with a refund.")
    return []
