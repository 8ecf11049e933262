"""`SupportServices`: the one facade the Rasa actions call (see docs/architecture.md).

Every method that discloses order data or moves money takes the conversation id and re-checks
in the database that this conversation verified that order (email + reference), raising
`NotVerified` (or returning a `not_verified` status where the result has a status).
Changes that move money now or later - `issue_refund` (automatic refunds),
`cancel_subscription`, `reinstate_subscription`, `send_payment_method_link` - happen only when
the conversation also entered a valid one-time code sent to the purchase email AND the
customer's "yes" to exactly that change is recorded server-side: `ask_confirmation` when the
bot asks, `answer_confirmation` with the customer's reply, used once by the change itself
(`supportbot.core.confirmations`). Results are frozen dataclasses (`supportbot.core.views`),
never ORM objects. Nothing connects to anything at import time or in `from_settings()`.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import date, datetime
from typing import Any, TypeVar

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from supportbot.core import audit, subscriptions, transcripts
from supportbot.core.confirmations import (
    Confirmations,
    payment_method_terms,
    refund_terms,
    subscription_terms,
)
from supportbot.core.errors import ConfirmationRequired, NotVerified
from supportbot.core.handoff import HandoffQueue
from supportbot.core.limits import DEFAULT_LIMITS, Limits
from supportbot.core.notifications import Notifier
from supportbot.core.orders import (
    find_charges,
    find_duplicates,
    load_order,
    order_summary,
    subscription_view,
)
from supportbot.core.payment_provider import PaymentProvider, provider_from_settings
from supportbot.core.refund_policy import DecisionOutcome, RefundDecision
from supportbot.core.refund_service import RefundService, refund_status
from supportbot.core.timeutil import Clock, parse_iso, utcnow
from supportbot.core.verification import VerificationService
from supportbot.core.views import (
    ChargeLookup,
    ChargeLookupStatus,
    CodeCheck,
    CodeDispatch,
    ConfirmationRequest,
    ConfirmationStatus,
    LinkDispatch,
    OrderSummary,
    RefundOutcome,
    RefundOutcomeStatus,
    RefundStatus,
    RefundView,
    SubscriptionChange,
    SubscriptionChangeStatus,
    SubscriptionView,
    TicketView,
    VerificationResult,
    VerificationStatus,
)
from supportbot.core.vocabulary import (
    CONFIRM_CANCEL_SUBSCRIPTION,
    CONFIRM_CHANGE_PAYMENT_METHOD,
    CONFIRM_REFUND,
    CONFIRM_REINSTATE_SUBSCRIPTION,
    CONFIRMATION_PURPOSES,
    TEAMS,
    THROTTLE_CHARGES_CLIENT,
    THROTTLE_CHARGES_CONVERSATION,
    describe_payment,
    normalize_reference,
)
from supportbot.db.engine import session_scope
from supportbot.db.models import Order, Subscription
from supportbot.mail import MailDeliveryError, Mailer
from supportbot.settings import Settings

T = TypeVar("T")
log = logging.getLogger(__name__)


class SupportServices:
    def __init__(
        self,
        engine: Engine,
        mailer: Mailer,
        provider: PaymentProvider,
        *,
        secret_key: str,
        mail_from: str = "Support <support@reseller.example>",
        helpdesk_webhook_url: str | None = None,
        links_base_url: str = "https://secure.reseller.example",
        clock: Clock = utcnow,
        limits: Limits = DEFAULT_LIMITS,
        verification_options: dict[str, Any] | None = None,
    ):
        self.engine = engine
        self.clock = clock
        self.limits = limits
        self.provider = provider
        self.handoff = HandoffQueue(engine, webhook_url=helpdesk_webhook_url, clock=clock)
        self.verification = VerificationService(engine, mailer, secret_key=secret_key,
                                                mail_from=mail_from, clock=clock, limits=limits,
                                                handoff=self.handoff,
                                                **(verification_options or {}))
        self.refunds = RefundService(engine, provider, self.handoff, clock=clock)
        self.notifier = Notifier(mailer, mail_from=mail_from, secret_key=secret_key,
                                 links_base_url=links_base_url, clock=clock)
        self.confirmations = Confirmations(self.verification, clock=clock)

    @classmethod
    def from_settings(cls, settings: Settings | None = None, **overrides: Any) -> SupportServices:
        """Wired from the environment: engine (lazy, no connection yet), mailer, provider."""
        from supportbot.db.engine import get_engine
        from supportbot.mail import mailer_from_settings

        settings = settings or Settings.from_env()
        kwargs: dict[str, Any] = dict(
            secret_key=settings.secret_key,
            mail_from=settings.mail_from,
            helpdesk_webhook_url=settings.helpdesk_webhook_url,
        )
        kwargs.update(overrides)
        engine = kwargs.pop("engine", None) or get_engine(settings.database_url)
        mailer = kwargs.pop("mailer", None) or mailer_from_settings(settings)
        provider = kwargs.pop("provider", None) or provider_from_settings(settings)
        return cls(engine, mailer, provider, **kwargs)

    def close(self) -> None:
        """Finish background helpdesk deliveries (call on shutdown)."""
        self.handoff.shutdown(wait_for_pending=True)

    # ---- access checks ----
    def _verified_order(self, session: Session, conversation_id: str, reference: str | None) -> Order:
        """The order, if this conversation verified it; else `NotVerified` (also for a missing or
        malformed reference: the actions pass slot values as they are)."""
        ref = normalize_reference(reference)
        order = load_order(session, ref) if ref else None
        if order is None or not self.verification.is_verified(session, conversation_id, order.id):
            raise NotVerified(conversation_id, str(reference))
        return order

    # ---- verification ----
    def verify_order(self, conversation_id: str, email: str, reference: str,
                     client_address: str | None = None) -> VerificationResult:
        """Email + reference of the same order. A new lookup starts over (the conversation's
        verifications, codes and open confirmations are dropped). `client_address`: the
        channel's `client_address` (throttled per address too; None: the conversation)."""
        outcome = self.verification.verify(conversation_id, email, reference, client_address)
        if outcome.status != VerificationStatus.VERIFIED:
            return VerificationResult(outcome.status, None, outcome.retry_after_seconds)
        with session_scope(self.engine) as session:
            order = self._verified_order(session, conversation_id, reference)
            return VerificationResult(VerificationStatus.VERIFIED,
                                      order_summary(order, self.clock()), None)

    def send_one_time_code(self, conversation_id: str, reference: str | None,
                           purpose: str = "refund") -> CodeDispatch:
        return self.verification.send_code(conversation_id, reference, purpose)

    def check_one_time_code(self, conversation_id: str, reference: str | None, code: str,
                            purpose: str = "refund") -> CodeCheck:
        return self.verification.check_code(conversation_id, reference, code, purpose)

    # ---- unknown charges (no verification: discloses no order, no email) ----
    def find_charges(self, conversation_id: str, amount_minor: int | None = None,
                     currency: str | None = None, on_date: date | None = None,
                     card_last4: str | None = None,
                     client_address: str | None = None) -> ChargeLookup:
        """Charges matching amount, date and card's last 4 digits (who charged, never the
        order). Every lookup counts against the conversation and the client address
        (`Limits.charges_per_conversation` / `charges_per_client`); over the limit: `throttled`
        with `retry_after_seconds`, nothing looked up."""
        now = self.clock()
        client = (client_address or "").strip() or f"conversation:{conversation_id}"
        rules = ((THROTTLE_CHARGES_CONVERSATION, conversation_id,
                  self.limits.charges_per_conversation),
                 (THROTTLE_CHARGES_CLIENT, client, self.limits.charges_per_client))
        throttle = self.verification.throttle
        with session_scope(self.engine) as session:
            waits = [wait for scope, value, rule in rules
                     if (wait := throttle.retry_after(session, scope, value, rule, now))]
            if waits:
                audit.record(session, "charges.throttled", at=now,
                             conversation_id=conversation_id, retry_after_seconds=max(waits))
                return ChargeLookup(ChargeLookupStatus.THROTTLED,
                                    retry_after_seconds=max(waits))
            for scope, value, rule in rules:
                throttle.hit(session, scope, value, rule, now, conversation_id)
            hints = find_charges(session, amount_minor=amount_minor, currency=currency,
                                 on_date=on_date, card_last4=card_last4)
            audit.record(session, "charges.lookup", at=now,
                         conversation_id=conversation_id, amount_minor=amount_minor,
                         currency=currency, on_date=on_date.isoformat() if on_date else None,
                         card_last4_given=bool(card_last4), matches=len(hints))
            return ChargeLookup(ChargeLookupStatus.FOUND if hints else ChargeLookupStatus.NOT_FOUND,
                                tuple(hints))

    # ---- orders ----
    def order_summary(self, conversation_id: str, reference: str | None) -> OrderSummary:
        with session_scope(self.engine) as session:
            return order_summary(self._verified_order(session, conversation_id, reference),
                                 self.clock())

    def _send(self, conversation_id: str, reference: str, what: str,
              send: Callable[[Order], T]) -> T:
        """Mail the verified order's `what` to its purchase email; `send`'s result."""
        with session_scope(self.engine) as session:
            order = self._verified_order(session, conversation_id, reference)
            sent = send(order)
            audit.record(session, f"mail.{what}", at=self.clock(),
                         conversation_id=conversation_id, order_id=order.id)
            return sent

    def resend_order_confirmation(self, conversation_id: str, reference: str) -> str:
        return self._send(conversation_id, reference, "order_confirmation",
                          self.notifier.order_confirmation)

    def resend_license(self, conversation_id: str, reference: str) -> str:
        return self._send(conversation_id, reference, "license", self.notifier.license)

    def send_invoice(self, conversation_id: str, reference: str) -> LinkDispatch:
        return self._send(conversation_id, reference, "invoice", self.notifier.invoice)

    def send_payment_method_link(self, conversation_id: str, reference: str) -> LinkDispatch:
        """The secure change-of-payment-method link, mailed to the purchase email; only after
        the customer confirmed it (`ask_confirmation(..., "change_payment_method")`), else
        `ConfirmationRequired` and nothing is sent."""
        with session_scope(self.engine) as session:
            order = self._verified_order(session, conversation_id, reference)
            terms = payment_method_terms(order, self.verification.email_digest(order.customer.email))
            if not self.confirmations.use(session, conversation_id, order,
                                          CONFIRM_CHANGE_PAYMENT_METHOD, terms):
                raise ConfirmationRequired(conversation_id, order.reference,
                                           CONFIRM_CHANGE_PAYMENT_METHOD)
            sent = self.notifier.payment_method_link(order)
            audit.record(session, "mail.payment_method_link", at=self.clock(),
                         conversation_id=conversation_id, order_id=order.id)
            return sent

    def find_duplicate_orders(self, conversation_id: str, reference: str) -> list[OrderSummary]:
        """Orders of the same customer and client with the same items and total, placed within
        48 h of this one (oldest first). The conversation may then act on them too: they belong
        to the email address it verified."""
        now = self.clock()
        with session_scope(self.engine) as session:
            order = self._verified_order(session, conversation_id, reference)
            duplicates = find_duplicates(session, order)
            for duplicate in duplicates:
                self.verification.grant(session, conversation_id, duplicate.id, "same_customer")
            return [order_summary(d, now) for d in duplicates]

    # ---- confirmations (changes that move money now or later) ----
    def _terms(self, session: Session, order: Order, purpose: str, reason: str | None,
               now: datetime) -> dict[str, Any] | None:
        """What `purpose` would do to `order` now, as the customer is told; None when it would
        do nothing (a refund that is not automatic, a subscription already in that state)."""
        if purpose == CONFIRM_REFUND:
            decision = self.refunds.decide(session, order, reason or "other", None, False, now)
            if decision.outcome != DecisionOutcome.AUTOMATIC_REFUND:
                return None
            return refund_terms(order, decision, reason or "other")
        if purpose == CONFIRM_CHANGE_PAYMENT_METHOD:
            return payment_method_terms(order, self.verification.email_digest(order.customer.email))
        sub = order.subscription
        if sub is None:
            return None
        outcome = (subscriptions.cancel_outcome(sub, now) if purpose == CONFIRM_CANCEL_SUBSCRIPTION
                   else subscriptions.reinstate_outcome(sub, now))
        if outcome not in (SubscriptionChangeStatus.CANCELLED, SubscriptionChangeStatus.REINSTATED):
            return None
        return subscription_terms(order, sub)

    def ask_confirmation(self, conversation_id: str, reference: str | None, purpose: str,
                         reason: str | None = None) -> ConfirmationRequest:
        """Record that the bot now asks the customer to confirm `purpose` on this order, with
        the terms the result carries (state exactly those). `pending` only after a valid
        one-time code of this conversation for this order (`code_required` otherwise);
        supersedes the conversation's other open questions. `reason`: the refund reason."""
        if purpose not in CONFIRMATION_PURPOSES:
            raise ValueError(f"unknown confirmation purpose {purpose!r}; one of {CONFIRMATION_PURPOSES}")
        now = self.clock()
        with session_scope(self.engine) as session:
            try:
                order = self._verified_order(session, conversation_id, reference)
            except NotVerified:
                return ConfirmationRequest(ConfirmationStatus.NOT_VERIFIED, purpose)
            terms = self._terms(session, order, purpose, reason, now)
            if terms is None:
                return ConfirmationRequest(ConfirmationStatus.NOTHING_TO_CONFIRM, purpose,
                                           order.reference)
            row = self.confirmations.ask(session, conversation_id, order, purpose, terms)
            if row is None:
                return ConfirmationRequest(ConfirmationStatus.CODE_REQUIRED, purpose, order.reference)
            audit.record(session, "confirmation.asked", at=now, conversation_id=conversation_id,
                         order_id=order.id, purpose=purpose, confirmation_id=row.id,
                         amount_minor=terms.get("amount_minor"), currency=terms.get("currency"))
            return ConfirmationRequest(
                ConfirmationStatus.PENDING, purpose, order.reference, expires_at=row.expires_at,
                amount_minor=terms.get("amount_minor"), currency=terms.get("currency"),
                payment_method=terms.get("payment_method"), card_brand=terms.get("card_brand"),
                card_last4=terms.get("card_last4"), plan=terms.get("plan"),
                billing_period=terms.get("billing_period"),
                period_end=parse_iso(terms["period_end"]) if terms.get("period_end") else None,
                in_trial=bool(terms.get("trial_end")) and parse_iso(terms["trial_end"]) > now,
                masked_email=terms.get("masked_email"))

    def answer_confirmation(self, conversation_id: str, reference: str | None, purpose: str,
                            accepted: bool) -> ConfirmationStatus:
        """The customer's own reply to the open question: `confirmed` / `declined`;
        `no_question` when none is open (expired, superseded, never asked)."""
        now = self.clock()
        with session_scope(self.engine) as session:
            try:
                order = self._verified_order(session, conversation_id, reference)
            except NotVerified:
                return ConfirmationStatus.NOT_VERIFIED
            status = self.confirmations.answer(session, conversation_id, order, purpose, accepted)
            audit.record(session, "confirmation.answered", at=now, conversation_id=conversation_id,
                         order_id=order.id, purpose=purpose, accepted=accepted, status=status)
            return status

    def decline_confirmations(self, conversation_id: str) -> int:
        """The customer stopped the task: every open question of the conversation is declined."""
        with session_scope(self.engine) as session:
            count = self.confirmations.decline_open(session, conversation_id)
            if count:
                audit.record(session, "confirmation.declined_all", at=self.clock(),
                             conversation_id=conversation_id, count=count)
            return count

    # ---- refunds ----
    def refund_decision(self, conversation_id: str, reference: str | None, reason: str,
                        amount_minor: int | None = None, vat_refund: bool = False) -> RefundDecision:
        """What would happen (nothing is issued). Recorded in the audit log."""
        now = self.clock()
        with session_scope(self.engine) as session:
            order = self._verified_order(session, conversation_id, reference)
            decision = self.refunds.decide(session, order, reason, amount_minor, vat_refund, now)
            audit.record(session, "refund.decision_preview", at=now,
                         conversation_id=conversation_id, order_id=order.id,
                         outcome=decision.outcome, team=decision.team,
                         reasons=list(decision.reasons), amount_minor=decision.amount_minor)
            return decision

    def issue_refund(self, conversation_id: str, reference: str | None, reason: str,
                     idempotency_key: str, amount_minor: int | None = None,
                     vat_refund: bool = False, summary: str | None = None) -> RefundOutcome:
        """Refund if the rules allow it, else hand off; exactly once per order and amount.

        Money moves only after a one-time code proved control of the purchase email
        (`status="not_verified", code_required=True` otherwise) and the customer confirmed
        exactly this refund - order, amount, reason, destination - in this conversation
        (`confirmation_required` otherwise); the confirmation is used in the refund's own
        transaction. Non-automatic requests are handed off without either: no money moves.
        """
        with session_scope(self.engine) as session:
            try:
                order = self._verified_order(session, conversation_id, reference)
            except NotVerified:
                return RefundOutcome(RefundOutcomeStatus.NOT_VERIFIED)
            ref = order.reference

        def authorize(session: Session, order: Order, decision: RefundDecision) -> RefundOutcome | None:
            if not self.verification.has_proved_email(session, conversation_id, order.customer.email):
                return RefundOutcome(RefundOutcomeStatus.NOT_VERIFIED, decision=decision,
                                     code_required=True)
            if not self.confirmations.use(session, conversation_id, order, CONFIRM_REFUND,
                                          refund_terms(order, decision, reason)):
                return RefundOutcome(RefundOutcomeStatus.CONFIRMATION_REQUIRED, decision=decision)
            return None

        outcome = self.refunds.issue(ref, reason=reason, idempotency_key=idempotency_key,
                                     amount_minor=amount_minor, vat_refund=vat_refund,
                                     conversation_id=conversation_id, summary=summary,
                                     authorize=authorize)
        if outcome.status == RefundOutcomeStatus.REFUNDED and outcome.refund is not None:
            return replace(outcome, receipt_sent_to=self._mail_refund_receipt(
                conversation_id, ref, outcome.refund))
        return outcome

    def _mail_refund_receipt(self, conversation_id: str, reference: str,
                             refund: RefundView) -> str | None:
        """Mail the refund's confirmation to the purchase email (the money has moved either
        way: a failed mail is logged and audited, and the reply does not promise one)."""
        with session_scope(self.engine) as session:
            order = load_order(session, reference)
            assert order is not None  # it was just refunded
            destination = describe_payment(refund.method, refund.card_brand, refund.card_last4)
            try:
                sent_to: str | None = self.notifier.refund_confirmation(
                    order, refund.amount_minor, refund.currency, destination)
            except MailDeliveryError as exc:
                log.error("refund confirmation mail for order %s failed: %s", reference, exc)
                sent_to = None
            audit.record(session, "mail.refund_confirmation", at=self.clock(),
                         conversation_id=conversation_id, order_id=order.id,
                         sent=sent_to is not None)
            return sent_to

    def refund_status(self, conversation_id: str, reference: str) -> RefundStatus:
        with session_scope(self.engine) as session:
            return refund_status(self._verified_order(session, conversation_id, reference),
                                 self.clock())

    # ---- subscriptions ----
    def subscription(self, conversation_id: str, reference: str) -> SubscriptionView | None:
        with session_scope(self.engine) as session:
            order = self._verified_order(session, conversation_id, reference)
            if order.subscription is None:
                return None
            return subscription_view(order.subscription, self.clock())

    def _change_subscription(
        self, conversation_id: str, reference: str, purpose: str,
        outcome: Callable[[Subscription, datetime], SubscriptionChangeStatus],
        change: Callable[[Subscription, datetime], SubscriptionChangeStatus], action: str,
    ) -> SubscriptionChange:
        now = self.clock()
        with session_scope(self.engine) as session:
            try:
                order = self._verified_order(session, conversation_id, reference)
            except NotVerified:
                return SubscriptionChange(SubscriptionChangeStatus.NOT_VERIFIED)
            sub = order.subscription
            if sub is None:
                return SubscriptionChange(SubscriptionChangeStatus.NO_SUBSCRIPTION)
            if outcome(sub, now) in (SubscriptionChangeStatus.CANCELLED,
                                     SubscriptionChangeStatus.REINSTATED) and \
                    not self.confirmations.use(session, conversation_id, order, purpose,
                                               subscription_terms(order, sub)):
                audit.record(session, f"subscription.{action}_refused", at=now,
                             conversation_id=conversation_id, order_id=order.id,
                             status=SubscriptionChangeStatus.CONFIRMATION_REQUIRED)
                return SubscriptionChange(SubscriptionChangeStatus.CONFIRMATION_REQUIRED,
                                          subscription_view(sub, now))
            status = change(sub, now)
            audit.record(session, f"subscription.{action}", at=now,
                         conversation_id=conversation_id, order_id=order.id, status=status,
                         current_period_end=sub.current_period_end.isoformat())
            session.flush()
            return SubscriptionChange(status, subscription_view(sub, now))

    def cancel_subscription(self, conversation_id: str, reference: str) -> SubscriptionChange:
        """Auto-renew off; usable until the end of the current billing period. Only with the
        customer's recorded "yes" (`ask_confirmation(..., "cancel_subscription")`), else
        `confirmation_required` and nothing changes; no confirmation is needed to be told
        that nothing would change (already cancelled, period ended)."""
        return self._change_subscription(conversation_id, reference, CONFIRM_CANCEL_SUBSCRIPTION,
                                         subscriptions.cancel_outcome, subscriptions.cancel,
                                         "cancel")

    def reinstate_subscription(self, conversation_id: str, reference: str) -> SubscriptionChange:
        """Auto-renew back on (the next period will be charged): as `cancel_subscription`,
        with a confirmed `reinstate_subscription`."""
        return self._change_subscription(conversation_id, reference,
                                         CONFIRM_REINSTATE_SUBSCRIPTION,
                                         subscriptions.reinstate_outcome, subscriptions.reinstate,
                                         "reinstate")

    # ---- handoff ----
    def hand_off(self, conversation_id: str, team: str | None, reason_code: str, summary: str,
                 reference: str | None = None, transcript: Any = None) -> TicketView:
        """A ticket for a human team. `team=None` routes by `reason_code` (seed 002). The order
        is attached only if this conversation verified it. The transcript is the conversation
        as the Rasa server stored it (`supportbot.core.transcripts`); of the caller's
        `transcript` only the turn in progress is kept."""
        if team is not None and team not in TEAMS:
            raise ValueError(f"unknown team {team!r}; one of {TEAMS}")
        order_id = None
        with session_scope(self.engine) as session:
            if reference:
                try:
                    order_id = self._verified_order(session, conversation_id, reference).id
                except NotVerified:
                    order_id = None
            stored = transcripts.stored_lines(session, conversation_id)
        return self.handoff.create(conversation_id, reason_code, summary, team=team,
                                   order_id=order_id,
                                   transcript=transcripts.ticket_transcript(stored, transcript))
