"""The incremental review index: Rasa's `events` rows + the core's tables -> conversation_summaries.

`Indexer(engine).run_once()` reads the events after the watermark (`review_index_state`) in
id order, a batch at a time, and per batch, in ONE transaction: folds the new events into the
summaries of the conversations they belong to, re-reads what the core recorded for those
conversations (verification, refunds, tickets), appends their text to the full-text index,
re-applies the automatic tag rules and moves the watermark. A crash (or a failure) mid-batch
rolls all of it back, so the next run resumes from the last committed batch: the index is never
half-advanced, and no event is counted twice.

- Concurrent indexers (the console's background loop and `supportbot review reindex`) are
  serialised by the first statement of every batch, an UPDATE of the state row (a row lock on
  PostgreSQL, the write lock on SQLite).
- PostgreSQL hands out `events.id` before commit, so a turn saved by another Rasa process may
  become visible after rows with higher ids. Each batch therefore re-reads `overlap` ids below
  the watermark (default 1000 on PostgreSQL, 0 on SQLite, whose writers are serialised); an
  event is folded only when its id is above its conversation's `last_event_id` (a conversation's
  turns are saved one after another, so its ids grow in commit order).
- Listing never loads a tracker: only this index is read by `queries.list_conversations`.
"""
from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, text, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from supportbot.core.timeutil import utcnow
from supportbot.db.models import (
    ConversationVerification,
    HandoffTicket,
    Order,
    Refund,
    RefundRequest,
)
from supportbot.review import pii, rules
from supportbot.review.events import events, has_events_table, parse_data, to_datetime
from supportbot.review.models import (
    FTS_TABLE,
    conversation_summaries,
    review_facets,
    review_index_state,
    review_tags,
)

log = logging.getLogger(__name__)

DEFAULT_BATCH = 5000
PG_OVERLAP = 1000
MAX_FTS_CHARS_PER_EVENT = 2000
MAX_FTS_CHARS_PER_BATCH = 200_000  # per conversation and batch (tsvector values are bounded)
# what the customer says before or around a task, not the task itself
NON_TASK_INTENTS = frozenset({"greet", "goodbye", "thanks", "affirm", "deny", "bot_challenge",
                              "inform", "nlu_fallback", "out_of_scope"})
FALLBACK_ACTIONS = frozenset({"action_default_fallback", "action_two_stage_fallback"})
NOT_LISTED_ACTIONS = frozenset({"action_listen", "action_session_start"})
_CHANNEL_OF_INPUT = {"socketio": "widget", "widget": "widget", "rest": "rest", "email": "email"}
SUMMARY_FIELDS = [c.name for c in conversation_summaries.columns]


@dataclass(frozen=True)
class IndexRun:
    conversations: int  # conversations touched (a conversation in two batches counts twice)
    events: int  # events folded in
    watermark: int
    batches: int = 0


def channel_of(sender_id: str, event: Mapping[str, Any]) -> str | None:
    metadata = event.get("metadata") if isinstance(event.get("metadata"), dict) else {}
    claimed = metadata.get("channel")
    if claimed in ("widget", "email", "rest"):
        return str(claimed)
    if sender_id.startswith("email-"):
        return "email"
    return _CHANNEL_OF_INPUT.get(str(event.get("input_channel") or ""))


def _new_summary(conversation_id: str, at: datetime, event_id: int) -> dict[str, Any]:
    return {
        "conversation_id": conversation_id, "channel": "unknown", "first_activity": at,
        "last_activity": at, "user_turns": 0, "first_message": None, "intents": [],
        "first_task_intent": None, "lowest_confidence": None, "fallbacks": 0, "actions": [],
        "verified_order_masked": None, "verified": False, "refund_outcome": "none",
        "refund_reason_code": None, "refund_amount_minor": None, "refund_currency": None,
        "handoff_team": None, "handoff_reason": None, "review_status": "unreviewed",
        "model_id": None, "events": 0, "last_event_id": event_id, "indexed_at": at,
    }


class _Fold:
    """One conversation's summary while a batch is folded into it."""

    def __init__(self, summary: dict[str, Any], existing: bool) -> None:
        self.summary = summary
        self.existing = existing
        self.texts: list[str] = []
        self.text_chars = 0
        self.new_facets: set[tuple[str, str]] = set()

    def add_text(self, said: str) -> None:
        if self.text_chars >= MAX_FTS_CHARS_PER_BATCH:
            return
        piece = said[:MAX_FTS_CHARS_PER_EVENT]
        self.texts.append(piece)
        self.text_chars += len(piece)

    def apply(self, event_id: int, type_name: str, timestamp: Any, intent_name: str | None,
              event: Mapping[str, Any], sender_id: str) -> None:
        s = self.summary
        at = to_datetime(timestamp if timestamp is not None else event.get("timestamp"))
        if at is not None:
            if at < s["first_activity"]:
                s["first_activity"] = at
            if at > s["last_activity"]:
                s["last_activity"] = at
        s["events"] += 1
        s["last_event_id"] = max(s["last_event_id"], event_id)
        metadata = event.get("metadata") if isinstance(event.get("metadata"), dict) else {}
        model_id = metadata.get("model_id")
        if isinstance(model_id, str) and model_id:
            s["model_id"] = model_id[:64]
        if type_name == "user":
            self._user(event, intent_name, sender_id)
        elif type_name == "bot":
            said = event.get("text")
            if isinstance(said, str) and said:
                self.add_text(pii.mask_card_numbers(said))
        elif type_name == "action":
            name = event.get("name")
            if isinstance(name, str) and name and name not in NOT_LISTED_ACTIONS:
                name = name[:128]
                if name not in s["actions"]:
                    s["actions"] = [*s["actions"], name]
                    self.new_facets.add(("action", name))
                if name in FALLBACK_ACTIONS:
                    s["fallbacks"] += 1

    def _user(self, event: Mapping[str, Any], intent_name: str | None, sender_id: str) -> None:
        s = self.summary
        s["user_turns"] += 1
        parse = event.get("parse_data") if isinstance(event.get("parse_data"), dict) else {}
        said = event.get("text")
        if isinstance(said, str) and said:
            # cards masked, codes blanked; emails kept (shown masked unless revealed, searchable)
            shown = pii.mask_card_numbers(pii.blank_spans(said, parse.get("entities")))
            if s["first_message"] is None:
                s["first_message"] = shown[:200]
            self.add_text(shown)
        intent = parse.get("intent") if isinstance(parse.get("intent"), dict) else {}
        name = intent_name or intent.get("name")
        if isinstance(name, str) and name:
            name = name[:128]
            if name not in s["intents"]:
                s["intents"] = [*s["intents"], name]
                self.new_facets.add(("intent", name))
            if s["first_task_intent"] is None and name not in NON_TASK_INTENTS:
                s["first_task_intent"] = name[:64]
        confidence = intent.get("confidence")
        if isinstance(confidence, (int, float)) and not isinstance(confidence, bool):
            value = float(confidence)
            if s["lowest_confidence"] is None or value < s["lowest_confidence"]:
                s["lowest_confidence"] = value
        if s["channel"] == "unknown":
            s["channel"] = channel_of(sender_id, event) or "unknown"


class Indexer:
    """Advances the review index from the watermark. `run_once()` indexes everything new."""

    def __init__(self, engine: Engine, *, batch: int = DEFAULT_BATCH, overlap: int | None = None,
                 clock: Callable[[], datetime] = utcnow) -> None:
        if batch < 1:
            raise ValueError("batch must be at least 1")
        self.engine = engine
        self.batch = batch
        self.overlap = (PG_OVERLAP if engine.dialect.name == "postgresql" else 0) \
            if overlap is None else overlap
        self.clock = clock
        # test hook: called inside the batch's transaction just before it commits
        self.before_commit: Callable[[int], None] | None = None

    # ------------------------------------------------------------------ public

    def run_once(self, batch: int | None = None, max_batches: int | None = None) -> IndexRun:
        """Index every event after the watermark (or `max_batches` batches of `batch` events)."""
        size = batch or self.batch
        total_events = total_conversations = batches = 0
        watermark = self.watermark()
        while max_batches is None or batches < max_batches:
            done = self._one_batch(size)
            if done is None:
                break
            n_events, n_conversations, watermark = done
            batches += 1
            total_events += n_events
            total_conversations += n_conversations
        return IndexRun(total_conversations, total_events, watermark, batches)

    def watermark(self) -> int:
        with self.engine.connect() as connection:
            value = connection.execute(select(review_index_state.c.watermark)
                                       .where(review_index_state.c.id == 1)).scalar_one_or_none()
        return int(value or 0)

    def reindex_conversations(self, conversation_ids: Iterable[str]) -> int:
        """Re-read the core's facts (refunds, tickets, verification) of these conversations."""
        ids = list(conversation_ids)
        with Session(bind=self.engine, future=True) as session, session.begin():
            folds = {cid: _Fold(dict(row), True) for cid, row in self._summaries(session, ids).items()}
            self._core_facts(session, folds)
            self._write(session, folds)
        return len(ids)

    # ------------------------------------------------------------------ one batch

    def _ensure_state(self) -> None:
        with self.engine.begin() as connection:
            if connection.execute(select(review_index_state.c.id)
                                  .where(review_index_state.c.id == 1)).first() is None:
                try:
                    with connection.begin_nested():
                        connection.execute(review_index_state.insert().values(
                            id=1, watermark=0, runs=0, updated_at=self.clock()))
                except IntegrityError:
                    pass  # another indexer created it

    def _one_batch(self, size: int) -> tuple[int, int, int] | None:
        self._ensure_state()
        with Session(bind=self.engine, future=True) as session, session.begin():
            connection = session.connection()
            # the lock: concurrent indexers wait here, then read the watermark the other moved
            session.execute(update(review_index_state).where(review_index_state.c.id == 1)
                            .values(runs=review_index_state.c.runs + 1, updated_at=self.clock()))
            watermark = int(session.execute(select(review_index_state.c.watermark)
                                            .where(review_index_state.c.id == 1)).scalar_one())
            if not has_events_table(connection):
                return None
            rows = self._read(connection, watermark, size)
            if not rows or rows[-1].id <= watermark:
                return None
            by_conversation: dict[str, list[Any]] = defaultdict(list)
            for row in rows:
                by_conversation[row.sender_id].append(row)
            existing = self._summaries(session, list(by_conversation))
            folds: dict[str, _Fold] = {}
            folded = 0
            for cid, conv_rows in by_conversation.items():
                known = existing.get(cid)
                last = int(known["last_event_id"]) if known else 0
                # a conversation without a summary has none of its events indexed yet
                fresh = [r for r in conv_rows if r.id > last]
                if not fresh:
                    continue
                if known is not None:
                    fold = _Fold(dict(known), True)
                else:
                    start = to_datetime(fresh[0].timestamp) or self.clock()
                    fold = _Fold(_new_summary(cid, start, fresh[0].id), False)
                for r in fresh:
                    fold.apply(int(r.id), r.type_name, r.timestamp, r.intent_name,
                               parse_data(r.data), cid)
                folded += len(fresh)
                folds[cid] = fold
            self._core_facts(session, folds)
            self._write(session, folds)
            new_watermark = max(watermark, int(rows[-1].id))
            session.execute(update(review_index_state).where(review_index_state.c.id == 1)
                            .values(watermark=new_watermark))
            if self.before_commit is not None:
                self.before_commit(new_watermark)
        return folded, len(folds), new_watermark

    def _read(self, connection: Connection, watermark: int, size: int) -> list[Any]:
        low = max(0, watermark - self.overlap)
        return list(connection.execute(
            select(events.c.id, events.c.sender_id, events.c.type_name, events.c.timestamp,
                   events.c.intent_name, events.c.data)
            .where(events.c.id > low).order_by(events.c.id).limit(size + (watermark - low))).all())

    @staticmethod
    def _summaries(session: Session, ids: list[str]) -> dict[str, Mapping[str, Any]]:
        found: dict[str, Mapping[str, Any]] = {}
        for i in range(0, len(ids), 500):
            chunk = ids[i:i + 500]
            for row in session.execute(select(conversation_summaries).where(
                    conversation_summaries.c.conversation_id.in_(chunk))).mappings():
                found[row["conversation_id"]] = row
        return found

    # ------------------------------------------------------------------ the core's facts

    def _core_facts(self, session: Session, folds: dict[str, _Fold]) -> None:
        ids = list(folds)
        for i in range(0, len(ids), 500):
            chunk = ids[i:i + 500]
            verified: dict[str, str] = {}
            for cid, reference in session.execute(
                    select(ConversationVerification.conversation_id, Order.reference)
                    .join(Order, Order.id == ConversationVerification.order_id)
                    .where(ConversationVerification.conversation_id.in_(chunk))
                    .order_by(ConversationVerification.verified_at, ConversationVerification.id)):
                verified[cid] = reference
            tickets: dict[str, tuple[str, str]] = {}
            for cid, team, reason in session.execute(
                    select(HandoffTicket.conversation_id, HandoffTicket.team, HandoffTicket.reason_code)
                    .where(HandoffTicket.conversation_id.in_(chunk)).order_by(HandoffTicket.id)):
                tickets[cid] = (team, reason)
            refunds: dict[str, list[tuple[Any, Any]]] = defaultdict(list)
            for request, refund in session.execute(
                    select(RefundRequest, Refund).outerjoin(Refund, Refund.id == RefundRequest.refund_id)
                    .where(RefundRequest.conversation_id.in_(chunk)).order_by(RefundRequest.id)):
                refunds[request.conversation_id].append((request, refund))
            for cid in chunk:
                s = folds[cid].summary
                s["verified"] = cid in verified
                s["verified_order_masked"] = pii.mask_reference(verified.get(cid))
                s["handoff_team"], s["handoff_reason"] = tickets.get(cid, (None, None))
                s.update(refund_summary(refunds.get(cid, [])))

    # ------------------------------------------------------------------ writing

    def _write(self, session: Session, folds: dict[str, _Fold]) -> None:
        if not folds:
            return
        now = self.clock()
        inserts, updates = [], []
        for fold in folds.values():
            fold.summary["indexed_at"] = now
            row = {k: fold.summary[k] for k in SUMMARY_FIELDS}
            (updates if fold.existing else inserts).append(row)
        if inserts:
            session.execute(conversation_summaries.insert(), inserts)
        for row in updates:
            values = {k: v for k, v in row.items() if k not in ("conversation_id", "review_status")}
            session.execute(update(conversation_summaries)
                            .where(conversation_summaries.c.conversation_id == row["conversation_id"])
                            .values(**values))
        self._write_facets(session, folds)
        self._write_fts(session, folds)
        self._write_auto_tags(session, folds, now)

    @staticmethod
    def _write_facets(session: Session, folds: dict[str, _Fold]) -> None:
        rows = [{"conversation_id": cid, "kind": kind, "value": value}
                for cid, fold in folds.items() for kind, value in sorted(fold.new_facets)]
        if not rows:
            return
        # new_facets only holds values that were not in the summary's lists: never a duplicate
        session.execute(review_facets.insert(), rows)

    @staticmethod
    def _write_fts(session: Session, folds: dict[str, _Fold]) -> None:
        rows = [{"cid": cid, "body": "\n".join(fold.texts)} for cid, fold in folds.items() if fold.texts]
        if not rows:
            return
        if session.get_bind().dialect.name == "postgresql":
            session.execute(text(
                f"INSERT INTO {FTS_TABLE} (conversation_id, document) "
                "VALUES (:cid, to_tsvector('simple', :body)) ON CONFLICT (conversation_id) "
                f"DO UPDATE SET document = {FTS_TABLE}.document || EXCLUDED.document"), rows)
        else:
            session.execute(text(f"INSERT INTO {FTS_TABLE} (conversation_id, body) VALUES (:cid, :body)"),
                            rows)

    @staticmethod
    def _write_auto_tags(session: Session, folds: dict[str, _Fold], now: datetime) -> None:
        ids = list(folds)
        current: dict[str, dict[str, str]] = defaultdict(dict)
        for i in range(0, len(ids), 500):
            for cid, tag, source in session.execute(
                    select(review_tags.c.conversation_id, review_tags.c.tag, review_tags.c.source)
                    .where(review_tags.c.conversation_id.in_(ids[i:i + 500]))):
                current[cid][tag] = source
        add, remove = [], []
        for cid, fold in folds.items():
            wanted = rules.automatic_tags(fold.summary)
            have = current.get(cid, {})
            for tag in wanted - set(have):
                add.append({"conversation_id": cid, "tag": tag, "source": "auto",
                            "created_by": rules.RULES_ACTOR, "created_at": now})
            for tag, source in have.items():
                if source == "auto" and tag in rules.RULES and tag not in wanted:
                    remove.append((cid, tag))
        if add:
            session.execute(review_tags.insert(), add)
        for cid, tag in remove:
            session.execute(delete(review_tags).where(review_tags.c.conversation_id == cid,
                                                      review_tags.c.tag == tag))


def refund_summary(requests: list[tuple[Any, Any]]) -> dict[str, Any]:
    """issued > failed > declined (with its reason code) > none, over a conversation's refund
    requests (RefundRequest, Refund | None)."""
    issued = [refund for _r, refund in requests if refund is not None and refund.status != "failed"]
    if issued:
        refund = issued[-1]
        return {"refund_outcome": "issued", "refund_reason_code": None,
                "refund_amount_minor": refund.amount_minor, "refund_currency": refund.currency}
    failed = [refund for _r, refund in requests if refund is not None and refund.status == "failed"]
    if failed:
        return {"refund_outcome": "failed", "refund_reason_code": "refund_failed",
                "refund_amount_minor": failed[-1].amount_minor, "refund_currency": failed[-1].currency}
    declined = [r for r, _refund in requests if r.outcome in ("handed_off", "already_refunded",
                                                              "nothing_to_refund")]
    if declined:
        request = declined[-1]
        decision = request.decision if isinstance(request.decision, dict) else {}
        reasons = decision.get("reasons") or ()
        code = decision.get("handoff_reason") or (reasons[0] if reasons else None) or request.outcome
        return {"refund_outcome": "declined", "refund_reason_code": str(code)[:64],
                "refund_amount_minor": None, "refund_currency": None}
    return {"refund_outcome": "none", "refund_reason_code": None, "refund_amount_minor": None,
            "refund_currency": None}
