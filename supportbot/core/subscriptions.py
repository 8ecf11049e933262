"""Cancelling and reinstating subscriptions (seed 000: cancellation takes effect at the end of
the current billing period; nothing is charged during a trial)."""
from __future__ import annotations

from datetime import datetime

from supportbot.core.orders import subscription_status
from supportbot.core.views import (
    ALREADY_ACTIVE,
    ALREADY_CANCELLED,
    CANCELLED,
    PERIOD_ENDED,
    REINSTATED,
)
from supportbot.core.vocabulary import (
    SUBSCRIPTION_ACTIVE,
    SUBSCRIPTION_CANCELLED,
    SUBSCRIPTION_EXPIRED,
    SUBSCRIPTION_TRIAL,
)
from supportbot.db.models import Subscription


def cancel(subscription: Subscription, now: datetime) -> str:
    """Turn auto-renew off; the subscription stays usable until `current_period_end`."""
    if subscription_status(subscription, now) == SUBSCRIPTION_EXPIRED:
        return PERIOD_ENDED
    if not subscription.auto_renew:
        return ALREADY_CANCELLED
    subscription.auto_renew = False
    subscription.status = SUBSCRIPTION_CANCELLED
    subscription.cancelled_at = now
    return CANCELLED


def reinstate(subscription: Subscription, now: datetime) -> str:
    """Undo a cancellation while the period has not ended (afterwards: a new purchase)."""
    if subscription.current_period_end <= now or subscription.status == SUBSCRIPTION_EXPIRED:
        return PERIOD_ENDED
    if subscription.auto_renew:
        return ALREADY_ACTIVE
    subscription.auto_renew = True
    in_trial = subscription.trial_end is not None and subscription.trial_end > now
    subscription.status = SUBSCRIPTION_TRIAL if in_trial else SUBSCRIPTION_ACTIVE
    subscription.cancelled_at = None
    return REINSTATED
