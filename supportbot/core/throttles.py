"""Throttles kept in the database (tables `throttle_hits`, `throttle_locks`), so that they hold
across conversations, processes and restarts. The rules are `supportbot.core.limits`.

A key is what is counted - a conversation, a client address, an order reference, an email
address - stored only as an HMAC (settings.secret_key) with its scope
(`vocabulary.THROTTLE_SCOPES`). Everything runs in the caller's transaction.
"""
from __future__ import annotations

import hashlib
import hmac
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, text
from sqlalchemy.orm import Session

from supportbot.core.limits import Rule
from supportbot.core.vocabulary import THROTTLE_SCOPES
from supportbot.db.models import ThrottleHit, ThrottleLock


def seconds_until(moment: datetime, now: datetime) -> int:
    """Whole seconds from `now` to `moment`, at least 1 (what a customer is told to wait)."""
    return max(1, int((moment - now).total_seconds() + 0.999))


class Throttle:
    def __init__(self, secret: bytes):
        self._secret = secret

    def key(self, scope: str, value: str) -> str:
        if scope not in THROTTLE_SCOPES:
            raise ValueError(f"unknown throttle scope {scope!r}; one of {THROTTLE_SCOPES}")
        normalized = (value or "").strip().lower()
        return hmac.new(self._secret, f"throttle|{scope}|{normalized}".encode(),
                        hashlib.sha256).hexdigest()

    def serialize(self, session: Session, keys: list[tuple[str, str]]) -> None:
        """On PostgreSQL, hold a transaction-scoped advisory lock per (scope, value) until the
        caller's transaction ends, so that concurrent lookups of one reference or address are
        checked and counted one after the other (in a fixed order: no deadlock). SQLite
        serialises writers itself; there the lock is created once all the same."""
        if session.get_bind().dialect.name != "postgresql":
            return
        for scope, value in sorted(keys):
            session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:k))"),
                            {"k": self.key(scope, value)})

    @staticmethod
    def _active_lock(session: Session, scope: str, key: str, now: datetime) -> ThrottleLock | None:
        lock: ThrottleLock | None = session.execute(
            select(ThrottleLock)
            .where(ThrottleLock.scope == scope, ThrottleLock.key_digest == key,
                   ThrottleLock.locked_until > now)
            .order_by(ThrottleLock.locked_until.desc())
            .limit(1)
        ).scalar_one_or_none()
        return lock

    @staticmethod
    def _last_lock_end(session: Session, scope: str, key: str) -> datetime | None:
        end: datetime | None = session.execute(
            select(func.max(ThrottleLock.locked_until))
            .where(ThrottleLock.scope == scope, ThrottleLock.key_digest == key)
        ).scalar_one_or_none()
        return end

    def _recent(self, session: Session, scope: str, key: str, since: datetime,
                limit: int) -> list[datetime]:
        """The newest `limit` hits after `since`, newest first."""
        return list(session.execute(
            select(ThrottleHit.created_at)
            .where(ThrottleHit.scope == scope, ThrottleHit.key_digest == key,
                   ThrottleHit.created_at > since)
            .order_by(ThrottleHit.created_at.desc())
            .limit(limit)
        ).scalars().all())

    def _since(self, session: Session, scope: str, key: str, rule: Rule, now: datetime) -> datetime:
        since = now - rule.window
        if rule.lock_for is not None:
            # what came before the last lock ended was paid for by that lock
            end = self._last_lock_end(session, scope, key)
            if end is not None and end > since:
                since = end
        return since

    def retry_after(self, session: Session, scope: str, value: str, rule: Rule,
                    now: datetime) -> int | None:
        """Seconds to wait before `value` may try again; None when it may now."""
        key = self.key(scope, value)
        if rule.lock_for is not None:
            lock = self._active_lock(session, scope, key, now)
            return seconds_until(lock.locked_until, now) if lock is not None else None
        hits = self._recent(session, scope, key, now - rule.window, rule.limit)
        if len(hits) < rule.limit:
            return None
        # allowed again when the oldest of the last `limit` hits leaves the window
        return seconds_until(hits[-1] + rule.window, now)

    def hit(self, session: Session, scope: str, value: str, rule: Rule, now: datetime,
            conversation_id: str | None = None) -> ThrottleLock | None:
        """Count one event; the new lock when this one reached a locking rule's limit."""
        key = self.key(scope, value)
        # hits older than the rule can look back no longer matter: the table stays small
        session.execute(
            delete(ThrottleHit)
            .where(ThrottleHit.scope == scope, ThrottleHit.key_digest == key,
                   ThrottleHit.created_at < now - rule.window - (rule.lock_for or timedelta(0)))
            .execution_options(synchronize_session=False))
        session.add(ThrottleHit(scope=scope, key_digest=key, created_at=now))
        session.flush()
        if rule.lock_for is None or self._active_lock(session, scope, key, now) is not None:
            return None
        hits = self._recent(session, scope, key, self._since(session, scope, key, rule, now)
                            - timedelta(microseconds=1), rule.limit)
        if len(hits) < rule.limit:
            return None
        lock = ThrottleLock(scope=scope, key_digest=key, conversation_id=conversation_id,
                            created_at=now, locked_until=now + rule.lock_for)
        session.add(lock)
        session.flush()
        return lock
