"""Erasing a conversation on request: the tracker events, the review index, the email copies.

What goes, in one transaction: Rasa's `events` rows of the conversation; its summary, facets,
tags, notes, intent corrections and full-text rows; the email bridge's copies (the conversation,
its thread ids, every inbound and outbound message of it); the transcript copied into its
handoff tickets (the ticket stays, for the team's record, with its summary replaced).
What stays: the core's money and verification records (refund requests, refunds, attempts),
which hold no message text, and the audit log, which records THAT an erasure happened, by whom
and when, with row counts, never what was erased.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

from sqlalchemy import delete, inspect, null, or_, text, update
from sqlalchemy.orm import Session

from supportbot.db.models import HandoffTicket
from supportbot.review import audit
from supportbot.review.events import events, has_events_table
from supportbot.review.models import (
    FTS_TABLE,
    conversation_summaries,
    intent_corrections,
    review_facets,
    review_notes,
    review_tags,
)

ERASED_SUMMARY = "(conversation erased on request)"


@dataclass(frozen=True)
class Erasure:
    conversation_id: str
    events: int
    index_rows: int
    email_rows: int
    tickets: int

    @property
    def anything(self) -> bool:
        return bool(self.events or self.index_rows or self.email_rows or self.tickets)


def erase_conversation(session: Session, conversation_id: str, actor: str) -> Erasure:
    connection = session.connection()
    n_events = 0
    if has_events_table(connection):
        n_events = session.execute(delete(events).where(events.c.sender_id == conversation_id)).rowcount
    index_rows = 0
    for table in (conversation_summaries, review_facets, review_tags, review_notes, intent_corrections):
        index_rows += session.execute(delete(table).where(
            table.c.conversation_id == conversation_id)).rowcount
    if inspect(connection).has_table(FTS_TABLE):
        index_rows += session.execute(text(f"DELETE FROM {FTS_TABLE} WHERE conversation_id = :cid"),
                                      {"cid": conversation_id}).rowcount
    email_rows = _erase_email(session, conversation_id)
    tickets = session.execute(update(HandoffTicket).where(
        HandoffTicket.conversation_id == conversation_id,
        or_(HandoffTicket.summary != ERASED_SUMMARY, HandoffTicket.transcript.is_not(None))).values(
        transcript=null(), summary=ERASED_SUMMARY)).rowcount
    result = Erasure(conversation_id, n_events, index_rows, email_rows, tickets)
    counts = {k: v for k, v in asdict(result).items() if k != "conversation_id"}
    audit.record(session, "erased", actor, conversation_id=conversation_id, **counts)
    return result


def _erase_email(session: Session, conversation_id: str) -> int:
    try:
        from supportbot.channels.email_bridge import store
    except ImportError:  # the bridge is not installed
        return 0
    connection = session.connection()
    if not inspect(connection).has_table(store.conversations.name):
        return 0
    removed = 0
    for table in (store.outbound, store.inbound, store.thread_ids):
        removed += session.execute(delete(table).where(
            table.c.conversation_id == conversation_id)).rowcount
    removed += session.execute(delete(store.conversations).where(
        store.conversations.c.id == conversation_id)).rowcount
    return removed
