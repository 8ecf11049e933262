"""Subscriptions: status, cancel at the end of the billing period, reinstate."""
from __future__ import annotations

from typing import List

from rasa_sdk.events import EventType

from actions.common import format_date


def _no_subscription(ctx) -> List[EventType]:
    ctx.dispatcher.utter_message(
        text=f"Order {ctx.reference} is a one-time purchase, not a subscription, so nothing will renew.")
    return []


def status(ctx) -> List[EventType]:
    sub = ctx.services.subscription(ctx.conversation_id, ctx.reference)
    if sub is None:
        return _no_subscription(ctx)
    if sub.in_trial:
        text = (f"Your {sub.plan} subscription is in its free trial until {format_date(sub.trial_end)}. "
                "Nothing is charged during the trial.")
    elif sub.auto_renew and sub.status == "active":
        text = (f"Your {sub.plan} subscription is active and renews automatically on "
                f"{format_date(sub.current_period_end)}.")
    elif sub.can_reinstate or (sub.status in ("active", "cancelled") and not sub.auto_renew):
        text = (f"Your {sub.plan} subscription is cancelled: it won't renew, and you can keep using it "
                f"until {format_date(sub.current_period_end)}.")
    else:
        text = f"Your {sub.plan} subscription ended on {format_date(sub.current_period_end)}."
    ctx.dispatcher.utter_message(text=text)
    return []


def cancel(ctx) -> List[EventType]:
    change = ctx.services.cancel_subscription(ctx.conversation_id, ctx.reference)
    sub = change.subscription
    if sub is None:
        return _no_subscription(ctx)
    if change.status == "already_cancelled":
        ctx.dispatcher.utter_message(
            text=f"Your {sub.plan} subscription was already cancelled; it ends on {format_date(sub.current_period_end)}.")
        return []
    ctx.dispatcher.utter_message(
        text=f"Done: your {sub.plan} subscription won't renew. It stays active until the end of the "
             f"current billing period, {format_date(sub.current_period_end)}, and you won't be charged again. "
             "The period you've already paid for isn't refunded. If you change your mind before then, "
             "I can reactivate it.")
    return []


def reinstate(ctx) -> List[EventType]:
    change = ctx.services.reinstate_subscription(ctx.conversation_id, ctx.reference)
    sub = change.subscription
    if sub is None:
        return _no_subscription(ctx)
    if change.status == "reinstated":
        ctx.dispatcher.utter_message(
            text=f"Welcome back! Your {sub.plan} subscription is active again and will renew on "
                 f"{format_date(sub.current_period_end)}.")
    elif change.status == "already_active":
        ctx.dispatcher.utter_message(
            text=f"Your {sub.plan} subscription isn't cancelled; it renews on {format_date(sub.current_period_end)}.")
    else:
        ctx.dispatcher.utter_message(
            text=f"Your {sub.plan} subscription ended on {format_date(sub.current_period_end)}, so it can't be "
                 "reactivated; you can buy a new one from the vendor's website.")
    return []
