"""Verification: email + reference, throttling, one-time codes (SQLite and PostgreSQL)."""
from __future__ import annotations

import re
import time
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from supportbot.core.payment_provider import DryRunPaymentProvider
from supportbot.core.services import SupportServices
from supportbot.core.verification import VerificationService
from supportbot.core.views import CodeDispatchStatus
from supportbot.core.vocabulary import ONE_TIME_CODE_DIGITS, format_duration
from supportbot.db.engine import session_scope
from supportbot.db.models import AuditLog, VerificationChallenge
from supportbot.mail import MailDeliveryError, SmtpMailer

SECRET = "test-secret-key"


@pytest.fixture
def verification(demo_engine, mailer, clock, codes):
    return VerificationService(demo_engine, mailer, secret_key=SECRET, clock=clock,
                               code_generator=codes)


# ---- email + reference ----------------------------------------------------------------------
def test_matching_email_and_reference_verify_the_order_trimmed_and_case_insensitively(
        verification):
    for i, (email, reference) in enumerate([
        ("alice@example.com", "100000001"),
        ("  Alice@Example.COM ", " 100000001 "),
        ("ALICE@EXAMPLE.COM", "#100000001"),
    ]):
        outcome = verification.verify(f"conv-{i}", email, reference)
        assert outcome.status == "verified" and outcome.order_id is not None, (email, reference)


def test_no_such_order_and_wrong_email_get_the_same_answer(verification):
    wrong_email = verification.verify("conv-1", "mallory@example.com", "100000001")
    no_order = verification.verify("conv-1", "alice@example.com", "999999999")
    other_customers_order = verification.verify("conv-1", "alice@example.com", "100000002")
    assert wrong_email == no_order == other_customers_order
    assert wrong_email.status == "mismatch" and wrong_email.order_id is None


def test_malformed_input_is_invalid_and_not_counted(verification):
    for email, reference in [("alice@example.com", "10000001"), ("alice@example.com", "abc"),
                             ("alice", "100000001"), ("", "100000001"), (None, None),
                             ("alice@example.com", "1000000011")]:
        assert verification.verify("conv-1", email, reference).status == "invalid"
    # invalid input does not count towards the throttle
    assert verification.verify("conv-1", "alice@example.com", "100000001").status == "verified"


def test_five_failed_lookups_in_15_minutes_throttle_the_conversation(verification, clock):
    for i in range(5):
        # other emails and references each time: only the conversation's own count trips
        assert verification.verify("conv-t", f"nobody{i}@example.com",
                                   f"20000000{i}").status == "mismatch"
        clock.advance(minutes=1)
    # the right answer is throttled too: otherwise throttling would leak nothing but help nothing
    throttled = verification.verify("conv-t", "alice@example.com", "100000001")
    assert throttled.status == "throttled"
    # the first failure was at T0, window 15 min, now T0+5 min -> 10 minutes to wait
    assert throttled.retry_after_seconds == 600
    # other conversations are not affected
    assert verification.verify("conv-other", "alice@example.com", "100000001").status == "verified"
    clock.advance(minutes=10, seconds=1)
    assert verification.verify("conv-t", "alice@example.com", "100000001").status == "verified"


def test_failed_lookups_are_throttled_per_email_across_conversations(verification, clock):
    for i in range(5):
        verification.verify(f"conv-{i}", "alice@example.com", f"10000009{i}")
    result = verification.verify("conv-fresh", "alice@example.com", "100000001")
    assert result.status == "throttled" and 0 < result.retry_after_seconds <= 900
    # a different address from the same fresh conversation is fine
    assert verification.verify("conv-fresh", "bob@example.com", "100000002").status == "verified"


def test_four_failures_do_not_throttle(verification):
    for _ in range(4):
        verification.verify("conv-4", "x@example.com", "100000001")
    assert verification.verify("conv-4", "alice@example.com", "100000001").status == "verified"


def test_failures_older_than_the_window_do_not_count(verification, clock):
    for _ in range(5):
        verification.verify("conv-w", "x@example.com", "100000001")
    clock.advance(minutes=15, seconds=1)
    assert verification.verify("conv-w", "alice@example.com", "100000001").status == "verified"


def test_lookups_are_audited_without_the_email_address(verification, demo_engine):
    verification.verify("conv-a", "alice@example.com", "100000001")
    with session_scope(demo_engine) as session:
        entry = session.execute(select(AuditLog).where(
            AuditLog.action == "verification.lookup")).scalar_one()
        assert entry.details["succeeded"] is True
        assert "alice" not in str(entry.details)


# ---- one-time codes -------------------------------------------------------------------------
def _verified(verification, conv="conv-1", email="alice@example.com", ref="100000001"):
    assert verification.verify(conv, email, ref).status == "verified"


def test_a_code_needs_a_verified_order_first(verification, mailer):
    assert verification.send_code("conv-1", "100000001").status == "not_verified"
    assert mailer.messages == []


def test_the_code_is_mailed_to_the_purchase_address_and_stored_only_as_hmac(
        verification, mailer, codes, demo_engine, clock):
    _verified(verification, email="  ALICE@example.com")
    dispatch = verification.send_code("conv-1", "100000001")
    assert dispatch.status == "sent"
    assert dispatch.masked_email == "a***e@example.com"
    assert dispatch.expires_at == clock() + timedelta(minutes=10)
    [message] = mailer.messages
    assert message["To"] == "alice@example.com"
    assert codes.last in message.get_content()
    with session_scope(demo_engine) as session:
        challenge = session.execute(select(VerificationChallenge)).scalar_one()
        assert codes.last not in challenge.code_hash
        assert len(challenge.code_hash) == 64 and challenge.status == "pending"


@pytest.mark.parametrize("ttl", [timedelta(minutes=10), timedelta(minutes=15), timedelta(hours=1)])
def test_the_dispatch_states_the_length_and_lifetime_of_the_code_that_was_mailed(
        demo_engine, mailer, clock, codes, ttl):
    verification = VerificationService(demo_engine, mailer, secret_key=SECRET, clock=clock,
                                       code_generator=codes, code_ttl=ttl)
    _verified(verification)
    dispatch = verification.send_code("conv-1", "100000001")
    assert dispatch.status is CodeDispatchStatus.SENT
    assert dispatch.code_length == len(codes.last) == ONE_TIME_CODE_DIGITS
    assert dispatch.valid_for == ttl and dispatch.expires_at == clock() + ttl
    body = mailer.messages[-1].get_content()
    assert f"expires in {format_duration(ttl)}" in body


def test_generated_codes_have_the_shared_length():
    from supportbot.core.verification import generate_code

    assert all(re.fullmatch(rf"\d{{{ONE_TIME_CODE_DIGITS}}}", generate_code()) for _ in range(50))


def test_the_right_code_proves_control_of_the_email(verification, codes, demo_engine):
    _verified(verification)
    verification.send_code("conv-1", "100000001")
    check = verification.check_code("conv-1", "100000001", f" {codes.last[:3]} {codes.last[3:]} ")
    assert check.status == "ok"
    with session_scope(demo_engine) as session:
        assert verification.has_proved_email(session, "conv-1", "alice@example.com")
        assert not verification.has_proved_email(session, "conv-2", "alice@example.com")
        assert not verification.has_proved_email(session, "conv-1", "bob@example.com")


def test_a_code_expires_after_10_minutes(verification, codes, clock):
    _verified(verification)
    verification.send_code("conv-1", "100000001")
    clock.advance(minutes=10)
    assert verification.check_code("conv-1", "100000001", codes.last).status == "expired"


def test_a_code_is_valid_just_before_it_expires(verification, codes, clock):
    _verified(verification)
    verification.send_code("conv-1", "100000001")
    clock.advance(minutes=9, seconds=59)
    assert verification.check_code("conv-1", "100000001", codes.last).status == "ok"


def test_five_wrong_codes_exhaust_the_challenge(verification, codes):
    _verified(verification)
    verification.send_code("conv-1", "100000001")
    lefts = [verification.check_code("conv-1", "100000001", "000000") for _ in range(5)]
    assert [c.status for c in lefts] == ["wrong"] * 5
    assert [c.attempts_left for c in lefts] == [4, 3, 2, 1, 0]
    # even the right code is refused now
    assert verification.check_code("conv-1", "100000001", codes.last).status == "throttled"


def test_a_new_code_supersedes_the_old_one(verification, codes):
    _verified(verification)
    verification.send_code("conv-1", "100000001")
    first = codes.last
    verification.send_code("conv-1", "100000001")
    assert first != codes.last
    assert verification.check_code("conv-1", "100000001", first).status == "wrong"
    assert verification.check_code("conv-1", "100000001", codes.last).status == "ok"


def test_at_most_three_codes_per_15_minutes(verification, clock, mailer):
    _verified(verification)
    for _ in range(3):
        assert verification.send_code("conv-1", "100000001").status == "sent"
        clock.advance(minutes=1)
    throttled = verification.send_code("conv-1", "100000001")
    assert throttled.status == "throttled" and throttled.retry_after_seconds == 12 * 60
    # another conversation that verified the same order gets no extra codes (no extra guesses)
    _verified(verification, conv="conv-2")
    assert verification.send_code("conv-2", "100000001").status == "throttled"
    assert len(mailer.messages) == 3
    clock.advance(minutes=12)
    assert verification.send_code("conv-2", "100000001").status == "sent"


def test_a_code_of_another_conversation_does_not_work(verification, codes):
    _verified(verification, conv="conv-1")
    _verified(verification, conv="conv-2")
    verification.send_code("conv-1", "100000001")
    assert verification.check_code("conv-2", "100000001", codes.last).status == "no_challenge"


def test_no_challenge_without_a_sent_code(verification):
    _verified(verification)
    assert verification.check_code("conv-1", "100000001", "123456").status == "no_challenge"


def test_a_failing_mail_relay_leaves_no_usable_challenge(demo_engine, clock, codes):
    class BrokenMailer:
        def send(self, message):
            raise MailDeliveryError("relay down")

    service = VerificationService(demo_engine, BrokenMailer(), secret_key=SECRET, clock=clock,
                                  code_generator=codes)
    _verified(service)
    assert service.send_code("conv-1", "100000001").status == "unavailable"
    assert service.check_code("conv-1", "100000001", codes.last).status == "no_challenge"
    with session_scope(demo_engine) as session:
        assert session.execute(select(func.count(VerificationChallenge.id))).scalar_one() == 0


def test_codes_are_random_six_digit_strings():
    from supportbot.core.verification import generate_code

    codes = {generate_code() for _ in range(50)}
    assert all(re.fullmatch(r"\d{6}", c) for c in codes)
    assert len(codes) > 40


def test_codes_are_hashed_with_the_secret_key(demo_engine, mailer, clock):
    a = VerificationService(demo_engine, mailer, secret_key="one", clock=clock)
    b = VerificationService(demo_engine, mailer, secret_key="two", clock=clock)
    assert a._code_hash("c", 1, "refund", "123456") != b._code_hash("c", 1, "refund", "123456")
    assert a.email_digest("Alice@example.com ") == a.email_digest("alice@example.com")


# ---- the real thing: SMTP on loopback -------------------------------------------------------
def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Inbox:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(envelope)
        return "250 OK"


@pytest.fixture
def smtp_inbox():
    from aiosmtpd.controller import Controller

    inbox = _Inbox()
    port = _free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    inbox.port = port
    try:
        yield inbox
    finally:
        controller.stop()


def test_the_code_travels_through_a_real_smtp_server_and_is_accepted(demo_engine, clock,
                                                                     smtp_inbox):
    from email import message_from_bytes, policy

    services = SupportServices(demo_engine, SmtpMailer("127.0.0.1", smtp_inbox.port, timeout=5),
                               DryRunPaymentProvider(),
                               secret_key=SECRET, clock=clock,
                               mail_from="Support <support@reseller.example>")
    assert services.verify_order("conv-smtp", "alice@example.com", "100000001").status == "verified"
    dispatch = services.send_one_time_code("conv-smtp", "100000001")
    assert dispatch.status == "sent"
    deadline = time.monotonic() + 5
    while not smtp_inbox.messages and time.monotonic() < deadline:
        time.sleep(0.02)
    [envelope] = smtp_inbox.messages
    assert envelope.rcpt_tos == ["alice@example.com"]
    message = message_from_bytes(envelope.content, policy=policy.default)
    code = re.search(r"\b(\d{6})\b", message.get_content()).group(1)
    assert services.check_one_time_code("conv-smtp", "100000001", "999999" if code != "999999"
                                        else "000000").status == "wrong"
    assert services.check_one_time_code("conv-smtp", "100000001", code).status == "ok"
    with session_scope(demo_engine) as session:
        assert services.verification.has_proved_email(session, "conv-smtp", "alice@example.com")


def test_verifying_the_same_order_twice_is_recorded_once(verification, demo_engine):
    from supportbot.db.models import ConversationVerification

    for _ in range(2):
        assert verification.verify("conv-1", "alice@example.com", "100000001").status == "verified"
    with session_scope(demo_engine) as session:
        assert session.execute(select(func.count(ConversationVerification.id))).scalar_one() == 1
        verification.grant(session, "conv-1", verification.verify(
            "conv-1", "alice@example.com", "100000001").order_id, "same_customer")
    with session_scope(demo_engine) as session:
        rows = session.execute(select(ConversationVerification)).scalars().all()
        assert [(r.conversation_id, r.method) for r in rows] == [("conv-1", "email_and_reference")]
