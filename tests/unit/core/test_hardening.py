"""Hardening of the core (issue 14): throttles per order reference, email address and client
address with short locks that open tickets; verification expiry; a new lookup drops the
conversation's verification; the charge lookup throttle. SQLite and PostgreSQL, demo data."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from supportbot.core.errors import NotVerified
from supportbot.core.limits import DEFAULT_LIMITS, Limits, Rule
from supportbot.core.routing import team_for
from supportbot.core.services import SupportServices
from supportbot.db.engine import session_scope
from supportbot.db.models import (
    ConversationVerification,
    HandoffTicket,
    ThrottleHit,
    ThrottleLock,
)
from tests.unit.core.conftest import SECRET
from tests.unit.core.test_services import EMAILS, confirm, prove_email, verify

ALICE = "100000001"
BOB = "100000002"
LOCK = DEFAULT_LIMITS.lookup_per_reference.lock_for


def _tickets(engine, reason="verification_locked"):
    with session_scope(engine) as session:
        return session.execute(
            select(HandoffTicket.team, HandoffTicket.conversation_id, HandoffTicket.summary,
                   HandoffTicket.order_id)
            .where(HandoffTicket.reason_code == reason).order_by(HandoffTicket.id)).all()


def _count(engine, model):
    with session_scope(engine) as session:
        return session.execute(select(func.count(model.id))).scalar_one()


# ---- per order reference, across conversations ---------------------------------------------------
def test_five_wrong_emails_from_five_new_conversations_lock_the_reference(services, clock):
    """Before: each new conversation had its own 5 tries, so ten conversations checked ten
    emails against one reference. Now the reference itself is locked after 5 failures."""
    for i in range(5):
        result = services.verify_order(f"guess-{i}", f"guess{i}@example.com", ALICE,
                                       client_address=f"198.51.100.{i}")
        assert result.status == "mismatch"
        clock.advance(seconds=30)
    # the sixth conversation - even with the right email - is refused, for the lock's duration
    sixth = services.verify_order("guess-5", EMAILS[ALICE], ALICE, client_address="198.51.100.9")
    assert sixth.status == "throttled"
    assert sixth.retry_after == LOCK - timedelta(seconds=30)
    assert sixth.retry_after_seconds == 870
    # other orders are not affected
    verify(services, BOB, conversation="bob")
    # one ticket for Customer Service (routing), without the order attached (nobody verified it)
    [ticket] = _tickets(services.engine)
    assert ticket.team == team_for("verification_locked") == "customer_service"
    assert ticket.conversation_id == "guess-4" and ticket.order_id is None
    assert ALICE in ticket.summary and "15 minutes" in ticket.summary
    assert "guess" not in ticket.summary  # no email address of the attempts
    # the lock is short: after it the real customer gets in
    clock.advance(seconds=871)
    assert services.verify_order("alice", EMAILS[ALICE], ALICE).status == "verified"


def test_attempts_during_a_lock_are_not_counted_so_it_does_not_grow(services, clock):
    for i in range(5):
        services.verify_order(f"g-{i}", f"g{i}@example.com", ALICE, client_address=f"203.0.113.{i}")
    hits_before = _count(services.engine, ThrottleHit)
    for i in range(20):  # a stranger keeps trying: nothing more is counted, no longer lock
        clock.advance(seconds=10)
        assert services.verify_order(f"h-{i}", f"h{i}@example.com", ALICE,
                                     client_address=f"192.0.2.{i}").status == "throttled"
    assert _count(services.engine, ThrottleHit) == hits_before
    with session_scope(services.engine) as session:
        [lock] = session.execute(select(ThrottleLock)).scalars().all()
        assert lock.locked_until - lock.created_at == LOCK
    clock.advance(seconds=LOCK.total_seconds() - 200 + 1)
    assert services.verify_order("alice", EMAILS[ALICE], ALICE).status == "verified"


def test_after_a_lock_ends_five_new_failures_are_needed_and_open_a_new_ticket(services, clock):
    for round_ in range(2):
        for i in range(5):
            assert services.verify_order(f"r{round_}-{i}", f"x{i}@example.com", ALICE,
                                         client_address=f"10.0.{round_}.{i}").status == "mismatch"
        assert services.verify_order("probe", "y@example.com", ALICE).status == "throttled"
        clock.advance(minutes=15)
        # four failures after the lock: not locked again
        if round_ == 0:
            for i in range(4):
                services.verify_order(f"s-{i}", f"s{i}@example.com", ALICE,
                                      client_address=f"10.1.0.{i}")
            assert services.verify_order("alice", EMAILS[ALICE], ALICE).status == "verified"
            clock.advance(minutes=16)
    assert len(_tickets(services.engine)) == 2


# ---- per email address ---------------------------------------------------------------------------
def test_five_wrong_references_with_a_customers_email_lock_the_email(services, clock):
    for i in range(5):
        assert services.verify_order(f"e-{i}", EMAILS[ALICE], f"30000000{i}",
                                     client_address=f"198.51.100.{i}").status == "mismatch"
    locked = services.verify_order("alice", EMAILS[ALICE], ALICE)
    assert locked.status == "throttled" and locked.retry_after == LOCK
    verify(services, BOB, conversation="bob")  # another customer is fine
    [ticket] = _tickets(services.engine)
    assert ticket.team == "customer_service" and "customer #" in ticket.summary
    assert EMAILS[ALICE] not in ticket.summary


def test_unknown_emails_and_references_lock_the_same_way_without_a_ticket(services):
    """No oracle: what the client sees does not depend on whether the address or the order
    exists; only the ticket (which nobody outside sees) does."""
    for i in range(5):
        services.verify_order(f"u-{i}", "nobody@example.com", f"40000000{i}",
                              client_address=f"198.51.100.{i}")
        services.verify_order(f"v-{i}", f"nobody{i}@example.com", "999999999",
                              client_address=f"198.51.101.{i}")
    by_email = services.verify_order("w-1", "nobody@example.com", ALICE)
    by_reference = services.verify_order("w-2", "someone@example.com", "999999999")
    assert by_email.status == by_reference.status == "throttled"
    assert by_email.retry_after == by_reference.retry_after == LOCK
    assert _tickets(services.engine) == []


# ---- per client address --------------------------------------------------------------------------
def test_a_client_address_is_throttled_across_new_conversations(services, clock):
    limit = DEFAULT_LIMITS.lookup_per_client.limit
    for i in range(limit):  # every try another conversation, email and reference
        assert services.verify_order(f"c-{i}", f"c{i}@example.com", f"5000000{i:02d}",
                                     client_address="198.51.100.7").status == "mismatch"
    result = services.verify_order("c-new", EMAILS[ALICE], ALICE, client_address="198.51.100.7")
    assert result.status == "throttled"
    assert 0 < result.retry_after_seconds <= DEFAULT_LIMITS.lookup_per_client.window.total_seconds()
    # another address, and the same order, are fine (nobody else is locked out)
    assert services.verify_order("c-other", EMAILS[ALICE], ALICE,
                                 client_address="203.0.113.1").status == "verified"


def test_without_a_client_address_the_conversation_is_its_own_client(services):
    for i in range(5):
        services.verify_order("lonely", f"l{i}@example.com", f"6000000{i:02d}")
    assert services.verify_order("lonely", EMAILS[ALICE], ALICE).status == "throttled"
    assert services.verify_order("other", EMAILS[ALICE], ALICE).status == "verified"


def test_the_throttle_stores_no_address_email_or_reference_in_clear(services):
    services.verify_order("conv-z", "secret.person@example.com", "700000001",
                          client_address="198.51.100.200")
    with session_scope(services.engine) as session:
        stored = " ".join(session.execute(select(ThrottleHit.key_digest)).scalars())
    assert "secret" not in stored and "198.51" not in stored and "700000001" not in stored


def test_limits_live_in_one_place_and_can_be_changed(demo_engine, mailer, provider, clock, codes):
    strict = Limits(lookup_per_reference=Rule(2, timedelta(minutes=5), lock_for=timedelta(minutes=3)))
    services = SupportServices(demo_engine, mailer, provider, secret_key=SECRET, clock=clock,
                               limits=strict, verification_options={"code_generator": codes})
    try:
        for i in range(2):
            services.verify_order(f"s-{i}", f"s{i}@example.com", ALICE, client_address=f"10.9.9.{i}")
        result = services.verify_order("s-3", EMAILS[ALICE], ALICE)
        assert result.status == "throttled" and result.retry_after == timedelta(minutes=3)
        assert "3 minutes" in _tickets(demo_engine)[0].summary
    finally:
        services.close()


# ---- a verification expires -----------------------------------------------------------------------
def test_a_verification_expires_and_money_needs_a_fresh_one(services, codes, clock, provider):
    ttl = DEFAULT_LIMITS.verification_ttl
    verify(services, ALICE)
    confirm(services, codes, ALICE, "refund", reason="other")
    clock.advance(seconds=ttl.total_seconds() + 1)
    with pytest.raises(NotVerified):
        services.order_summary("conv-1", ALICE)
    assert services.issue_refund("conv-1", ALICE, "other", "k").status == "not_verified"
    assert services.ask_confirmation("conv-1", ALICE, "refund", reason="other").status == \
        "not_verified"
    assert provider.calls == []
    # a fresh verification alone does not bring the old code back: code and yes again
    verify(services, ALICE)
    assert services.issue_refund("conv-1", ALICE, "other", "k2").code_required
    confirm(services, codes, ALICE, "refund", reason="other")
    assert services.issue_refund("conv-1", ALICE, "other", "k3").status == "refunded"


def test_the_verification_lasts_its_ttl(services, clock):
    verify(services, ALICE)
    clock.advance(seconds=DEFAULT_LIMITS.verification_ttl.total_seconds() - 1)
    assert services.order_summary("conv-1", ALICE).reference == ALICE


# ---- a new lookup drops the conversation's verification (server-side) --------------------------
def test_a_new_lookup_drops_the_verification_codes_and_questions_of_the_order_before(
        services, codes, provider):
    verify(services, ALICE)
    prove_email(services, codes, ALICE)
    assert services.ask_confirmation("conv-1", ALICE, "refund", reason="other").status == "pending"
    # at the confirmation step the customer gives another order (someone else's): mismatch
    assert services.verify_order("conv-1", EMAILS[ALICE], BOB).status == "mismatch"
    with pytest.raises(NotVerified):
        services.order_summary("conv-1", ALICE)
    with pytest.raises(NotVerified):
        services.order_summary("conv-1", BOB)
    assert services.answer_confirmation("conv-1", ALICE, "refund", True) == "not_verified"
    for reference in (ALICE, BOB):
        asked = services.ask_confirmation("conv-1", reference, "refund", reason="other")
        assert asked.status == "not_verified"
        assert (asked.card_brand, asked.card_last4, asked.payment_method) == (None, None, None)
    with session_scope(services.engine) as session:
        assert session.execute(select(func.count(ConversationVerification.id)).where(
            ConversationVerification.conversation_id == "conv-1")).scalar_one() == 0
    assert provider.calls == []


# ---- charge lookup --------------------------------------------------------------------------------
def test_the_charge_lookup_is_throttled_per_conversation(services, clock):
    limit = DEFAULT_LIMITS.charges_per_conversation
    for i in range(limit.limit):
        assert services.find_charges("charges", amount_minor=1000 + i).status == "not_found"
        clock.advance(minutes=1)
    throttled = services.find_charges("charges", card_last4="4242")
    assert throttled.status == "throttled" and throttled.hints == ()
    assert throttled.retry_after == limit.window - timedelta(minutes=limit.limit)
    assert services.find_charges("another", card_last4="4242").status == "found"
    clock.advance(seconds=throttled.retry_after_seconds)
    assert services.find_charges("charges", card_last4="4242").status == "found"


def test_the_charge_lookup_is_throttled_per_client_address(services):
    limit = DEFAULT_LIMITS.charges_per_client.limit
    for i in range(limit):
        services.find_charges(f"fresh-{i}", amount_minor=2000 + i, client_address="198.51.100.3")
    assert services.find_charges("fresh-new", card_last4="4242",
                                 client_address="198.51.100.3").status == "throttled"
    assert services.find_charges("fresh-new", card_last4="4242",
                                 client_address="198.51.100.4").status == "found"


# ---- what a reply says was done is backed by a row (or a sent mail) ---------------------------
def test_a_refund_mails_its_confirmation_and_says_so_only_then(services, codes, mailer):
    verify(services, ALICE)
    confirm(services, codes, ALICE, "refund", reason="other")
    outcome = services.issue_refund("conv-1", ALICE, "other", "k")
    assert outcome.status == "refunded" and outcome.receipt_sent_to == "a***e@example.com"
    [receipt] = [m for m in mailer.messages if m["Subject"] == f"Your refund for order {ALICE}"]
    assert receipt["To"] == EMAILS[ALICE] and "refunded 49.00 EUR" in receipt.get_content()
    assert "ending 4242" in receipt.get_content()


def test_a_failed_receipt_mail_keeps_the_refund_and_promises_no_mail(services, codes, mailer):
    from supportbot.mail import MailDeliveryError

    verify(services, ALICE)
    confirm(services, codes, ALICE, "refund", reason="other")

    def refuse(message):
        raise MailDeliveryError("relay down")

    mailer.send = refuse
    outcome = services.issue_refund("conv-1", ALICE, "other", "k")
    assert outcome.status == "refunded" and outcome.receipt_sent_to is None


def test_concurrent_wrong_emails_lock_the_reference_once(services):
    """Eight conversations guess at the same moment: one lock, one ticket (PostgreSQL checks
    and counts them one after the other, so exactly five are checked there)."""
    import threading

    results: list[str] = []
    barrier = threading.Barrier(8)

    def guess(i: int) -> None:
        barrier.wait()
        results.append(services.verify_order(f"par-{i}", f"par{i}@example.com", ALICE,
                                             client_address=f"10.8.0.{i}").status)

    threads = [threading.Thread(target=guess, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert _count(services.engine, ThrottleLock) == 1
    assert len(_tickets(services.engine)) == 1
    assert services.verify_order("late", EMAILS[ALICE], ALICE).status == "throttled"
    if services.engine.dialect.name == "postgresql":
        assert sorted(results) == ["mismatch"] * 5 + ["throttled"] * 3
