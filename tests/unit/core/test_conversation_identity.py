"""conversation_identity: the address a conversation proved (read-only, from the core's tables)."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from supportbot.core.conversation_identity import verified_email, verified_emails
from supportbot.core.verification import VerificationService
from supportbot.db.engine import session_scope
from supportbot.db.models import ConversationVerification


@pytest.fixture
def verification(demo_engine, mailer, clock):
    return VerificationService(demo_engine, mailer, secret_key="test-secret", clock=clock)


def _count(engine) -> int:
    with session_scope(engine) as session:
        return session.execute(select(func.count(ConversationVerification.id))).scalar_one()


def test_an_unverified_conversation_has_no_address(demo_engine, verification):
    assert verification.verify("conv-1", "alice@example.com", "100000002").status == "mismatch"
    with session_scope(demo_engine) as session:
        assert verified_email(session, "conv-1") is None
        assert verified_emails(session, "never-seen") == []


def test_the_verified_orders_address_not_the_typed_spelling(demo_engine, verification):
    assert verification.verify("conv-1", "  ALICE@Example.com ", "100000001").status == "verified"
    with session_scope(demo_engine) as session:
        assert verified_email(session, "conv-1") == "alice@example.com"
        assert verified_email(session, "conv-2") is None  # per conversation


def test_the_newest_verification_comes_first_and_nothing_is_written(demo_engine, verification, clock):
    assert verification.verify("conv-1", "alice@example.com", "100000001").status == "verified"
    clock.now += timedelta(minutes=1)
    assert verification.verify("conv-1", "bob@example.com", "100000002").status == "verified"
    before = _count(demo_engine)
    with session_scope(demo_engine) as session:
        assert verified_emails(session, "conv-1")[0] == "bob@example.com"
        assert verified_email(session, "conv-1") == "bob@example.com"
    assert _count(demo_engine) == before
