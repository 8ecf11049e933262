"""Tables of the email bridge (own MetaData) and the few queries the bridge runs.

  email_conversations  one row per email conversation (`email-<random>` = Rasa sender id, never shown):
                       customer address, thread subject, last activity, last offered buttons
  email_thread_ids     every Message-ID of a conversation (inbound and our replies) -> the
                       conversation; In-Reply-To/References join only through OUR replies'
                       ids (direction "out", random secrets)
  email_inbound        every inbound message, stored (card numbers masked) BEFORE processing;
                       unique Message-ID = a redelivered message is processed once;
                       status received -> processing -> replied | ignored | held; a mail
                       Rasa could not take goes back to received (reason rasa_retry) and is
                       tried again after a back-off (processed_at + backoff_delay(attempts))
  email_outbound       the reply spool: every reply is stored before it is sent and retried
                       with backoff while the relay is down; status pending -> sending -> sent
                       (or failed after the last attempt)

The Alembic migration is supportbot/db/migrations/versions/0002_email_bridge.py (same definitions). `create_schema()`
(metadata.create_all) is the fallback for tests and for a database that was not migrated yet.
"""
from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta

from sqlalchemy import (
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    and_,
    func,
    select,
    update,
)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from supportbot.core.timeutil import utcnow
from supportbot.db.models import NAMING_CONVENTION, UTCDateTime

log = logging.getLogger(__name__)

metadata = MetaData(naming_convention=NAMING_CONVENTION)

# statuses
RECEIVED, PROCESSING, REPLIED, IGNORED, HELD = "received", "processing", "replied", "ignored", "held"
PENDING, SENDING, SENT, FAILED = "pending", "sending", "sent", "failed"
RASA_RETRY = "rasa_retry"  # status_reason of a received message waiting for Rasa


conversations = Table(
    "email_conversations", metadata,
    Column("id", String(64), primary_key=True),  # email-<192 random bits>, the Rasa sender id
    Column("customer_address", String(320), nullable=False),
    Column("subject", String(998), nullable=False, default=""),
    Column("offered_buttons", Text, nullable=True),  # JSON [{"title", "payload"}] of the last reply
    Column("turns", Integer, nullable=False, default=0),
    Column("created_at", UTCDateTime, nullable=False),
    Column("last_activity_at", UTCDateTime, nullable=False),
    Index("ix_email_conversations_customer_activity", "customer_address", "last_activity_at"),
)

thread_ids = Table(
    "email_thread_ids", metadata,
    Column("message_id", String(998), primary_key=True),
    Column("conversation_id", String(64), ForeignKey("email_conversations.id", ondelete="CASCADE"),
           nullable=False, index=True),
    Column("direction", String(3), nullable=False),  # in | out
    Column("created_at", UTCDateTime, nullable=False),
)

inbound = Table(
    "email_inbound", metadata,
    Column("id", Integer, primary_key=True),
    Column("message_id", String(998), nullable=False, unique=True),
    Column("conversation_id", String(64), ForeignKey("email_conversations.id", ondelete="SET NULL"),
           nullable=True, index=True),
    Column("envelope_from", String(320), nullable=True),
    Column("from_address", String(320), nullable=True, index=True),
    Column("subject", String(998), nullable=True),  # decoded, card numbers masked
    Column("raw", LargeBinary, nullable=False),       # the message, card numbers masked
    Column("size_bytes", Integer, nullable=False),
    Column("status", String(16), nullable=False, index=True),
    Column("status_reason", String(64), nullable=True),
    Column("attempts", Integer, nullable=False, default=0),
    Column("turn_text", Text, nullable=True),  # what was sent to Rasa (masked, capped)
    Column("received_at", UTCDateTime, nullable=False, index=True),
    Column("processed_at", UTCDateTime, nullable=True),
)

outbound = Table(
    "email_outbound", metadata,
    Column("id", Integer, primary_key=True),
    Column("message_id", String(998), nullable=False, unique=True),
    Column("conversation_id", String(64), ForeignKey("email_conversations.id", ondelete="SET NULL"),
           nullable=True, index=True),
    Column("inbound_id", Integer, ForeignKey("email_inbound.id", ondelete="SET NULL"),
           nullable=True, index=True),
    Column("kind", String(16), nullable=False),  # reply | case_ack | held_ack
    Column("to_address", String(320), nullable=False),
    Column("raw", LargeBinary, nullable=False),  # the complete message as sent
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", UTCDateTime, nullable=False),
    Column("last_error", String(500), nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("sent_at", UTCDateTime, nullable=True),
    Index("ix_email_outbound_status_next_attempt_at", "status", "next_attempt_at"),
)

TABLES = (conversations, thread_ids, inbound, outbound)


def create_schema(engine: Engine) -> None:
    """metadata.create_all, for tests (the application uses the Alembic revision email_bridge_0001)."""
    metadata.create_all(engine, checkfirst=True)


# --------------------------------------------------------------------------- inbound

def insert_inbound(session: Session, *, message_id: str, raw: bytes, envelope_from: str | None,
                   from_address: str | None, subject: str | None, now: datetime | None = None) -> int:
    result = session.execute(inbound.insert().values(
        message_id=message_id, raw=raw, size_bytes=len(raw), envelope_from=(envelope_from or "")[:320],
        from_address=(from_address or None) and from_address[:320], subject=(subject or "")[:998],
        status=RECEIVED, attempts=0, received_at=now or utcnow(),
    ))
    return int(result.inserted_primary_key[0])


def inbound_exists(session: Session, message_id: str) -> bool:
    return session.execute(select(inbound.c.id).where(inbound.c.message_id == message_id)).first() is not None


def get_inbound(session: Session, inbound_id: int):
    return session.execute(select(inbound).where(inbound.c.id == inbound_id)).mappings().first()


def pending_inbound_ids(session: Session, limit: int = 100) -> list[int]:
    return [r["id"] for r in pending_inbound(session, limit)]


def pending_inbound(session: Session, limit: int = 100):
    """Received (or waiting for Rasa) messages, oldest first, with what the retry schedule needs."""
    return session.execute(select(inbound.c.id, inbound.c.from_address, inbound.c.status_reason,
                                  inbound.c.attempts, inbound.c.processed_at, inbound.c.received_at)
                           .where(inbound.c.status == RECEIVED)
                           .order_by(inbound.c.id).limit(limit)).mappings().all()


def defer_inbound(session: Session, inbound_id: int, *, conversation_id: str | None, turn_text: str | None,
                  now: datetime | None = None) -> None:
    """Rasa could not take the turn (not reached at all): back to `received`, tried again later."""
    values: dict = {"status": RECEIVED, "status_reason": RASA_RETRY, "processed_at": now or utcnow()}
    if conversation_id is not None:
        values["conversation_id"] = conversation_id
    if turn_text is not None:
        values["turn_text"] = turn_text
    session.execute(update(inbound).where(inbound.c.id == inbound_id).values(**values))


def release_inbound(session: Session, inbound_id: int, *, hold: bool) -> None:
    """A message whose processing failed on an internal error (e.g. the database went away):
    back to `received` when nothing reached Rasa yet, else `held` for a person."""
    values = ({"status": HELD, "status_reason": "interrupted", "processed_at": utcnow()} if hold
              else {"status": RECEIVED})
    session.execute(update(inbound).where(and_(inbound.c.id == inbound_id, inbound.c.status == PROCESSING))
                    .values(**values))


def claim_inbound(session: Session, inbound_id: int) -> bool:
    """received -> processing, atomically (only one worker processes a message)."""
    result = session.execute(update(inbound).where(and_(inbound.c.id == inbound_id, inbound.c.status == RECEIVED))
                             .values(status=PROCESSING, attempts=inbound.c.attempts + 1))
    return result.rowcount == 1


def finish_inbound(session: Session, inbound_id: int, status: str, reason: str | None = None, *,
                   conversation_id: str | None = None, turn_text: str | None = None,
                   now: datetime | None = None) -> None:
    values = {"status": status, "status_reason": reason, "processed_at": now or utcnow()}
    if conversation_id is not None:
        values["conversation_id"] = conversation_id
    if turn_text is not None:
        values["turn_text"] = turn_text
    session.execute(update(inbound).where(inbound.c.id == inbound_id).values(**values))


def recover_interrupted(session: Session, max_attempts: int = 2) -> tuple[int, int]:
    """After a crash: 'processing' rows go back to 'received' (or 'held' after max_attempts; a
    message that was waiting for Rasa gets one more try, then counts as interrupted)."""
    requeued = session.execute(update(inbound).where(and_(inbound.c.status == PROCESSING,
                                                          inbound.c.attempts < max_attempts))
                               .values(status=RECEIVED)).rowcount
    requeued += session.execute(update(inbound).where(and_(inbound.c.status == PROCESSING,
                                                           inbound.c.status_reason == RASA_RETRY))
                                .values(status=RECEIVED, status_reason="interrupted")).rowcount
    held = session.execute(update(inbound).where(inbound.c.status == PROCESSING)
                           .values(status=HELD, status_reason="interrupted", processed_at=utcnow())).rowcount
    session.execute(update(outbound).where(outbound.c.status == SENDING).values(status=PENDING))
    return requeued, held


def recent_count_from(session: Session, address: str, since: datetime) -> int:
    return session.execute(select(func.count()).select_from(inbound).where(and_(
        inbound.c.from_address == address, inbound.c.received_at >= since,
        inbound.c.status.in_([REPLIED, HELD, PROCESSING])))).scalar_one()


def held_inbound(session: Session, limit: int = 50):
    return session.execute(select(inbound.c.id, inbound.c.received_at, inbound.c.from_address,
                                  inbound.c.subject, inbound.c.status_reason, inbound.c.conversation_id,
                                  inbound.c.turn_text)
                           .where(inbound.c.status == HELD).order_by(inbound.c.id.desc()).limit(limit)).mappings().all()


def requeue_inbound(session: Session, inbound_id: int) -> bool:
    result = session.execute(update(inbound).where(and_(inbound.c.id == inbound_id, inbound.c.status == HELD))
                             .values(status=RECEIVED, status_reason=None, attempts=0))
    return result.rowcount == 1


# --------------------------------------------------------------------------- conversations & threads

def conversation_for_sent_ids(session: Session, message_ids: list[str]):
    """The conversations of these Message-IDs among the ones WE sent (direction "out"), in the
    order of the ids, each with `sent_to`: the address that message went to."""
    if not message_ids:
        return []
    rows = session.execute(select(thread_ids.c.message_id, outbound.c.to_address.label("sent_to"), conversations)
                           .join(conversations, conversations.c.id == thread_ids.c.conversation_id)
                           .outerjoin(outbound, outbound.c.message_id == thread_ids.c.message_id)
                           .where(and_(thread_ids.c.message_id.in_(message_ids), thread_ids.c.direction == "out"))
                           ).mappings().all()
    by_id = {r["message_id"]: r for r in rows}
    return [by_id[m] for m in message_ids if m in by_id]


def get_conversation(session: Session, conversation_id: str):
    return session.execute(select(conversations).where(conversations.c.id == conversation_id)).mappings().first()


def create_conversation(session: Session, conversation_id: str, address: str, subject: str,
                        now: datetime | None = None) -> None:
    now = now or utcnow()
    session.execute(conversations.insert().values(
        id=conversation_id, customer_address=address, subject=(subject or "")[:998], turns=0,
        created_at=now, last_activity_at=now))


def touch_conversation(session: Session, conversation_id: str, *, buttons: list[dict] | None | bool = False,
                       turn: bool = False, now: datetime | None = None) -> None:
    """Update last activity; `buttons=None` clears the offered buttons, a list replaces them."""
    values: dict = {"last_activity_at": now or utcnow()}
    if buttons is not False:
        values["offered_buttons"] = json.dumps(buttons) if buttons else None
    if turn:
        values["turns"] = conversations.c.turns + 1
    session.execute(update(conversations).where(conversations.c.id == conversation_id).values(**values))


def offered_buttons(row) -> list[dict]:
    raw = row["offered_buttons"] if row is not None else None
    if not raw:
        return []
    try:
        data = json.loads(raw)
    except ValueError:
        return []
    return [b for b in data if isinstance(b, dict) and b.get("title")]


def record_thread_id(session: Session, message_id: str, conversation_id: str, direction: str,
                     now: datetime | None = None) -> None:
    exists = session.execute(select(thread_ids.c.message_id).where(thread_ids.c.message_id == message_id)).first()
    if exists is None:
        session.execute(thread_ids.insert().values(message_id=message_id, conversation_id=conversation_id,
                                                   direction=direction, created_at=now or utcnow()))


# --------------------------------------------------------------------------- outbound spool

def insert_outbound(session: Session, *, message_id: str, raw: bytes, to_address: str, kind: str,
                    conversation_id: str | None, inbound_id: int | None, now: datetime | None = None) -> int:
    now = now or utcnow()
    result = session.execute(outbound.insert().values(
        message_id=message_id, raw=raw, to_address=to_address[:320], kind=kind,
        conversation_id=conversation_id, inbound_id=inbound_id, status=PENDING, attempts=0,
        next_attempt_at=now, created_at=now))
    return int(result.inserted_primary_key[0])


def due_outbound_ids(session: Session, now: datetime, *, force: bool = False, limit: int = 100) -> list[int]:
    query = select(outbound.c.id).where(outbound.c.status == PENDING)
    if not force:
        query = query.where(outbound.c.next_attempt_at <= now)
    return [r[0] for r in session.execute(query.order_by(outbound.c.id).limit(limit))]


def claim_outbound(session: Session, outbound_id: int):
    result = session.execute(update(outbound).where(and_(outbound.c.id == outbound_id, outbound.c.status == PENDING))
                             .values(status=SENDING))
    if result.rowcount != 1:
        return None
    return session.execute(select(outbound).where(outbound.c.id == outbound_id)).mappings().first()


def mark_sent(session: Session, outbound_id: int, now: datetime | None = None) -> None:
    session.execute(update(outbound).where(outbound.c.id == outbound_id).values(
        status=SENT, sent_at=now or utcnow(), attempts=outbound.c.attempts + 1, last_error=None))


def mark_failed_attempt(session: Session, outbound_id: int, error: str, *, next_attempt_at: datetime,
                        give_up: bool) -> None:
    session.execute(update(outbound).where(outbound.c.id == outbound_id).values(
        status=FAILED if give_up else PENDING, attempts=outbound.c.attempts + 1,
        next_attempt_at=next_attempt_at, last_error=error[:500]))


def rearm_failed(session: Session) -> int:
    return session.execute(update(outbound).where(outbound.c.status == FAILED)
                           .values(status=PENDING, next_attempt_at=utcnow())).rowcount


def failed_outbound(session: Session, limit: int = 50):
    return session.execute(select(outbound.c.id, outbound.c.created_at, outbound.c.to_address, outbound.c.kind,
                                  outbound.c.attempts, outbound.c.last_error, outbound.c.conversation_id)
                           .where(outbound.c.status == FAILED).order_by(outbound.c.id.desc())
                           .limit(limit)).mappings().all()


def spool_counts(session: Session) -> dict[str, int]:
    rows = session.execute(select(outbound.c.status, func.count()).group_by(outbound.c.status))
    return {status: count for status, count in rows}


def backoff_delay(attempts: int, base: float, cap: float) -> timedelta:
    return timedelta(seconds=min(cap, base * (2 ** max(0, attempts - 1))))
