"""Server-side confirmations: the customer's own "yes" to exactly the change that is made.

A refund, cancelling or reinstating a subscription and sending a change-of-payment-method link
move money now or later. Each happens only through this sequence, recorded in `confirmations`:

1. **asked** (`ask`): when the bot puts the question, the facade computes the terms it states
   (order, amount and where it goes back to; plan, price and period end; where the link goes)
   and writes a `pending` row - only if this conversation entered a valid one-time code for
   that order and purpose (`VerificationService.proof_challenge`), whose id the row keeps.
   Any other open question of the conversation is superseded: one question at a time.
2. **answered** (`answer`): the customer's reply marks the newest pending row of exactly this
   conversation, order and purpose `confirmed` or `declined`, while it has not expired.
3. **used** (`use`): the facade method making the change re-computes the terms and uses a
   `confirmed`, unexpired row with equal terms whose code is still valid, in the change's own
   transaction, with a conditional UPDATE (`status = 'confirmed'`): exactly once, even for
   concurrent callers. Different terms (the amount or the period changed since the question)
   supersede the row and refuse.

A new order lookup or a new code for the conversation supersedes its open rows
(`supersede_open`): changing the order or the email at the confirmation step starts over.
Nothing here trusts the caller's slots: the caller can only say "the customer answered yes to
the question you recorded", never what the question was.
"""
from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from supportbot.core.orders import charge_of, mask_email
from supportbot.core.refund_policy import RefundDecision
from supportbot.core.timeutil import Clock, utcnow
from supportbot.core.views import ConfirmationStatus
from supportbot.core.vocabulary import (
    CODE_PURPOSE_OF,
    CONFIRMATION_CONFIRMED,
    CONFIRMATION_DECLINED,
    CONFIRMATION_PENDING,
    CONFIRMATION_PURPOSES,
    CONFIRMATION_SUPERSEDED,
    CONFIRMATION_USED,
)
from supportbot.db.models import Confirmation, Order, Subscription, VerificationChallenge

if TYPE_CHECKING:
    from supportbot.core.verification import VerificationService

#: how long the customer has to answer, and the "yes" stays usable
CONFIRMATION_TTL = timedelta(minutes=15)

OPEN_STATUSES = (CONFIRMATION_PENDING, CONFIRMATION_CONFIRMED)


# ---- the terms the customer is asked to agree to (JSON: compared as stored) -------------------
def _canonical(terms: dict[str, Any]) -> dict[str, Any]:
    """As the JSON column gives it back (so stored and re-computed terms compare equal)."""
    result: dict[str, Any] = json.loads(json.dumps(terms, sort_keys=True))
    return result


def refund_terms(order: Order, decision: RefundDecision, reason: str) -> dict[str, Any]:
    charge = charge_of(order)
    return _canonical({
        "reference": order.reference,
        "amount_minor": decision.amount_minor,
        "currency": decision.currency or order.currency,
        "reason": reason,
        "payment_method": order.payment_method,
        "card_brand": charge.card_brand if charge else None,
        "card_last4": charge.card_last4 if charge else None,
    })


def subscription_terms(order: Order, subscription: Subscription) -> dict[str, Any]:
    return _canonical({
        "reference": order.reference,
        "plan": subscription.plan,
        "amount_minor": subscription.renewal_price_minor,
        "currency": subscription.currency,
        "billing_period": subscription.billing_period,
        "period_end": subscription.current_period_end.isoformat(),
        "trial_end": subscription.trial_end.isoformat() if subscription.trial_end else None,
        "auto_renew": bool(subscription.auto_renew),
    })


def payment_method_terms(order: Order, email_digest: str) -> dict[str, Any]:
    return _canonical({
        "reference": order.reference,
        "masked_email": mask_email(order.customer.email),
        "email_digest": email_digest,
        "payment_method": order.payment_method,
    })


# ---- invalidation (also used by verification.py: no import of it here at run time) ----------
def supersede_open(session: Session, conversation_id: str, now: datetime,
                   order_id: int | None = None) -> int:
    """Supersede the conversation's pending and confirmed rows (of one order, or all)."""
    statement = (
        update(Confirmation)
        .where(Confirmation.conversation_id == conversation_id,
               Confirmation.status.in_(OPEN_STATUSES))
        .values(status=CONFIRMATION_SUPERSEDED, answered_at=now)
        .execution_options(synchronize_session=False)
    )
    if order_id is not None:
        statement = statement.where(Confirmation.order_id == order_id)
    count: int = session.execute(statement).rowcount
    return count


class Confirmations:
    """The three steps of the module doc, inside the caller's transaction."""

    def __init__(self, verification: VerificationService, *, clock: Clock = utcnow,
                 ttl: timedelta = CONFIRMATION_TTL):
        self.verification = verification
        self.clock = clock
        self.ttl = ttl

    @staticmethod
    def _check_purpose(purpose: str) -> str:
        if purpose not in CONFIRMATION_PURPOSES:
            raise ValueError(f"unknown confirmation purpose {purpose!r}; one of {CONFIRMATION_PURPOSES}")
        return CODE_PURPOSE_OF[purpose]

    def _code_still_valid(self, session: Session, row: Confirmation, now: datetime) -> bool:
        challenge = session.get(VerificationChallenge, row.challenge_id)
        newest = self.verification.proof_challenge(session, row.conversation_id, row.order_id,
                                                   challenge.purpose if challenge else "")
        return (challenge is not None and newest is not None and newest.id == challenge.id
                and challenge.verified_at is not None and challenge.verified_at <= row.created_at
                and now < row.expires_at)

    def ask(self, session: Session, conversation_id: str, order: Order, purpose: str,
            terms: dict[str, Any]) -> Confirmation | None:
        """A pending row for these terms; None when no valid one-time code backs it."""
        code_purpose = self._check_purpose(purpose)
        now = self.clock()
        challenge = self.verification.proof_challenge(session, conversation_id, order.id,
                                                      code_purpose)
        if challenge is None:
            return None
        supersede_open(session, conversation_id, now)
        row = Confirmation(conversation_id=conversation_id, order_id=order.id, purpose=purpose,
                           terms=_canonical(terms), challenge_id=challenge.id,
                           status=CONFIRMATION_PENDING, created_at=now,
                           expires_at=now + self.ttl)
        session.add(row)
        session.flush()
        return row

    @staticmethod
    def _newest(session: Session, conversation_id: str, order: Order, purpose: str,
                status: str) -> Confirmation | None:
        """The newest row of this conversation, order and purpose in `status`, locked."""
        row: Confirmation | None = session.execute(
            select(Confirmation)
            .where(Confirmation.conversation_id == conversation_id,
                   Confirmation.order_id == order.id,
                   Confirmation.purpose == purpose,
                   Confirmation.status == status)
            .order_by(Confirmation.id.desc())
            .limit(1)
            .with_for_update()
        ).scalar_one_or_none()
        return row

    def answer(self, session: Session, conversation_id: str, order: Order, purpose: str,
               accepted: bool) -> ConfirmationStatus:
        """The customer's yes (`accepted`) or no to the newest open question of exactly this
        conversation, order and purpose."""
        self._check_purpose(purpose)
        now = self.clock()
        row = self._newest(session, conversation_id, order, purpose, CONFIRMATION_PENDING)
        if row is None or now >= row.expires_at:
            return ConfirmationStatus.NO_QUESTION
        row.answered_at = now
        if not accepted:
            row.status = CONFIRMATION_DECLINED
            return ConfirmationStatus.DECLINED
        if not self._code_still_valid(session, row, now):
            row.status = CONFIRMATION_SUPERSEDED
            return ConfirmationStatus.CODE_REQUIRED
        row.status = CONFIRMATION_CONFIRMED
        return ConfirmationStatus.CONFIRMED

    def decline_open(self, session: Session, conversation_id: str) -> int:
        """The customer stopped the task ("no"): every open question of the conversation is
        declined, so no later call can use it."""
        now = self.clock()
        count: int = session.execute(
            update(Confirmation)
            .where(Confirmation.conversation_id == conversation_id,
                   Confirmation.status.in_(OPEN_STATUSES))
            .values(status=CONFIRMATION_DECLINED, answered_at=now)
            .execution_options(synchronize_session=False)
        ).rowcount
        return count

    def use(self, session: Session, conversation_id: str, order: Order, purpose: str,
            terms: dict[str, Any]) -> bool:
        """True (and the row is `used`) when the customer confirmed exactly `terms` for this
        conversation, order and purpose, unexpired, on a still valid code; at most once."""
        self._check_purpose(purpose)
        now = self.clock()
        row = self._newest(session, conversation_id, order, purpose, CONFIRMATION_CONFIRMED)
        if row is None or not self._code_still_valid(session, row, now):
            return False
        if _canonical(row.terms) != _canonical(terms):
            row.status = CONFIRMATION_SUPERSEDED  # the customer agreed to something else
            return False
        used = session.execute(
            update(Confirmation)
            .where(Confirmation.id == row.id, Confirmation.status == CONFIRMATION_CONFIRMED)
            .values(status=CONFIRMATION_USED, used_at=now)
            .execution_options(synchronize_session=False)
        ).rowcount
        return bool(used == 1)
