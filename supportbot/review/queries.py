"""Finding and reading conversations: the list (from the index only) and the transcript.

`ConversationFilter` is what the console's URL carries (`from_params` / `to_params`);
`list_conversations` reads `conversation_summaries` (+ facets, tags, full text) and never a
tracker; `transcript` reads one conversation's events a page of turns at a time and puts next
to each turn what the core recorded while it happened. Texts are masked (`pii.py`): card
numbers always, email addresses unless `reveal=True` (the caller audits the reveal,
`audit.record_reveal`).
"""
from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

from sqlalchemy import and_, exists, func, or_, select, text
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from supportbot.core.vocabulary import TEAMS
from supportbot.db.models import (
    Confirmation,
    ConversationVerification,
    HandoffTicket,
    Order,
    Refund,
    RefundRequest,
    VerificationAttempt,
    VerificationChallenge,
)
from supportbot.review import pii
from supportbot.review.errors import ConversationNotFound, InvalidInput
from supportbot.review.events import events, has_events_table, parse_data, to_datetime
from supportbot.review.models import (
    CHANNELS,
    FTS_TABLE,
    REFUND_OUTCOMES,
    REVIEW_STATUSES,
    conversation_summaries,
    intent_corrections,
    review_facets,
    review_notes,
    review_tags,
)

S = conversation_summaries.c

SORTS: dict[str, Any] = {
    "last_activity": S.last_activity,
    "first_activity": S.first_activity,
    "user_turns": S.user_turns,
    "lowest_confidence": S.lowest_confidence,
    "fallbacks": S.fallbacks,
    "channel": S.channel,
    "refund_outcome": S.refund_outcome,
    "review_status": S.review_status,
    "conversation_id": S.conversation_id,
}
MAX_PAGE_SIZE = 500
MAX_TEXT_QUERY = 200
_WORD = re.compile(r"\w+", re.UNICODE)
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


# --------------------------------------------------------------------------- the filter

@dataclass(frozen=True)
class ConversationFilter:
    """Combinable filters (all optional; None = no restriction). Dates are inclusive UTC days."""

    date_from: date | None = None
    date_to: date | None = None
    channel: str | None = None
    intent: str | None = None
    action: str | None = None
    confidence_min: float | None = None
    confidence_max: float | None = None
    had_fallback: bool | None = None
    handed_off: bool | None = None
    team: str | None = None
    reason: str | None = None
    refund: str | None = None
    verified: bool | None = None
    tag: str | None = None
    review_status: str | None = None
    text: str | None = None
    sort: str = "last_activity"
    descending: bool = True

    def __post_init__(self) -> None:
        if self.channel is not None and self.channel not in CHANNELS:
            raise InvalidInput("channel", f"one of {', '.join(CHANNELS)}")
        if self.refund is not None and self.refund not in REFUND_OUTCOMES:
            raise InvalidInput("refund", f"one of {', '.join(REFUND_OUTCOMES)}")
        if self.review_status is not None and self.review_status not in REVIEW_STATUSES:
            raise InvalidInput("review_status", f"one of {', '.join(REVIEW_STATUSES)}")
        if self.team is not None and self.team not in TEAMS:
            raise InvalidInput("team", f"one of {', '.join(TEAMS)}")
        if self.sort not in SORTS:
            raise InvalidInput("sort", f"one of {', '.join(SORTS)}")
        for name in ("confidence_min", "confidence_max"):
            value = getattr(self, name)
            if value is not None and not (0.0 <= value <= 1.0):
                raise InvalidInput(name, "a number from 0 to 1")
        if self.date_from and self.date_to and self.date_from > self.date_to:
            raise InvalidInput("date_to", "must not be before date_from")
        if self.text is not None and len(self.text) > MAX_TEXT_QUERY:
            raise InvalidInput("text", f"at most {MAX_TEXT_QUERY} characters")

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> ConversationFilter:
        """From URL query parameters (values: a string or a list of strings; the first counts;
        empty means "no filter"). Unknown keys (page, page_size, ...) are ignored; a bad value
        raises InvalidInput naming the parameter."""
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = params.get(f.name)
            if isinstance(raw, (list, tuple)):
                raw = raw[0] if raw else None
            if raw is None:
                continue
            raw = str(raw).strip()
            if raw == "":
                continue
            values[f.name] = _parse(f.name, raw)
        return cls(**values)

    def to_params(self) -> list[tuple[str, str]]:
        """The non-default fields as query parameters (the inverse of from_params)."""
        out: list[tuple[str, str]] = []
        defaults = ConversationFilter()
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None or value == getattr(defaults, f.name):
                continue
            if isinstance(value, bool):
                out.append((f.name, "true" if value else "false"))
            elif isinstance(value, date):
                out.append((f.name, value.isoformat()))
            else:
                out.append((f.name, str(value)))
        return out

    def describe(self) -> dict[str, str]:
        """The filter as the audit log records it."""
        return dict(self.to_params())

    def with_changes(self, **changes: Any) -> ConversationFilter:
        return replace(self, **changes)


_BOOL_FIELDS = {"had_fallback", "handed_off", "verified", "descending"}
_FLOAT_FIELDS = {"confidence_min", "confidence_max"}
_DATE_FIELDS = {"date_from", "date_to"}


def _parse(name: str, raw: str) -> Any:
    if name in _BOOL_FIELDS:
        low = raw.lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
        raise InvalidInput(name, "true or false")
    if name in _FLOAT_FIELDS:
        try:
            value = float(raw)
        except ValueError:
            raise InvalidInput(name, "a number from 0 to 1") from None
        if not math.isfinite(value):
            raise InvalidInput(name, "a number from 0 to 1")
        return value
    if name in _DATE_FIELDS:
        try:
            return date.fromisoformat(raw[:10])
        except ValueError:
            raise InvalidInput(name, "a date YYYY-MM-DD") from None
    if len(raw) > MAX_TEXT_QUERY:
        raise InvalidInput(name, f"at most {MAX_TEXT_QUERY} characters")
    return raw


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=timezone.utc)


def fts_condition(session: Session, query: str) -> ColumnElement | None:
    """`conversation_id IN (conversations whose text matches every word of query)`."""
    words = _WORD.findall(query.lower())[:20]
    if not words:
        return None
    if session.get_bind().dialect.name == "postgresql":
        sub = text(f"SELECT conversation_id FROM {FTS_TABLE} "
                   "WHERE document @@ plainto_tsquery('simple', :fts_query)")
        # the raw text: PostgreSQL's parser keeps an address like alice@example.com as one token
        return S.conversation_id.in_(sub.bindparams(fts_query=query.strip())
                                     .columns(conversation_id=S.conversation_id.type))
    match = " ".join('"' + w.replace('"', '""') + '"' for w in words)
    sub = text(f"SELECT conversation_id FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH :fts_query")
    return S.conversation_id.in_(sub.bindparams(fts_query=match)
                                 .columns(conversation_id=S.conversation_id.type))


def conditions(session: Session, flt: ConversationFilter) -> list[ColumnElement]:
    """The WHERE clauses of a filter on conversation_summaries (also used by the exports)."""
    where: list[ColumnElement] = []
    if flt.date_from:
        where.append(S.last_activity >= _day_start(flt.date_from))
    if flt.date_to:
        where.append(S.first_activity < _day_start(flt.date_to + timedelta(days=1)))
    if flt.channel:
        where.append(S.channel == flt.channel)
    for kind, value in (("intent", flt.intent), ("action", flt.action)):
        if value:
            where.append(exists().where(and_(
                review_facets.c.conversation_id == S.conversation_id,
                review_facets.c.kind == kind, review_facets.c.value == value)))
    if flt.confidence_min is not None:
        where.append(S.lowest_confidence >= flt.confidence_min)
    if flt.confidence_max is not None:
        where.append(S.lowest_confidence <= flt.confidence_max)
    if flt.had_fallback is not None:
        where.append(S.fallbacks > 0 if flt.had_fallback else S.fallbacks == 0)
    if flt.handed_off is not None:
        where.append(S.handoff_team.is_not(None) if flt.handed_off else S.handoff_team.is_(None))
    if flt.team:
        where.append(S.handoff_team == flt.team)
    if flt.reason:
        where.append(or_(S.handoff_reason == flt.reason, S.refund_reason_code == flt.reason))
    if flt.refund:
        where.append(S.refund_outcome == flt.refund)
    if flt.verified is not None:
        where.append(S.verified.is_(flt.verified))
    if flt.tag:
        where.append(exists().where(and_(review_tags.c.conversation_id == S.conversation_id,
                                         review_tags.c.tag == flt.tag.strip().lower())))
    if flt.review_status:
        where.append(S.review_status == flt.review_status)
    if flt.text:
        condition = fts_condition(session, flt.text)
        if condition is not None:
            where.append(condition)
    return where


def ordering(flt: ConversationFilter) -> list[Any]:
    column = SORTS[flt.sort]
    primary = column.desc() if flt.descending else column.asc()
    if column is S.lowest_confidence:
        primary = primary.nulls_last()
    tie = S.conversation_id.desc() if flt.descending else S.conversation_id.asc()
    return [primary] if column is S.conversation_id else [primary, tie]


# --------------------------------------------------------------------------- the list

@dataclass(frozen=True)
class ConversationRow:
    conversation_id: str
    channel: str
    first_activity: datetime
    last_activity: datetime
    user_turns: int
    first_message: str | None
    intents: tuple[str, ...]
    first_task_intent: str | None
    lowest_confidence: float | None
    fallbacks: int
    actions: tuple[str, ...]
    verified: bool
    verified_order_masked: str | None
    refund_outcome: str
    refund_reason_code: str | None
    refund_amount_minor: int | None
    refund_currency: str | None
    handoff_team: str | None
    handoff_reason: str | None
    review_status: str
    model_id: str | None
    tags: tuple[str, ...] = ()

    @property
    def had_fallback(self) -> bool:
        return self.fallbacks > 0

    @property
    def handed_off(self) -> bool:
        return self.handoff_team is not None


@dataclass(frozen=True)
class Page:
    items: tuple[ConversationRow, ...]
    total: int
    page: int
    page_size: int

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.page_size)) if self.page_size else 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    @property
    def has_previous(self) -> bool:
        return self.page > 1


LIST_COLUMNS = (S.conversation_id, S.channel, S.first_activity, S.last_activity, S.user_turns,
                S.first_message, S.intents, S.first_task_intent, S.lowest_confidence, S.fallbacks,
                S.actions, S.verified, S.verified_order_masked, S.refund_outcome,
                S.refund_reason_code, S.refund_amount_minor, S.refund_currency, S.handoff_team,
                S.handoff_reason, S.review_status, S.model_id)


def _row(mapping: Mapping[str, Any], tags: Iterable[str], *, reveal: bool = False) -> ConversationRow:
    return ConversationRow(
        conversation_id=mapping["conversation_id"], channel=mapping["channel"],
        first_activity=mapping["first_activity"], last_activity=mapping["last_activity"],
        user_turns=mapping["user_turns"],
        first_message=pii.mask_text(mapping["first_message"], reveal=reveal) or None,
        intents=tuple(mapping["intents"] or ()), first_task_intent=mapping["first_task_intent"],
        lowest_confidence=mapping["lowest_confidence"], fallbacks=mapping["fallbacks"],
        actions=tuple(mapping["actions"] or ()), verified=bool(mapping["verified"]),
        verified_order_masked=mapping["verified_order_masked"],
        refund_outcome=mapping["refund_outcome"], refund_reason_code=mapping["refund_reason_code"],
        refund_amount_minor=mapping["refund_amount_minor"],
        refund_currency=mapping["refund_currency"], handoff_team=mapping["handoff_team"],
        handoff_reason=mapping["handoff_reason"], review_status=mapping["review_status"],
        model_id=mapping["model_id"], tags=tuple(sorted(tags)))


def tags_of(session: Session, conversation_ids: Sequence[str]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {cid: [] for cid in conversation_ids}
    if not conversation_ids:
        return found
    rows = session.execute(select(review_tags.c.conversation_id, review_tags.c.tag)
                           .where(review_tags.c.conversation_id.in_(list(conversation_ids))))
    for cid, tag in rows:
        found.setdefault(cid, []).append(tag)
    return found


def list_conversations(session: Session, flt: ConversationFilter | None = None, page: int = 1,
                       page_size: int = 50) -> Page:
    """One page of the conversations matching `flt`, sorted as it says; never loads a tracker."""
    flt = flt or ConversationFilter()
    if page < 1:
        raise InvalidInput("page", "a whole number from 1")
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise InvalidInput("page_size", f"from 1 to {MAX_PAGE_SIZE}")
    where = conditions(session, flt)
    rows = session.execute(select(*LIST_COLUMNS).where(*where).order_by(*ordering(flt))
                           .limit(page_size).offset((page - 1) * page_size)).mappings().all()
    if 0 < len(rows) < page_size or (page == 1 and not rows):
        total = (page - 1) * page_size + len(rows)  # the last page: no count needed
    else:
        total = session.execute(select(func.count()).select_from(conversation_summaries)
                                .where(*where)).scalar_one()
    tags = tags_of(session, [r["conversation_id"] for r in rows])
    items = tuple(_row(r, tags.get(r["conversation_id"], ())) for r in rows)
    return Page(items=items, total=int(total), page=page, page_size=page_size)


def conversation(session: Session, conversation_id: str, *, reveal: bool = False) -> ConversationRow:
    row = session.execute(select(*LIST_COLUMNS).where(S.conversation_id == conversation_id)
                          ).mappings().first()
    if row is None:
        raise ConversationNotFound(conversation_id)
    return _row(row, tags_of(session, [conversation_id])[conversation_id], reveal=reveal)


def iter_conversation_ids(session: Session, flt: ConversationFilter, chunk: int = 1000
                          ) -> Iterable[list[str]]:
    """Every matching conversation id, in the filter's order, in chunks (keyset-free: offset)."""
    where = conditions(session, flt)
    offset = 0
    while True:
        ids = list(session.execute(select(S.conversation_id).where(*where)
                                   .order_by(*ordering(flt)).limit(chunk).offset(offset)).scalars())
        if not ids:
            return
        yield ids
        offset += len(ids)


# --------------------------------------------------------------------------- the transcript

@dataclass(frozen=True)
class BotReply:
    text: str
    buttons: tuple[tuple[str, str], ...] = ()  # (title, payload)


@dataclass(frozen=True)
class SideEffect:
    """What the core recorded: kind is verification_attempt, verified, code_sent,
    confirmation, refund_decision, refund_issued, refund_failed or ticket_created."""

    kind: str
    at: datetime
    details: Mapping[str, Any]


@dataclass(frozen=True)
class Turn:
    index: int  # 0: what happened before the first customer message
    event_id: int | None  # the user event's events.id (for intent corrections)
    at: datetime | None
    text: str | None  # masked
    intent: str | None
    confidence: float | None
    alternatives: tuple[tuple[str, float], ...]
    entities: tuple[Mapping[str, Any], ...]
    slots: tuple[tuple[str, Any], ...]
    actions: tuple[str, ...]
    bot_replies: tuple[BotReply, ...]
    side_effects: tuple[SideEffect, ...]
    corrected_intent: str | None = None
    channel: str | None = None


@dataclass(frozen=True)
class Note:
    id: int
    body: str
    created_by: str
    created_at: datetime


@dataclass(frozen=True)
class Transcript:
    conversation_id: str
    summary: ConversationRow | None
    turns: tuple[Turn, ...]
    page: int
    page_size: int
    total_turns: int
    notes: tuple[Note, ...] = ()
    revealed: bool = False
    side_effects_without_turn: tuple[SideEffect, ...] = field(default=())

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total_turns / self.page_size))


def _turn_bounds(session: Session, conversation_id: str) -> list[int]:
    """The events.id of every user message of the conversation, in order."""
    return list(session.execute(
        select(events.c.id).where(events.c.sender_id == conversation_id,
                                  events.c.type_name == "user").order_by(events.c.id)).scalars())


def transcript(session: Session, conversation_id: str, page: int = 1, page_size: int = 100, *,
               reveal: bool = False) -> Transcript:
    """A page of turns (a turn: one customer message and what followed it; turn 0 holds what
    came before the first message). Raises ConversationNotFound when neither the index nor
    the tracker store knows the conversation."""
    if page < 1:
        raise InvalidInput("page", "a whole number from 1")
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise InvalidInput("page_size", f"from 1 to {MAX_PAGE_SIZE}")
    try:
        summary: ConversationRow | None = conversation(session, conversation_id, reveal=reveal)
    except ConversationNotFound:
        summary = None
    connection = session.connection()
    if not has_events_table(connection):
        if summary is None:
            raise ConversationNotFound(conversation_id)
        return Transcript(conversation_id, summary, (), page, page_size, 0, revealed=reveal)
    bounds = _turn_bounds(session, conversation_id)
    has_prelude = session.execute(select(events.c.id).where(
        events.c.sender_id == conversation_id,
        *([events.c.id < bounds[0]] if bounds else [])).limit(1)).first() is not None
    if summary is None and not bounds and not has_prelude:
        raise ConversationNotFound(conversation_id)
    # turn k (k >= 1) starts at bounds[k-1]; turn 0 is the prelude (only when there is one)
    starts: list[int | None] = ([None] if has_prelude else []) + list(bounds)
    total = len(starts)
    chosen = starts[(page - 1) * page_size: page * page_size]
    turns: list[Turn] = []
    effects: list[SideEffect] = []
    if chosen:
        first_index = (page - 1) * page_size
        lo = chosen[0]
        after = starts[page * page_size] if page * page_size < total else None
        query = select(events.c.id, events.c.type_name, events.c.timestamp, events.c.data).where(
            events.c.sender_id == conversation_id)
        if lo is not None:
            query = query.where(events.c.id >= lo)
        if after is not None:
            query = query.where(events.c.id < after)
        rows = session.execute(query.order_by(events.c.id)).all()
        corrections = dict(session.execute(
            select(intent_corrections.c.event_id, intent_corrections.c.corrected_intent)
            .where(intent_corrections.c.conversation_id == conversation_id)).all())
        turns = _build_turns(rows, first_index, 0 if has_prelude else 1, corrections, reveal)
        effects = side_effects(session, conversation_id, reveal=reveal)
        until = None
        if after is not None:
            until = to_datetime(session.execute(select(events.c.timestamp)
                                                .where(events.c.id == after)).scalar_one_or_none())
        turns = _attach(turns, effects, first_page=page == 1, until=until)
    notes = tuple(Note(r.id, r.body, r.created_by, r.created_at) for r in session.execute(
        select(review_notes).where(review_notes.c.conversation_id == conversation_id)
        .order_by(review_notes.c.id)))
    return Transcript(conversation_id, summary, tuple(turns), page, page_size, total, notes,
                      revealed=reveal)


def _build_turns(rows: Sequence[Any], first_index: int, base: int, corrections: Mapping[int, str],
                 reveal: bool) -> list[Turn]:
    turns: list[dict[str, Any]] = []
    current: dict[str, Any] | None = None
    for event_id, type_name, timestamp, data in rows:
        event = parse_data(data)
        if type_name == "user" or current is None:
            current = {"index": 0, "event_id": None,
                       "at": to_datetime(timestamp), "text": None, "intent": None,
                       "confidence": None, "alternatives": (), "entities": (), "slots": [],
                       "actions": [], "bot_replies": [], "side_effects": (),
                       "corrected_intent": None, "channel": None}
            turns.append(current)
            if type_name == "user":
                _fill_user(current, event_id, event, corrections, reveal)
                continue
        if type_name == "action":
            name = event.get("name")
            if isinstance(name, str) and name != "action_listen":
                current["actions"].append(name)
        elif type_name == "bot":
            said = event.get("text")
            buttons = ()
            raw_buttons = (event.get("data") or {}).get("buttons") if isinstance(
                event.get("data"), dict) else None
            if isinstance(raw_buttons, list):
                buttons = tuple((pii.mask_text(str(b.get("title", "")), reveal=reveal),
                                 pii.mask_text(str(b.get("payload", "")), reveal=reveal))
                                for b in raw_buttons if isinstance(b, dict))
            if isinstance(said, str) and said or buttons:
                current["bot_replies"].append(BotReply(pii.mask_text(said or "", reveal=reveal),
                                                       buttons))
        elif type_name == "slot":
            name = event.get("name")
            if isinstance(name, str):
                value = pii.mask_slot(name, event.get("value"), reveal=reveal)
                current["slots"].append((name, value))
    out = []
    for i, t in enumerate(turns):
        t["index"] = first_index + i + base
        t["slots"] = tuple(t["slots"])
        t["actions"] = tuple(t["actions"])
        t["bot_replies"] = tuple(t["bot_replies"])
        out.append(Turn(**t))
    return out


def _fill_user(turn: dict[str, Any], event_id: int, event: Mapping[str, Any],
               corrections: Mapping[int, str], reveal: bool) -> None:
    parse = event.get("parse_data") if isinstance(event.get("parse_data"), dict) else {}
    said = event.get("text")
    entities = parse.get("entities") if isinstance(parse.get("entities"), list) else []
    if isinstance(said, str):
        said = pii.mask_text(pii.blank_spans(said, entities), reveal=reveal)
    intent = parse.get("intent") if isinstance(parse.get("intent"), dict) else {}
    ranking = parse.get("intent_ranking") if isinstance(parse.get("intent_ranking"), list) else []
    alternatives = tuple(
        (str(r.get("name")), float(r.get("confidence") or 0.0)) for r in ranking
        if isinstance(r, dict) and r.get("name") != intent.get("name"))[:4]
    shown_entities = []
    for entity in entities:
        if not isinstance(entity, dict):
            continue
        secret = entity.get("entity") in pii.SECRET_ENTITIES
        shown_entities.append({
            "entity": entity.get("entity"),
            "value": pii.CODE_MASK if secret else pii.mask_value(entity.get("value"), reveal=reveal),
            "extractor": entity.get("extractor"),
        })
    metadata = event.get("metadata") if isinstance(event.get("metadata"), dict) else {}
    confidence = intent.get("confidence")
    turn.update(
        event_id=int(event_id), text=said if isinstance(said, str) else None,
        intent=intent.get("name") if isinstance(intent.get("name"), str) else None,
        confidence=float(confidence) if isinstance(confidence, (int, float)) else None,
        alternatives=alternatives, entities=tuple(shown_entities),
        corrected_intent=corrections.get(int(event_id)),
        channel=metadata.get("channel") or event.get("input_channel"),
    )


def _attach(turns: list[Turn], effects: list[SideEffect], *, first_page: bool,
            until: datetime | None) -> list[Turn]:
    """Each side effect goes to the last turn that started at or before it; effects before this
    page's first turn or from `until` (the next page's first turn) on belong to other pages."""
    if not turns:
        return turns
    buckets: list[list[SideEffect]] = [[] for _ in turns]
    for effect in effects:
        if until is not None and effect.at >= until:
            continue
        chosen = None
        for i, turn in enumerate(turns):
            if turn.at is not None and turn.at <= effect.at:
                chosen = i
        if chosen is None:
            if not first_page:
                continue
            chosen = 0
        buckets[chosen].append(effect)
    return [replace(t, side_effects=tuple(b)) for t, b in zip(turns, buckets, strict=True)]


def side_effects(session: Session, conversation_id: str, *, reveal: bool = False) -> list[SideEffect]:
    """What the core recorded for this conversation, oldest first. Never a one-time code (only
    that one was sent, its purpose and status), never a full card number or (unless revealed)
    an email address."""
    found: list[SideEffect] = []
    for a in session.execute(select(VerificationAttempt).where(
            VerificationAttempt.conversation_id == conversation_id)).scalars():
        found.append(SideEffect("verification_attempt", a.created_at, {"succeeded": a.succeeded}))
    for v, reference in session.execute(
            select(ConversationVerification, Order.reference).join(
                Order, Order.id == ConversationVerification.order_id)
            .where(ConversationVerification.conversation_id == conversation_id)).all():
        found.append(SideEffect("verified", v.verified_at, {
            "order": reference if reveal else pii.mask_reference(reference), "method": v.method}))
    for c in session.execute(select(VerificationChallenge).where(
            VerificationChallenge.conversation_id == conversation_id)).scalars():
        found.append(SideEffect("code_sent", c.created_at, {
            "purpose": c.purpose, "status": c.status, "attempts": c.attempts,
            "expires_at": c.expires_at.isoformat() if c.expires_at else None}))
    for c in session.execute(select(Confirmation).where(
            Confirmation.conversation_id == conversation_id)).scalars():
        terms = c.terms if isinstance(c.terms, dict) else {}
        found.append(SideEffect("confirmation", c.created_at, {
            "purpose": c.purpose, "status": c.status,
            "terms": pii.mask_value(terms, reveal=reveal)}))
    for r, refund in session.execute(
            select(RefundRequest, Refund).outerjoin(Refund, Refund.id == RefundRequest.refund_id)
            .where(RefundRequest.conversation_id == conversation_id)
            .order_by(RefundRequest.id)).all():
        decision = r.decision if isinstance(r.decision, dict) else {}
        found.append(SideEffect("refund_decision", r.created_at, {
            "automatic": r.automatic, "outcome": r.outcome, "team": r.team, "reason": r.reason,
            "reason_codes": list(decision.get("reasons") or ()),
            "explanation": pii.mask_text(str(decision.get("explanation") or ""), reveal=reveal),
            "handoff_reason": decision.get("handoff_reason"), "ticket_id": r.ticket_id}))
        if refund is not None:
            kind = "refund_failed" if refund.status == "failed" else "refund_issued"
            found.append(SideEffect(kind, refund.refunded_at or refund.requested_at, {
                "ledger_id": refund.id, "amount_minor": refund.amount_minor,
                "currency": refund.currency, "provider_status": refund.status,
                "provider_reference": refund.provider_reference, "method": refund.method,
                "card_brand": refund.card_brand, "card_last4": refund.card_last4}))
    for t in session.execute(select(HandoffTicket).where(
            HandoffTicket.conversation_id == conversation_id)).scalars():
        found.append(SideEffect("ticket_created", t.created_at, {
            "ticket_id": t.id, "team": t.team, "reason": t.reason_code, "status": t.status,
            "delivery_status": t.delivery_status, "claimed_by": t.claimed_by}))
    found.sort(key=lambda e: (e.at, e.kind))
    return found
