"""Who may see an order and who may move money.

* **Disclosure** needs email + reference matching the *same* order. Both are compared
  trimmed and case-insensitively; "no such order" and "wrong email" give the same answer
  (`mismatch`). A success is recorded in `conversation_verifications`, which every facade
  method re-checks (slots are never trusted). It is good for `Limits.verification_ttl`
  (30 minutes) after it was proved; afterwards the conversation must look the order up again.
* **Money** (refunds) additionally needs proof of control of the purchase email: a one-time
  code of `ONE_TIME_CODE_DIGITS` digits mailed to the order's address. Only an HMAC
  (settings.secret_key) of the code is stored; by default it expires after 10 minutes
  (`code_ttl`) and allows 5 attempts; a newer code supersedes older ones. A verified code
  proves the address for this conversation for `proof_ttl` (1 hour), never longer than the
  verification it rests on.
* **Starting over**: a new lookup (email + reference, matching or not) means the customer
  changed the order or the email: the conversation's verifications, its pending and verified
  codes and its open confirmations (`supportbot.core.confirmations`) are dropped, so the next
  step needs the new order verified and a new code for it. A new code supersedes the
  conversation's open confirmations of that order.
* **Throttling** (`supportbot.core.limits`, state in `throttle_hits` / `throttle_locks`): failed
  lookups count per conversation, client address, order reference and email address. The
  reference and the email address are locked for 15 minutes after 5 failures, whichever
  conversations sent them, and a lock of an existing order or customer opens a ticket for
  Customer Service (`routing`: `verification_locked`). While anything is throttled, lookups
  are refused with `retry_after_seconds`. At most 3 codes per order per 15 minutes, whichever
  conversation asks: with 5 attempts each, at most 15 guesses of a 6-digit code per 15 minutes.
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from supportbot.core import audit
from supportbot.core.confirmations import supersede_open
from supportbot.core.limits import DEFAULT_LIMITS, Limits, Rule
from supportbot.core.orders import load_order, mask_email
from supportbot.core.throttles import Throttle, seconds_until
from supportbot.core.timeutil import Clock, utcnow
from supportbot.core.views import (
    CodeCheck,
    CodeCheckStatus,
    CodeDispatch,
    CodeDispatchStatus,
    VerificationStatus,
)
from supportbot.core.vocabulary import (
    CHALLENGE_EXHAUSTED,
    CHALLENGE_EXPIRED,
    CHALLENGE_PENDING,
    CHALLENGE_SUPERSEDED,
    CHALLENGE_VERIFIED,
    CODE_PURPOSES,
    ONE_TIME_CODE_DIGITS,
    THROTTLE_LOOKUP_CLIENT,
    THROTTLE_LOOKUP_CONVERSATION,
    THROTTLE_LOOKUP_EMAIL,
    THROTTLE_LOOKUP_REFERENCE,
    format_duration,
    normalize_email,
    normalize_reference,
)
from supportbot.db.engine import session_scope
from supportbot.db.models import (
    ConversationVerification,
    Customer,
    Order,
    ThrottleLock,
    VerificationAttempt,
    VerificationChallenge,
)
from supportbot.mail import MailDeliveryError, Mailer, build_message

if TYPE_CHECKING:
    from supportbot.core.handoff import HandoffQueue

log = logging.getLogger(__name__)

PURPOSE_TEXT = {  # vocabulary.CODE_PURPOSES
    "refund": "to confirm your refund request",
    "payment": "to confirm a change to your payment method",
    "subscription": "to confirm a change to your subscription",
}


LOCK_REASON = "verification_locked"  # the ticket a lock opens (supportbot/core/routing.py)


@dataclass(frozen=True)
class LookupOutcome:
    status: VerificationStatus
    order_id: int | None = None
    retry_after_seconds: int | None = None


def generate_code() -> str:
    return f"{secrets.randbelow(10**ONE_TIME_CODE_DIGITS):0{ONE_TIME_CODE_DIGITS}d}"


class VerificationService:
    def __init__(
        self,
        engine: Engine,
        mailer: Mailer,
        *,
        secret_key: str,
        mail_from: str = "Support <support@reseller.example>",
        clock: Clock = utcnow,
        limits: Limits = DEFAULT_LIMITS,
        handoff: HandoffQueue | None = None,
        code_ttl: timedelta = timedelta(minutes=10),
        max_code_attempts: int = 5,
        max_codes_per_window: int = 3,
        code_window: timedelta = timedelta(minutes=15),
        proof_ttl: timedelta = timedelta(hours=1),
        code_generator: Callable[[], str] = generate_code,
    ):
        if not secret_key:
            raise ValueError("a secret key is needed to hash one-time codes")
        self.engine = engine
        self.mailer = mailer
        self._secret = secret_key.encode()
        self.mail_from = mail_from
        self.clock = clock
        self.limits = limits
        self.handoff = handoff
        self.throttle = Throttle(self._secret)
        self.code_ttl = code_ttl
        self.max_code_attempts = max_code_attempts
        self.max_codes_per_window = max_codes_per_window
        self.code_window = code_window
        self.proof_ttl = proof_ttl
        self.code_generator = code_generator

    # ---- hashing ----
    def email_digest(self, email: str) -> str:
        normalized = (email or "").strip().lower()
        return hmac.new(self._secret, f"email|{normalized}".encode(), hashlib.sha256).hexdigest()

    def _code_hash(self, conversation_id: str, order_id: int, purpose: str, code: str) -> str:
        message = f"otp|{conversation_id}|{order_id}|{purpose}|{code}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()

    # ---- email + reference ----
    def _lookup_rules(self, conversation_id: str, client: str, ref: str,
                      email: str) -> list[tuple[str, str, Rule]]:
        limits = self.limits
        return [(THROTTLE_LOOKUP_CONVERSATION, conversation_id, limits.lookup_per_conversation),
                (THROTTLE_LOOKUP_CLIENT, client, limits.lookup_per_client),
                (THROTTLE_LOOKUP_REFERENCE, ref, limits.lookup_per_reference),
                (THROTTLE_LOOKUP_EMAIL, email, limits.lookup_per_email)]

    def verify(self, conversation_id: str, email: str | None, reference: str | None,
               client_address: str | None = None) -> LookupOutcome:
        """Email + reference of the same order? `client_address`: where the message came from
        (the channel's metadata); None counts the conversation as its own client."""
        ref = normalize_reference(reference)
        email_n = normalize_email(email)
        if not ref or not email_n or not conversation_id:
            return LookupOutcome(VerificationStatus.INVALID)
        client = (client_address or "").strip() or f"conversation:{conversation_id}"
        digest = self.email_digest(email_n)
        now = self.clock()
        rules = self._lookup_rules(conversation_id, client, ref, email_n)
        with session_scope(self.engine) as session:
            self.throttle.serialize(session, [(scope, value) for scope, value, rule in rules
                                              if rule.lock_for is not None])
            waits = {scope: wait for scope, value, rule in rules
                     if (wait := self.throttle.retry_after(session, scope, value, rule, now))}
            if waits:
                retry_after = max(waits.values())
                audit.record(session, "verification.throttled", at=now,
                             conversation_id=conversation_id, email_digest=digest[:16],
                             scopes=sorted(waits), retry_after_seconds=retry_after)
                return LookupOutcome(VerificationStatus.THROTTLED, retry_after_seconds=retry_after)
            order_id = session.execute(
                select(Order.id)
                .join(Customer, Customer.id == Order.customer_id)
                .where(Order.reference == ref, func.lower(func.trim(Customer.email)) == email_n)
            ).scalar_one_or_none()
            session.add(VerificationAttempt(conversation_id=conversation_id, email_digest=digest,
                                            succeeded=order_id is not None, created_at=now))
            self._start_over(session, conversation_id, now)
            audit.record(session, "verification.lookup", at=now, conversation_id=conversation_id,
                         order_id=order_id, reference=ref, succeeded=order_id is not None,
                         email_digest=digest[:16])
            if order_id is None:
                tickets = self._count_failure(session, rules, conversation_id, ref, email_n, now)
            else:
                tickets = []
                self.grant(session, conversation_id, order_id, "email_and_reference")
        if self.handoff is not None:
            for ticket_id in tickets:
                self.handoff.dispatch(ticket_id)
        if order_id is None:
            return LookupOutcome(VerificationStatus.MISMATCH)
        return LookupOutcome(VerificationStatus.VERIFIED, order_id=order_id)

    def _count_failure(self, session: Session, rules: list[tuple[str, str, Rule]],
                       conversation_id: str, ref: str, email: str, now: datetime) -> list[int]:
        """One failure against each key; the ids of the tickets new locks opened."""
        tickets = []
        for scope, value, rule in rules:
            lock = self.throttle.hit(session, scope, value, rule, now, conversation_id)
            if lock is None:
                continue
            audit.record(session, "verification.locked", at=now, conversation_id=conversation_id,
                         scope=scope, lock_id=lock.id, locked_until=lock.locked_until.isoformat())
            ticket_id = self._lock_ticket(session, lock, rule, ref, email)
            if ticket_id is not None:
                tickets.append(ticket_id)
        return tickets

    def _lock_ticket(self, session: Session, lock: ThrottleLock, rule: Rule, ref: str,
                     email: str) -> int | None:
        """A ticket for the lock of an existing order's reference or customer's address: the
        team can help the real customer (who may be the one locked out). None otherwise."""
        if self.handoff is None or rule.lock_for is None:
            return None
        how_long = format_duration(rule.lock_for)
        warning = ("The conversation that set it off has not verified anything: answer only the "
                   "email address on the order, never this conversation.")
        summary: str | None = None
        if lock.scope == THROTTLE_LOOKUP_REFERENCE:
            order = load_order(session, ref)
            if order is not None:
                summary = (f"Order lookups for order {order.reference} are locked for {how_long} "
                           f"after {rule.limit} attempts with email addresses that do not match "
                           f"it. {warning}")
        elif lock.scope == THROTTLE_LOOKUP_EMAIL:
            customer_id = session.execute(
                select(Customer.id).where(func.lower(func.trim(Customer.email)) == email)
                .limit(1)).scalar_one_or_none()
            if customer_id is not None:
                summary = (f"Order lookups with the email address of customer #{customer_id} are "
                           f"locked for {how_long} after {rule.limit} attempts with order "
                           f"references that are not theirs. {warning}")
        if summary is None:
            return None
        ticket = self.handoff.add(session, conversation_id=lock.conversation_id or "",
                                  reason_code=LOCK_REASON, summary=summary)
        lock.ticket_id = ticket.id
        ticket_id: int = ticket.id
        return ticket_id

    def _start_over(self, session: Session, conversation_id: str, now: datetime) -> None:
        """A new lookup: the conversation's verifications, codes and open confirmations no
        longer count (the customer changed the order or the email)."""
        session.execute(
            delete(ConversationVerification)
            .where(ConversationVerification.conversation_id == conversation_id)
            .execution_options(synchronize_session=False)
        )
        for challenge in session.execute(
            select(VerificationChallenge).where(
                VerificationChallenge.conversation_id == conversation_id,
                VerificationChallenge.status.in_((CHALLENGE_PENDING, CHALLENGE_VERIFIED)),
            )
        ).scalars():
            challenge.status = CHALLENGE_SUPERSEDED
        supersede_open(session, conversation_id, now)

    def grant(self, session: Session, conversation_id: str, order_id: int, method: str) -> None:
        """Record that this conversation may see `order_id` from now on for
        `verification_ttl` (race-free upsert: INSERT ... ON CONFLICT DO UPDATE on both SQLite
        and PostgreSQL; a renewed verification restarts the clock, the first method stays)."""
        dialect = session.get_bind().dialect.name
        insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
        statement = insert(ConversationVerification.__table__).values(
            conversation_id=conversation_id, order_id=order_id, method=method,
            verified_at=self.clock())
        session.execute(statement.on_conflict_do_update(
            index_elements=["conversation_id", "order_id"],
            set_={"verified_at": statement.excluded.verified_at}))

    def verified_since(self) -> datetime:
        """Verifications proved before this moment have expired."""
        return self.clock() - self.limits.verification_ttl

    def is_verified(self, session: Session, conversation_id: str, order_id: int) -> bool:
        """Did this conversation prove email + reference of the order within the last
        `verification_ttl`?"""
        return session.execute(
            select(ConversationVerification.id).where(
                ConversationVerification.conversation_id == conversation_id,
                ConversationVerification.order_id == order_id,
                ConversationVerification.verified_at > self.verified_since(),
            )
        ).first() is not None

    def has_proved_email(self, session: Session, conversation_id: str, email: str) -> bool:
        """Did this conversation enter a valid one-time code sent to `email` recently?"""
        return session.execute(
            select(VerificationChallenge.id).where(
                VerificationChallenge.conversation_id == conversation_id,
                VerificationChallenge.email_digest == self.email_digest(email),
                VerificationChallenge.status == CHALLENGE_VERIFIED,
                VerificationChallenge.verified_at > self.clock() - self.proof_ttl,
            )
        ).first() is not None

    def proof_challenge(self, session: Session, conversation_id: str, order_id: int,
                        purpose: str) -> VerificationChallenge | None:
        """The newest code of this conversation, order and purpose that was entered correctly
        within `proof_ttl` (and not superseded since), while the conversation's verification
        of the order holds; None if there is none."""
        if not self.is_verified(session, conversation_id, order_id):
            return None
        challenge: VerificationChallenge | None = session.execute(
            select(VerificationChallenge)
            .where(VerificationChallenge.conversation_id == conversation_id,
                   VerificationChallenge.order_id == order_id,
                   VerificationChallenge.purpose == purpose,
                   VerificationChallenge.status == CHALLENGE_VERIFIED,
                   VerificationChallenge.verified_at > self.clock() - self.proof_ttl)
            .order_by(VerificationChallenge.id.desc())
            .limit(1)
        ).scalar_one_or_none()
        return challenge

    # ---- one-time codes ----
    def send_code(self, conversation_id: str, reference: str | None, purpose: str = "refund") -> CodeDispatch:
        if purpose not in CODE_PURPOSES:
            raise ValueError(f"unknown code purpose {purpose!r}; one of {CODE_PURPOSES}")
        ref = normalize_reference(reference)
        now = self.clock()
        code = self.code_generator()
        with session_scope(self.engine) as session:
            order = load_order(session, ref) if ref else None
            if order is None or not self.is_verified(session, conversation_id, order.id):
                return CodeDispatch(CodeDispatchStatus.NOT_VERIFIED)
            # per order, across conversations: opening more chats does not buy more guesses
            recent = session.execute(
                select(VerificationChallenge.created_at)
                .where(VerificationChallenge.order_id == order.id,
                       VerificationChallenge.created_at > now - self.code_window)
                .order_by(VerificationChallenge.created_at.desc())
                .limit(self.max_codes_per_window)
            ).scalars().all()
            if len(recent) >= self.max_codes_per_window:
                return CodeDispatch(CodeDispatchStatus.THROTTLED,
                                    masked_email=mask_email(order.customer.email),
                                    retry_after_seconds=seconds_until(
                                        recent[-1] + self.code_window, now))
            for old in session.execute(
                select(VerificationChallenge).where(
                    VerificationChallenge.conversation_id == conversation_id,
                    VerificationChallenge.order_id == order.id,
                    VerificationChallenge.purpose == purpose,
                    VerificationChallenge.status == CHALLENGE_PENDING,
                )
            ).scalars():
                old.status = CHALLENGE_SUPERSEDED
            supersede_open(session, conversation_id, now, order_id=order.id)
            email = order.customer.email
            challenge = VerificationChallenge(
                conversation_id=conversation_id, order_id=order.id,
                email_digest=self.email_digest(email), purpose=purpose,
                code_hash=self._code_hash(conversation_id, order.id, purpose, code),
                status=CHALLENGE_PENDING, attempts=0, max_attempts=self.max_code_attempts,
                created_at=now, expires_at=now + self.code_ttl,
            )
            session.add(challenge)
            session.flush()
            challenge_id, order_id, reference_ = challenge.id, order.id, order.reference
            expires_at = challenge.expires_at
        # the mail goes out after the commit: no database lock is held while talking SMTP
        message = build_message(
            email,
            f"Your verification code for order {reference_}",
            self._code_mail_body(code, reference_, purpose),
            sender=self.mail_from,
        )
        try:
            self.mailer.send(message)
        except MailDeliveryError as exc:
            log.error("one-time code mail for order %s failed: %s", reference_, exc)
            with session_scope(self.engine) as session:
                challenge = session.get(VerificationChallenge, challenge_id)
                session.delete(challenge)
                audit.record(session, "verification.code_mail_failed", at=now,
                             conversation_id=conversation_id, order_id=order_id, purpose=purpose)
            return CodeDispatch(CodeDispatchStatus.UNAVAILABLE, masked_email=mask_email(email))
        with session_scope(self.engine) as session:
            audit.record(session, "verification.code_sent", at=now, conversation_id=conversation_id,
                         order_id=order_id, purpose=purpose, challenge_id=challenge_id)
        return CodeDispatch(CodeDispatchStatus.SENT, masked_email=mask_email(email),
                            expires_at=expires_at, code_length=len(code), valid_for=self.code_ttl)

    def _code_mail_body(self, code: str, reference: str, purpose: str) -> str:
        why = PURPOSE_TEXT.get(purpose, "to confirm your request")
        return (
            "Hello,\n\n"
            f"your one-time code {why} for order {reference} is:\n\n"
            f"    {code}\n\n"
            f"Enter it in the support chat. It expires in {format_duration(self.code_ttl)} and can "
            "be used once.\n"
            "If you did not ask for it, you can ignore this email: nothing happens without it.\n"
        )

    def check_code(self, conversation_id: str, reference: str | None, code: str,
                   purpose: str = "refund") -> CodeCheck:
        ref = normalize_reference(reference)
        candidate = re.sub(r"[\s-]", "", code or "")
        now = self.clock()
        with session_scope(self.engine) as session:
            order = load_order(session, ref) if ref else None
            if order is None or not self.is_verified(session, conversation_id, order.id):
                return CodeCheck(CodeCheckStatus.NO_CHALLENGE)
            challenge = session.execute(
                select(VerificationChallenge)
                .where(VerificationChallenge.conversation_id == conversation_id,
                       VerificationChallenge.order_id == order.id,
                       VerificationChallenge.purpose == purpose,
                       VerificationChallenge.status != CHALLENGE_SUPERSEDED)
                .order_by(VerificationChallenge.id.desc())
                .limit(1)
                .with_for_update()
            ).scalar_one_or_none()
            if challenge is None:
                return CodeCheck(CodeCheckStatus.NO_CHALLENGE)
            matches = hmac.compare_digest(
                self._code_hash(conversation_id, order.id, purpose, candidate), challenge.code_hash
            )
            status = self._check(challenge, matches, now)
            audit.record(session, "verification.code_checked", at=now,
                         conversation_id=conversation_id, order_id=order.id, purpose=purpose,
                         challenge_id=challenge.id, status=status)
            return CodeCheck(status, attempts_left=max(0, challenge.max_attempts - challenge.attempts))

    def _check(self, challenge: VerificationChallenge, matches: bool,
               now: datetime) -> CodeCheckStatus:
        if challenge.status == CHALLENGE_VERIFIED:
            # a used code stays used; retries are harmless
            return CodeCheckStatus.OK if matches else CodeCheckStatus.NO_CHALLENGE
        if challenge.status == CHALLENGE_EXHAUSTED or challenge.attempts >= challenge.max_attempts:
            challenge.status = CHALLENGE_EXHAUSTED
            return CodeCheckStatus.THROTTLED
        if challenge.status == CHALLENGE_EXPIRED or now >= challenge.expires_at:
            challenge.status = CHALLENGE_EXPIRED
            return CodeCheckStatus.EXPIRED
        if matches:
            challenge.status = CHALLENGE_VERIFIED
            challenge.verified_at = now
            return CodeCheckStatus.OK
        challenge.attempts += 1
        if challenge.attempts >= challenge.max_attempts:
            challenge.status = CHALLENGE_EXHAUSTED
        return CodeCheckStatus.WRONG
