"""The reply spool: every outgoing email is stored (email_outbound) before it is sent.

`deliver()` sends one stored message through the Mailer (SMTP relay, or the development
outbox); when the relay is down the row stays `pending` with `next_attempt_at` pushed back
exponentially (base `spool_backoff`, doubled per attempt, capped), and becomes `failed` after
`spool_max_attempts` (listed by `supportbot email-bridge held`, re-armed by
`retry-spool --include-failed`). A row is claimed (`sending`) before it is sent so two
processes (the serve loop and `retry-spool`) never send it twice.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from supportbot.channels.email_bridge import store
from supportbot.db.engine import session_scope
from supportbot.mail import Mailer

log = logging.getLogger(__name__)


@dataclass
class SpoolRun:
    sent: int = 0
    failed: int = 0     # still pending, retried later
    gave_up: int = 0    # moved to failed


class Spool:
    def __init__(self, engine: Engine, mailer: Mailer, *, max_attempts: int = 20,
                 backoff: float = 30.0, backoff_cap: float = 3600.0, clock=store.utcnow):
        self.engine, self.mailer = engine, mailer
        self.max_attempts, self.backoff, self.backoff_cap = max_attempts, backoff, backoff_cap
        self.clock = clock

    def enqueue(self, session: Session, message: EmailMessage, *, kind: str, to_address: str,
                conversation_id: str | None, inbound_id: int | None) -> int:
        """Store a reply (inside the caller's transaction); send it with deliver() after commit."""
        return store.insert_outbound(session, message_id=str(message["Message-ID"]), raw=message.as_bytes(),
                                     to_address=to_address, kind=kind, conversation_id=conversation_id,
                                     inbound_id=inbound_id, now=self.clock())

    def deliver(self, outbound_id: int) -> str:
        """Try to send one spooled message now: 'sent', 'retry', 'failed' or 'skipped'."""
        with session_scope(self.engine) as session:
            row = store.claim_outbound(session, outbound_id)
            if row is None:
                return "skipped"
            raw, attempts = row["raw"], row["attempts"]
        try:
            message = BytesParser(policy=policy.default).parsebytes(raw)
            self.mailer.send(message)
        except Exception as exc:  # MailDeliveryError, or anything else: never lose the row
            give_up = attempts + 1 >= self.max_attempts
            next_at = self.clock() + store.backoff_delay(attempts + 1, self.backoff, self.backoff_cap)
            with session_scope(self.engine) as session:
                store.mark_failed_attempt(session, outbound_id, f"{exc.__class__.__name__}: {exc}",
                                          next_attempt_at=next_at, give_up=give_up)
            if give_up:
                log.error("email out=%d not delivered after %d attempts; kept as failed for a person",
                          outbound_id, attempts + 1)
                return "failed"
            log.warning("email out=%d relay failed (attempt %d: %s); retry at %s", outbound_id,
                        attempts + 1, exc.__class__.__name__, next_at.isoformat(timespec="seconds"))
            return "retry"
        with session_scope(self.engine) as session:
            store.mark_sent(session, outbound_id, self.clock())
        log.info("email out=%d sent attempt=%d", outbound_id, attempts + 1)
        return "sent"

    def retry_due(self, *, force: bool = False, include_failed: bool = False) -> SpoolRun:
        """One pass over the due (or, with force, all) pending messages."""
        run = SpoolRun()
        with session_scope(self.engine) as session:
            if include_failed:
                store.rearm_failed(session)
            ids = store.due_outbound_ids(session, self.clock(), force=force)
        for outbound_id in ids:
            result = self.deliver(outbound_id)
            if result == "sent":
                run.sent += 1
            elif result == "retry":
                run.failed += 1
                if not force:
                    break  # relay down: the rest would fail too; wait for the next pass
            elif result == "failed":
                run.gave_up += 1
        return run
