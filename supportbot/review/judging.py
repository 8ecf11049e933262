"""Judging a conversation: review status, tags, notes, intent corrections.

Each function works in the caller's session (one unit of work), checks its input (InvalidInput
names the field), requires the conversation to be indexed (ConversationNotFound) and writes an
audit-log entry with the actor (the console user's email).
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import yaml
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from supportbot.core.timeutil import utcnow
from supportbot.review import audit, pii
from supportbot.review.errors import ConversationNotFound, InvalidInput
from supportbot.review.events import events, parse_data
from supportbot.review.models import (
    REVIEW_STATUSES,
    conversation_summaries,
    intent_corrections,
    review_notes,
    review_tags,
)
from supportbot.settings import PROJECT_ROOT

TAG_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_.:-]{0,63}$")
MAX_NOTE_CHARS = 10_000


def normalize_tag(tag: str) -> str:
    """`  Refund Declined ` -> `refund-declined`; InvalidInput when nothing usable is left."""
    value = re.sub(r"\s+", "-", (tag or "").strip().lower())
    if not TAG_PATTERN.match(value):
        raise InvalidInput("tag", "1-64 characters: letters, digits, - _ . : (starting with a letter "
                                  "or digit)")
    return value


@functools.lru_cache(maxsize=4)
def known_intents(domain_path: Path = PROJECT_ROOT / "domain.yml") -> frozenset[str]:
    """The intents of the assistant's domain (corrections must name one of them)."""
    data = yaml.safe_load(domain_path.read_text(encoding="utf-8")) or {}
    names = set()
    for item in data.get("intents") or ():
        names.add(next(iter(item)) if isinstance(item, dict) else str(item))
    return frozenset(names)


def _require(session: Session, conversation_id: str) -> None:
    found = session.execute(select(conversation_summaries.c.conversation_id).where(
        conversation_summaries.c.conversation_id == conversation_id)).first()
    if found is None:
        raise ConversationNotFound(conversation_id)


def set_review_status(session: Session, conversation_id: str, status: str, actor: str) -> None:
    if status not in REVIEW_STATUSES:
        raise InvalidInput("review_status", f"one of {', '.join(REVIEW_STATUSES)}")
    _require(session, conversation_id)
    session.execute(update(conversation_summaries)
                    .where(conversation_summaries.c.conversation_id == conversation_id)
                    .values(review_status=status))
    audit.record(session, "status", actor, conversation_id=conversation_id, status=status)


def add_tag(session: Session, conversation_id: str, tag: str, actor: str) -> str:
    """Adds a manual tag (a tag the rules set becomes manual: the rules no longer remove it)."""
    tag = normalize_tag(tag)
    _require(session, conversation_id)
    t = review_tags.c
    existing = session.execute(select(t.source).where(t.conversation_id == conversation_id,
                                                      t.tag == tag)).scalar_one_or_none()
    if existing == "manual":
        return tag
    if existing is not None:
        session.execute(update(review_tags).where(t.conversation_id == conversation_id, t.tag == tag)
                        .values(source="manual", created_by=actor, created_at=utcnow()))
    else:
        session.execute(review_tags.insert().values(conversation_id=conversation_id, tag=tag,
                                                    source="manual", created_by=actor,
                                                    created_at=utcnow()))
    audit.record(session, "tag_added", actor, conversation_id=conversation_id, tag=tag)
    return tag


def remove_tag(session: Session, conversation_id: str, tag: str, actor: str) -> bool:
    tag = normalize_tag(tag)
    _require(session, conversation_id)
    t = review_tags.c
    removed = session.execute(delete(review_tags).where(t.conversation_id == conversation_id,
                                                        t.tag == tag)).rowcount
    if removed:
        audit.record(session, "tag_removed", actor, conversation_id=conversation_id, tag=tag)
    return bool(removed)


def add_note(session: Session, conversation_id: str, body: str, actor: str) -> int:
    body = (body or "").strip()
    if not body:
        raise InvalidInput("note", "must not be empty")
    if len(body) > MAX_NOTE_CHARS:
        raise InvalidInput("note", f"at most {MAX_NOTE_CHARS} characters")
    _require(session, conversation_id)
    # a note is shown to every reviewer: no card number in it, whatever was pasted
    result = session.execute(review_notes.insert().values(
        conversation_id=conversation_id, body=pii.mask_text(body, reveal=True), created_by=actor,
        created_at=utcnow()))
    audit.record(session, "note_added", actor, conversation_id=conversation_id)
    return int(result.inserted_primary_key[0])


@dataclass(frozen=True)
class Correction:
    id: int
    conversation_id: str
    event_id: int
    text_masked: str
    original_intent: str | None
    corrected_intent: str
    created_by: str
    created_at: datetime


def correct_intent(session: Session, conversation_id: str, event_id: int, corrected_intent: str,
                   actor: str) -> Correction:
    """Records that the customer message `event_id` (a user event of this conversation) meant
    `corrected_intent`; a second correction of the same message replaces the first."""
    corrected_intent = (corrected_intent or "").strip()
    if corrected_intent not in known_intents():
        raise InvalidInput("intent", f"not an intent of the domain: {corrected_intent!r}")
    _require(session, conversation_id)
    row = session.execute(select(events.c.data, events.c.intent_name).where(
        events.c.id == int(event_id), events.c.sender_id == conversation_id,
        events.c.type_name == "user")).first()
    if row is None:
        raise InvalidInput("event_id", "not a customer message of this conversation")
    event = parse_data(row.data)
    parse = event.get("parse_data") if isinstance(event.get("parse_data"), dict) else {}
    said = event.get("text") if isinstance(event.get("text"), str) else ""
    # stored masked (cards and emails; codes blanked): the export scrubs further
    text_masked = pii.mask_text(pii.blank_spans(said, parse.get("entities")), reveal=False)
    c = intent_corrections.c
    now = utcnow()
    session.execute(delete(intent_corrections).where(c.event_id == int(event_id)))
    result = session.execute(intent_corrections.insert().values(
        conversation_id=conversation_id, event_id=int(event_id), text_masked=text_masked,
        original_intent=row.intent_name, corrected_intent=corrected_intent, created_by=actor,
        created_at=now))
    audit.record(session, "intent_corrected", actor, conversation_id=conversation_id,
                 event_id=int(event_id), original_intent=row.intent_name,
                 corrected_intent=corrected_intent)
    return Correction(int(result.inserted_primary_key[0]), conversation_id, int(event_id),
                      text_masked, row.intent_name, corrected_intent, actor, now)


def corrections(session: Session, conversation_ids: list[str] | None = None) -> list[Correction]:
    """Every correction (of these conversations), oldest first."""
    c = intent_corrections.c
    if conversation_ids is None:
        chunks: list[list[str] | None] = [None]
    else:
        ids = list(conversation_ids)
        chunks = [ids[i:i + 500] for i in range(0, len(ids), 500)]
    rows = []
    for chunk in chunks:
        query = select(intent_corrections)
        if chunk is not None:
            query = query.where(c.conversation_id.in_(chunk))
        rows.extend(session.execute(query))
    rows.sort(key=lambda r: r.id)
    return [Correction(r.id, r.conversation_id, r.event_id, r.text_masked, r.original_intent,
                       r.corrected_intent, r.created_by, r.created_at) for r in rows]
