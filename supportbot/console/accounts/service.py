"""Console users, server-side sessions and the login throttle.

`Accounts(engine)` owns its units of work (one short transaction per call). Nothing here
knows about HTTP: the web app passes the client's address and the cookie's token in.

- Passwords: argon2id (argon2-cffi's defaults), re-hashed on login when the parameters change.
  At least `MIN_PASSWORD_LENGTH` characters. An unknown email costs the same hash check.
- Sessions: a random 256-bit token the browser keeps in a cookie; the database stores only its
  SHA-256, the user, a CSRF token, the client address and two limits: idle (`SESSION_IDLE`,
  renewed on use) and absolute (`SESSION_MAX_AGE`). Disabling a user ends their sessions.
- Throttle: failed attempts in the last `THROTTLE_WINDOW`, counted per account (the email as
  typed) and per client address; at the limit every further attempt is refused without
  checking the password until the window moves on (`LoginResult.retry_after`).
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import delete, func, select
from sqlalchemy.engine import Engine

from supportbot.console.accounts.models import ConsoleLoginAttempt, ConsoleSession, ConsoleUser
from supportbot.console.accounts.roles import ROLES
from supportbot.core.timeutil import utcnow
from supportbot.core.vocabulary import normalize_email
from supportbot.db.engine import session_scope

MIN_PASSWORD_LENGTH = 12
SESSION_IDLE = timedelta(hours=2)
SESSION_MAX_AGE = timedelta(hours=12)
THROTTLE_WINDOW = timedelta(minutes=15)
MAX_FAILURES_PER_ACCOUNT = 5
MAX_FAILURES_PER_CLIENT = 20

_hasher = PasswordHasher()


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    """Verified against when the email is unknown, so both cases cost one argon2 check."""
    return _hasher.hash(secrets.token_urlsafe(16))


class AccountError(ValueError):
    """A request the accounts refuse (bad email, weak password, unknown user): the message
    says why. `user_facing` lets `supportbot` print it without a traceback."""

    user_facing = True
    exit_code = 1


@dataclass(frozen=True)
class UserView:
    id: int
    email: str
    role: str
    disabled: bool
    created_at: datetime
    last_login_at: datetime | None

    @property
    def is_lead(self) -> bool:
        return self.role == "lead"


@dataclass(frozen=True)
class SessionView:
    user: UserView
    csrf_token: str
    expires_at: datetime


class LoginStatus(str, Enum):
    ok = "ok"
    invalid = "invalid"  # unknown email, wrong password or disabled account: one answer
    throttled = "throttled"


@dataclass(frozen=True)
class LoginResult:
    status: LoginStatus
    user: UserView | None = None
    token: str | None = None  # the session token for the cookie (only when ok)
    retry_after: int = 0  # seconds (only when throttled)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _view(user: ConsoleUser) -> UserView:
    return UserView(id=user.id, email=user.email, role=user.role, disabled=bool(user.disabled),
                    created_at=user.created_at, last_login_at=user.last_login_at)


def check_password_strength(password: str, email: str | None = None) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"the password needs at least {MIN_PASSWORD_LENGTH} characters")
    if email and password.strip().lower() == email.strip().lower():
        raise AccountError("the password must not be the email address")


def _client(address: str | None) -> str:
    return (address or "unknown")[:64]


class Accounts:
    def __init__(self, engine: Engine, *, clock=utcnow) -> None:
        self.engine = engine
        self._now = clock

    # --- users -------------------------------------------------------------------------
    def add_user(self, email: str, role: str, password: str) -> UserView:
        address = normalize_email(email)
        if address is None:
            raise AccountError(f"not an email address: {email!r}")
        if role not in ROLES:
            raise AccountError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
        check_password_strength(password, address)
        with session_scope(self.engine) as session:
            if session.scalar(select(ConsoleUser.id).where(ConsoleUser.email == address)):
                raise AccountError(f"a console user {address} already exists")
            user = ConsoleUser(email=address, role=role, password_hash=hash_password(password),
                               disabled=False, created_at=self._now())
            session.add(user)
            session.flush()
            return _view(user)

    def list_users(self) -> list[UserView]:
        with session_scope(self.engine) as session:
            return [_view(u) for u in session.scalars(select(ConsoleUser).order_by(ConsoleUser.email))]

    def count_users(self) -> int:
        with session_scope(self.engine) as session:
            return int(session.scalar(select(func.count()).select_from(ConsoleUser)) or 0)

    def get_user(self, user_id: int) -> UserView | None:
        with session_scope(self.engine) as session:
            user = session.get(ConsoleUser, user_id)
            return _view(user) if user else None

    def set_disabled(self, email: str, disabled: bool = True) -> UserView:
        """Disable (or enable again) a user; disabling ends every session of theirs."""
        address = normalize_email(email) or email.strip().lower()
        with session_scope(self.engine) as session:
            user = session.scalar(select(ConsoleUser).where(ConsoleUser.email == address))
            if user is None:
                raise AccountError(f"no console user {address}")
            user.disabled = disabled
            if disabled:
                session.execute(delete(ConsoleSession).where(ConsoleSession.user_id == user.id))
            return _view(user)

    def set_password(self, email: str, password: str) -> UserView:
        address = normalize_email(email) or email.strip().lower()
        check_password_strength(password, address)
        with session_scope(self.engine) as session:
            user = session.scalar(select(ConsoleUser).where(ConsoleUser.email == address))
            if user is None:
                raise AccountError(f"no console user {address}")
            user.password_hash = hash_password(password)
            session.execute(delete(ConsoleSession).where(ConsoleSession.user_id == user.id))
            return _view(user)

    # --- login ---------------------------------------------------------------------------
    def _retry_after(self, session, email: str, client: str, now: datetime) -> int:
        since = now - THROTTLE_WINDOW
        failed = (ConsoleLoginAttempt.succeeded.is_(False), ConsoleLoginAttempt.attempted_at > since)
        waits = []
        for column, value, limit in ((ConsoleLoginAttempt.email, email, MAX_FAILURES_PER_ACCOUNT),
                                     (ConsoleLoginAttempt.client_address, client,
                                      MAX_FAILURES_PER_CLIENT)):
            times = session.scalars(
                select(ConsoleLoginAttempt.attempted_at).where(column == value, *failed)
                .order_by(ConsoleLoginAttempt.attempted_at.desc()).limit(limit)).all()
            if len(times) >= limit:
                # free again when the oldest of the last `limit` failures leaves the window
                waits.append(int((times[-1] + THROTTLE_WINDOW - now).total_seconds()) + 1)
        return max(waits, default=0)

    def login(self, email: str, password: str, client_address: str | None) -> LoginResult:
        now = self._now()
        typed = (email or "").strip().lower()[:254]
        client = _client(client_address)
        with session_scope(self.engine) as session:
            wait = self._retry_after(session, typed, client, now)
            if wait > 0:
                return LoginResult(LoginStatus.throttled, retry_after=wait)
            user = session.scalar(select(ConsoleUser).where(ConsoleUser.email == typed)) if typed else None
            ok = False
            try:
                ok = _hasher.verify(user.password_hash if user else _dummy_hash(), password or "")
            except (VerifyMismatchError, VerificationError, InvalidHashError):
                ok = False
            ok = ok and user is not None and not user.disabled
            session.add(ConsoleLoginAttempt(email=typed, client_address=client, attempted_at=now,
                                            succeeded=ok))
            if not ok:
                return LoginResult(LoginStatus.invalid)
            if _hasher.check_needs_rehash(user.password_hash):
                user.password_hash = hash_password(password)
            user.last_login_at = now
            token = secrets.token_urlsafe(32)
            session.add(ConsoleSession(
                token_hash=_token_hash(token), user_id=user.id, csrf_token=secrets.token_urlsafe(32),
                client_address=client, created_at=now, last_seen_at=now,
                expires_at=min(now + SESSION_IDLE, now + SESSION_MAX_AGE)))
            return LoginResult(LoginStatus.ok, user=_view(user), token=token)

    # --- sessions --------------------------------------------------------------------------
    def session(self, token: str | None) -> SessionView | None:
        """The live session of a cookie token (its idle expiry renewed), or None."""
        if not token or len(token) > 128:
            return None
        now = self._now()
        with session_scope(self.engine) as session:
            row = session.get(ConsoleSession, _token_hash(token))
            if row is None:
                return None
            user = session.get(ConsoleUser, row.user_id)
            if row.expires_at <= now or user is None or user.disabled:
                session.delete(row)
                return None
            row.last_seen_at = now
            row.expires_at = min(now + SESSION_IDLE, row.created_at + SESSION_MAX_AGE)
            return SessionView(user=_view(user), csrf_token=row.csrf_token, expires_at=row.expires_at)

    def logout(self, token: str | None) -> None:
        if not token:
            return
        with session_scope(self.engine) as session:
            session.execute(delete(ConsoleSession).where(ConsoleSession.token_hash == _token_hash(token)))

    def purge(self) -> tuple[int, int]:
        """Delete expired sessions and login attempts older than the throttle needs; returns
        how many of each (the console runs this in the background)."""
        now = self._now()
        with session_scope(self.engine) as session:
            sessions = session.execute(delete(ConsoleSession).where(ConsoleSession.expires_at <= now))
            attempts = session.execute(delete(ConsoleLoginAttempt).where(
                ConsoleLoginAttempt.attempted_at < now - 2 * THROTTLE_WINDOW))
            return int(sessions.rowcount or 0), int(attempts.rowcount or 0)


def csrf_matches(expected: str, given: str | None) -> bool:
    """Constant-time comparison of a form's CSRF token with the session's."""
    return bool(given) and hmac.compare_digest(expected.encode(), (given or "").encode())
