"""Console accounts on a real (migrated) SQLite database: hashing, sessions, throttle."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from supportbot.console.accounts import service
from supportbot.console.accounts.models import ConsoleSession, ConsoleUser
from supportbot.console.accounts.service import AccountError, Accounts, LoginStatus
from supportbot.core.timeutil import utcnow
from supportbot.db import migrate
from supportbot.db.engine import make_engine, session_scope

PASSWORD = "correct horse battery"


class Clock:
    def __init__(self):
        self.now = utcnow()

    def __call__(self):
        return self.now

    def advance(self, **delta):
        self.now += timedelta(**delta)


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_engine(request):
    """The migrated SQLite copy, or a fresh PostgreSQL schema migrated here."""
    if request.param == "sqlite":
        return request.getfixturevalue("engine")
    engine = make_engine(request.getfixturevalue("postgres_url"))
    migrate.upgrade(engine)
    request.addfinalizer(engine.dispose)
    return engine


@pytest.fixture
def acc(db_engine, clock):
    accounts = Accounts(db_engine, clock=clock)
    accounts.add_user("Lead@Example.com ", "lead", PASSWORD)
    return accounts


def test_passwords_are_stored_as_argon2id_hashes_only(real_argon2, acc, db_engine):
    with session_scope(db_engine) as s:
        user = s.scalar(select(ConsoleUser))
    assert user.email == "lead@example.com"
    assert user.password_hash.startswith("$argon2id$v=19$m=65536,t=3,p=4$")  # argon2-cffi's defaults
    assert PASSWORD not in user.password_hash
    assert acc.login("lead@example.com", PASSWORD, "10.0.0.1").status is LoginStatus.ok
    assert acc.login("lead@example.com", PASSWORD + "x", "10.0.0.1").status is LoginStatus.invalid


@pytest.mark.parametrize("email, role, password, message", [
    ("not-an-email", "lead", PASSWORD, "not an email"),
    ("a@example.com", "admin", PASSWORD, "role must be"),
    ("a@example.com", "reviewer", "short", "at least 12"),
    ("lead@example.com", "reviewer", PASSWORD, "already exists"),
])
def test_bad_users_are_refused_with_a_reason(acc, email, role, password, message):
    with pytest.raises(AccountError, match=message):
        acc.add_user(email, role, password)
    assert len(acc.list_users()) == 1


def test_the_session_token_is_stored_only_as_its_hash(acc, db_engine):
    result = acc.login("lead@example.com", PASSWORD, "10.0.0.1")
    with session_scope(db_engine) as s:
        rows = s.scalars(select(ConsoleSession)).all()
    assert len(rows) == 1 and rows[0].token_hash != result.token
    assert result.token not in rows[0].token_hash
    view = acc.session(result.token)
    assert view is not None and view.user.email == "lead@example.com" and view.csrf_token
    assert acc.session(rows[0].token_hash) is None  # the stored value opens nothing
    assert acc.session("made-up") is None


def test_sessions_expire_when_idle_and_after_their_maximum_age(acc, clock):
    token = acc.login("lead@example.com", PASSWORD, "10.0.0.1").token
    clock.advance(hours=1, minutes=59)
    assert acc.session(token) is not None  # renewed by use
    clock.advance(hours=2, minutes=1)
    assert acc.session(token) is None  # idle too long
    token = acc.login("lead@example.com", PASSWORD, "10.0.0.1").token
    for _ in range(13):  # used every hour: still ends after SESSION_MAX_AGE
        clock.advance(hours=1)
        alive = acc.session(token) is not None
    assert not alive


def test_logout_and_disabling_end_sessions(acc):
    token = acc.login("lead@example.com", PASSWORD, "10.0.0.1").token
    acc.logout(token)
    assert acc.session(token) is None
    acc.add_user("rev@example.com", "reviewer", PASSWORD)
    token = acc.login("rev@example.com", PASSWORD, "10.0.0.1").token
    acc.set_disabled("rev@example.com", True)
    assert acc.session(token) is None
    assert acc.login("rev@example.com", PASSWORD, "10.0.0.1").status is LoginStatus.invalid
    acc.set_disabled("rev@example.com", False)
    assert acc.login("rev@example.com", PASSWORD, "10.0.0.1").status is LoginStatus.ok


def test_failed_logins_are_throttled_per_account(acc, clock):
    for _ in range(service.MAX_FAILURES_PER_ACCOUNT):
        assert acc.login("lead@example.com", "wrong password!", "10.0.0.1").status is LoginStatus.invalid
    # the right password from another address is refused too: the account is throttled
    result = acc.login("lead@example.com", PASSWORD, "10.9.9.9")
    assert result.status is LoginStatus.throttled and result.retry_after > 0
    clock.advance(seconds=result.retry_after)
    assert acc.login("lead@example.com", PASSWORD, "10.9.9.9").status is LoginStatus.ok


def test_failed_logins_are_throttled_per_client_address(acc):
    acc.add_user("rev@example.com", "reviewer", PASSWORD)
    for i in range(service.MAX_FAILURES_PER_CLIENT):  # spraying many accounts from one address
        acc.login(f"guess{i}@example.com", "wrong password!", "10.0.0.66")
    assert acc.login("rev@example.com", PASSWORD, "10.0.0.66").status is LoginStatus.throttled
    assert acc.login("rev@example.com", PASSWORD, "10.0.0.7").status is LoginStatus.ok


def test_parameters_are_upgraded_on_login(acc, db_engine):
    from argon2 import PasswordHasher

    with session_scope(db_engine) as s:  # a hash made with weaker parameters than today's
        s.scalar(select(ConsoleUser)).password_hash = PasswordHasher(
            time_cost=1, memory_cost=512, parallelism=1).hash(PASSWORD)
    assert acc.login("lead@example.com", PASSWORD, "10.0.0.1").status is LoginStatus.ok
    with session_scope(db_engine) as s:
        assert not service._hasher.check_needs_rehash(s.scalar(select(ConsoleUser)).password_hash)


def test_expired_sessions_and_old_attempts_are_purged(acc, clock):
    kept = acc.login("lead@example.com", PASSWORD, "10.0.0.1").token
    acc.login("lead@example.com", "wrong password!", "10.0.0.1")
    assert acc.purge() == (0, 0)
    clock.advance(minutes=31)
    acc.session(kept)  # in use: renewed
    gone = acc.login("lead@example.com", PASSWORD, "10.0.0.1").token
    clock.advance(hours=2, minutes=1)
    assert acc.purge() == (2, 3)  # both sessions idle too long; three attempts out of the window
    assert acc.session(kept) is None and acc.session(gone) is None


def test_unknown_and_wrong_password_answer_alike(acc):
    unknown = acc.login("nobody@example.com", PASSWORD, "10.0.0.1")
    wrong = acc.login("lead@example.com", "nope nope nope", "10.0.0.1")
    assert unknown == wrong and unknown.status is LoginStatus.invalid and unknown.token is None
