"""Cancelling and reinstating subscriptions (seed 000: cancellation takes effect at the end of
the current billing period; nothing is charged during a trial).

`cancel_outcome` / `reinstate_outcome` say what the change would do without changing anything
(the facade needs a recorded confirmation only when something would change); `cancel` /
`reinstate` make it.
"""
from __future__ import annotations

from datetime import datetime

from supportbot.core.orders import subscription_status
from supportbot.core.views import SubscriptionChangeStatus
from supportbot.core.vocabulary import (
    SUBSCRIPTION_ACTIVE,
    SUBSCRIPTION_CANCELLED,
    SUBSCRIPTION_EXPIRED,
    SUBSCRIPTION_TRIAL,
)
from supportbot.db.models import Subscription


def cancel_outcome(subscription: Subscription, now: datetime) -> SubscriptionChangeStatus:
    """CANCELLED if cancelling now would turn auto-renew off; else why nothing would change."""
    if subscription_status(subscription, now) == SUBSCRIPTION_EXPIRED:
        return SubscriptionChangeStatus.PERIOD_ENDED
    if not subscription.auto_renew:
        return SubscriptionChangeStatus.ALREADY_CANCELLED
    return SubscriptionChangeStatus.CANCELLED


def cancel(subscription: Subscription, now: datetime) -> SubscriptionChangeStatus:
    """Turn auto-renew off; the subscription stays usable until `current_period_end`."""
    status = cancel_outcome(subscription, now)
    if status == SubscriptionChangeStatus.CANCELLED:
        subscription.auto_renew = False
        subscription.status = SUBSCRIPTION_CANCELLED
        subscription.cancelled_at = now
    return status


def reinstate_outcome(subscription: Subscription, now: datetime) -> SubscriptionChangeStatus:
    """REINSTATED if reinstating now would turn auto-renew back on; else why not."""
    if subscription.current_period_end <= now or subscription.status == SUBSCRIPTION_EXPIRED:
        return SubscriptionChangeStatus.PERIOD_ENDED
    if subscription.auto_renew:
        return SubscriptionChangeStatus.ALREADY_ACTIVE
    return SubscriptionChangeStatus.REINSTATED


def reinstate(subscription: Subscription, now: datetime) -> SubscriptionChangeStatus:
    """Undo a cancellation while the period has not ended (afterwards: a new purchase)."""
    status = reinstate_outcome(subscription, now)
    if status == SubscriptionChangeStatus.REINSTATED:
        subscription.auto_renew = True
        in_trial = subscription.trial_end is not None and subscription.trial_end > now
        subscription.status = SUBSCRIPTION_TRIAL if in_trial else SUBSCRIPTION_ACTIVE
        subscription.cancelled_at = None
    return status
