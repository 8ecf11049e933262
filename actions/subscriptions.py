"""Subscriptions: status, cancel at the end of the billing period, reinstate. Cancelling and
reinstating need the one-time code and a confirmed question (verify_order_form); the core
refuses without them, whatever the slots say. The status needs neither."""
from __future__ import annotations

from rasa_sdk.events import EventType

from actions.common import format_date
from actions.context import TaskContext
from supportbot.core.errors import NotVerified
from supportbot.core.views import SubscriptionChange, SubscriptionChangeStatus, SubscriptionView
from supportbot.core.vocabulary import SUBSCRIPTION_ACTIVE, SUBSCRIPTION_CANCELLED


def _no_subscription(ctx: TaskContext) -> list[EventType]:
    ctx.dispatcher.utter_message(
        text=f"Order {ctx.reference} is a one-time purchase, not a subscription, so nothing will renew.")
    return []


def _declined(ctx: TaskContext) -> bool:
    """The customer said no to the confirmation question: say so, change nothing."""
    if ctx.tracker.get_slot("refund_confirmed") is False:
        ctx.dispatcher.utter_message(text="OK, I haven't changed anything: your subscription stays as it is.")
        return True
    return False


def _unconfirmed(ctx: TaskContext, change: SubscriptionChange) -> bool:
    """The core refused: no recorded "yes" to this change after a code. Nothing changed."""
    if change.status == SubscriptionChangeStatus.CONFIRMATION_REQUIRED:
        ctx.dispatcher.utter_message(
            text="I haven't changed anything: I can only do that after you've typed the code from "
                 "our email and said yes to the change. Just ask again if you'd like it.")
        return True
    return False


def _subscription(ctx: TaskContext, change: SubscriptionChange) -> SubscriptionView | None:
    """The changed subscription; NotVerified when the database does not know this
    conversation verified the order (action_perform_task then asks again)."""
    if change.status == SubscriptionChangeStatus.NOT_VERIFIED:
        raise NotVerified(ctx.conversation_id, str(ctx.reference))
    return change.subscription


def status(ctx: TaskContext) -> list[EventType]:
    sub = ctx.services.subscription(ctx.conversation_id, ctx.reference)
    if sub is None:
        return _no_subscription(ctx)
    if sub.in_trial:
        text = (f"Your {sub.plan} subscription is in its free trial until {format_date(sub.trial_end)}. "
                "Nothing is charged during the trial.")
        if not sub.auto_renew:
            text += " It's cancelled, so it won't renew and you won't be charged afterwards."
    elif sub.auto_renew and sub.status == SUBSCRIPTION_ACTIVE:
        text = (f"Your {sub.plan} subscription is active and renews automatically on "
                f"{format_date(sub.current_period_end)}.")
    elif sub.can_reinstate or (sub.status in (SUBSCRIPTION_ACTIVE, SUBSCRIPTION_CANCELLED)
                               and not sub.auto_renew):
        text = (f"Your {sub.plan} subscription is cancelled: it won't renew, and you can keep using it "
                f"until {format_date(sub.current_period_end)}.")
    else:
        text = f"Your {sub.plan} subscription ended on {format_date(sub.current_period_end)}."
    ctx.dispatcher.utter_message(text=text)
    return []


def cancel(ctx: TaskContext) -> list[EventType]:
    if _declined(ctx):
        return []
    change = ctx.services.cancel_subscription(ctx.conversation_id, ctx.reference)
    if _unconfirmed(ctx, change):
        return []
    sub = _subscription(ctx, change)
    if sub is None:
        return _no_subscription(ctx)
    if change.status == SubscriptionChangeStatus.PERIOD_ENDED:
        ctx.dispatcher.utter_message(
            text=f"Your {sub.plan} subscription already ended on {format_date(sub.current_period_end)}, "
                 "so there's nothing to cancel and it won't renew.")
        return []
    if change.status == SubscriptionChangeStatus.ALREADY_CANCELLED:
        ctx.dispatcher.utter_message(
            text=f"Your {sub.plan} subscription was already cancelled; "
                 f"it ends on {format_date(sub.current_period_end)}.")
        return []
    if sub.in_trial:
        ctx.dispatcher.utter_message(
            text=f"Done: your {sub.plan} subscription won't renew. You can keep using the free trial "
                 f"until {format_date(sub.current_period_end)}, and nothing will be charged. If you "
                 "change your mind before then, I can reactivate it.")
        return []
    ctx.dispatcher.utter_message(
        text=f"Done: your {sub.plan} subscription won't renew. It stays active until the end of the "
             f"current billing period, {format_date(sub.current_period_end)}, and you won't be charged again. "
             "The period you've already paid for isn't refunded. If you change your mind before then, "
             "I can reactivate it.")
    return []


def reinstate(ctx: TaskContext) -> list[EventType]:
    if _declined(ctx):
        return []
    change = ctx.services.reinstate_subscription(ctx.conversation_id, ctx.reference)
    if _unconfirmed(ctx, change):
        return []
    sub = _subscription(ctx, change)
    if sub is None:
        return _no_subscription(ctx)
    if change.status == SubscriptionChangeStatus.REINSTATED:
        ctx.dispatcher.utter_message(
            text=f"Welcome back! Your {sub.plan} subscription is active again and will renew on "
                 f"{format_date(sub.current_period_end)}.")
    elif change.status == SubscriptionChangeStatus.ALREADY_ACTIVE:
        ctx.dispatcher.utter_message(
            text=f"Your {sub.plan} subscription isn't cancelled; it renews on {format_date(sub.current_period_end)}.")
    else:
        ctx.dispatcher.utter_message(
            text=f"Your {sub.plan} subscription ended on {format_date(sub.current_period_end)}, so it can't be "
                 "reactivated; you can buy a new one from the vendor's website.")
    return []
