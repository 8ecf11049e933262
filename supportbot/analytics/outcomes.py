"""The outcome index: one `conversation_outcomes` row and the buyer keys per indexed conversation.

`OutcomeIndexer(engine).run_once()` (re)computes the conversations whose review summary moved
since their outcome row was written (`conversation_summaries.last_event_id` differs, or there is
no row yet), reading their events from Rasa's `events` table and what the core recorded for
them. Run it after the review indexer (the console's loop and `supportbot review reindex`
should call both); `refresh(ids)` recomputes chosen conversations (e.g. after a late
verification). Every recomputation also refreshes, for the conversations of the same buyer,
the first re-contact (`recontacted_at`) and the first later fact (`later_fact_at`); outcome
rows of conversations that left the index (erasure) are dropped. One transaction per chunk:
a crash leaves the index as it was before the chunk.
"""
from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from supportbot.analytics import linking
from supportbot.analytics.models import conversation_buyer_keys, conversation_outcomes, outcome_facts
from supportbot.analytics.vocabulary import (
    ABANDON_AFTER,
    CSAT_SLOT,
    CSAT_VALUES,
    RESOLUTION_WINDOW,
    TASK_END_ACTIONS,
    VERIFIED_TASK_ACTION,
)
from supportbot.core.timeutil import utcnow
from supportbot.db.models import (
    ConversationVerification,
    Customer,
    HandoffTicket,
    Order,
    RefundRequest,
    VerificationAttempt,
)
from supportbot.review.events import events, parse_data, to_datetime
from supportbot.review.indexer import NON_TASK_INTENTS
from supportbot.review.models import conversation_summaries

S = conversation_summaries.c
O = conversation_outcomes.c  # noqa: E741
CHUNK = 200


def email_key(address: str) -> str:
    """The buyer key of an email address: SHA-256 of the trimmed, lower-case address."""
    return hashlib.sha256(address.strip().lower().encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Folded:
    """What one conversation's events say (before the core's facts are added)."""

    task_ended_at: datetime | None
    csat: str | None
    abandoned_at: datetime | None
    open_question_at: datetime | None


def fold_events(rows: Iterable[tuple[str, Any, Any]]) -> Folded:
    """rows: (type_name, timestamp, data) of one conversation in id order.

    - task end: the first TASK_END_ACTIONS action after the first task intent
      (`action_perform_task` only while the order_ref slot is the verified one);
    - CSAT: the last SlotSet of CSAT_SLOT with a value in CSAT_VALUES;
    - a question: a bot message ending in "?" or sent while a form asks for a slot
      (`requested_slot` set); answered by the next user message; answered after more than
      ABANDON_AFTER -> abandoned (the first such question counts); not answered yet -> open.
    """
    task_seen = False
    task_end: datetime | None = None
    csat: str | None = None
    requested: Any = None
    question: datetime | None = None
    abandoned: datetime | None = None
    slots: dict[str, Any] = {}
    for type_name, timestamp, data in rows:
        event = parse_data(data)
        at = to_datetime(timestamp if timestamp is not None else event.get("timestamp"))
        if type_name == "user":
            intent = event.get("parse_data", {}).get("intent", {}) \
                if isinstance(event.get("parse_data"), dict) else {}
            name = intent.get("name") if isinstance(intent, dict) else None
            if isinstance(name, str) and name and name not in NON_TASK_INTENTS:
                task_seen = True
            if question is not None and at is not None:
                if abandoned is None and at - question > ABANDON_AFTER:
                    abandoned = question
            question = None
        elif type_name == "action":
            name = event.get("name")
            if task_seen and task_end is None and name in TASK_END_ACTIONS:
                # an order task ends only for a verified order (else the action only says
                # what it can do: actions/common.is_verified)
                if name != VERIFIED_TASK_ACTION or (slots.get("order_ref")
                                                    and slots.get("verified_ref") == slots["order_ref"]):
                    task_end = at
        elif type_name == "slot":
            if event.get("name") in ("order_ref", "verified_ref"):
                slots[str(event["name"])] = event.get("value")
            if event.get("name") == "requested_slot":
                requested = event.get("value")
            elif event.get("name") == CSAT_SLOT and event.get("value") in CSAT_VALUES:
                csat = str(event.get("value"))
        elif type_name == "bot":
            said = event.get("text")
            asks = isinstance(said, str) and said.rstrip().endswith("?")
            if (asks or requested) and at is not None:
                question = at
    return Folded(task_end, csat, abandoned, question)


class OutcomeIndexer:
    def __init__(self, engine: Engine, *, clock: Callable[[], datetime] = utcnow,
                 chunk: int = CHUNK) -> None:
        self.engine = engine
        self.clock = clock
        self.chunk = chunk

    def run_once(self) -> int:
        """Recompute every conversation whose summary changed; returns how many."""
        done = 0
        while True:
            with Session(bind=self.engine, future=True) as session:
                ids = list(session.execute(
                    select(S.conversation_id)
                    .outerjoin(conversation_outcomes, O.conversation_id == S.conversation_id)
                    .where(or_(O.conversation_id.is_(None), O.last_event_id != S.last_event_id))
                    .order_by(S.conversation_id).limit(self.chunk)).scalars())
            if not ids:
                break
            self.refresh(ids)
            done += len(ids)
        self._drop_orphans()
        return done

    def _drop_orphans(self) -> None:
        """Outcome rows whose conversation left the index (erased): drop them, and re-link the
        conversations of the same buyer."""
        with Session(bind=self.engine, future=True) as session, session.begin():
            orphans = list(session.execute(
                select(O.conversation_id)
                .outerjoin(conversation_summaries, S.conversation_id == O.conversation_id)
                .where(S.conversation_id.is_(None))).scalars())
            if orphans:
                forget(session, orphans)


    def refresh(self, conversation_ids: Iterable[str]) -> int:
        ids = list(dict.fromkeys(conversation_ids))
        for i in range(0, len(ids), self.chunk):
            with Session(bind=self.engine, future=True) as session, session.begin():
                self._compute(session, ids[i:i + self.chunk])
        return len(ids)

    # ------------------------------------------------------------------ one chunk

    def _compute(self, session: Session, ids: list[str]) -> None:
        summaries = {r["conversation_id"]: r for r in session.execute(
            select(S.conversation_id, S.first_activity, S.last_activity, S.last_event_id,
                   S.verified).where(S.conversation_id.in_(ids))).mappings()}
        ids = [cid for cid in ids if cid in summaries]
        if not ids:
            return
        by_conversation: dict[str, list[tuple[str, Any, Any]]] = {cid: [] for cid in ids}
        for sender_id, type_name, timestamp, data in session.execute(
                select(events.c.sender_id, events.c.type_name, events.c.timestamp, events.c.data)
                .where(events.c.sender_id.in_(ids),
                       events.c.type_name.in_(("user", "bot", "action", "slot")))
                .order_by(events.c.id)):
            by_conversation[sender_id].append((type_name, timestamp, data))
        attempted = set(session.execute(select(VerificationAttempt.conversation_id).where(
            VerificationAttempt.conversation_id.in_(ids)).distinct()).scalars())
        keys = buyer_keys(session, ids)
        now = self.clock()
        linked_before = linking.same_buyer(session, ids)  # a key may go away
        session.execute(delete(conversation_outcomes).where(O.conversation_id.in_(ids)))
        session.execute(delete(conversation_buyer_keys)
                        .where(conversation_buyer_keys.c.conversation_id.in_(ids)))
        rows = []
        for cid in ids:
            summary = summaries[cid]
            folded = fold_events(by_conversation[cid])
            end = folded.task_ended_at
            seconds = None if end is None else max(0, int((end - summary["first_activity"])
                                                          .total_seconds()))
            rows.append({
                "conversation_id": cid, "last_event_id": summary["last_event_id"],
                "task_ended_at": end, "seconds_to_end": seconds,
                "window_end": (end or summary["last_activity"]) + RESOLUTION_WINDOW,
                "verification_attempted": cid in attempted or bool(summary["verified"]),
                "csat": folded.csat, "abandoned_at": folded.abandoned_at,
                "open_question_at": folded.open_question_at, "computed_at": now})
        session.execute(conversation_outcomes.insert(), rows)
        key_rows = [{"conversation_id": cid, "kind": kind, "value": value}
                    for cid in ids for kind, value in sorted(keys.get(cid, ()))]
        if key_rows:
            session.execute(conversation_buyer_keys.insert(), key_rows)
        linking.refresh_derived(session, linked_before | linking.same_buyer(session, ids))


def buyer_keys(session: Session, ids: list[str]) -> dict[str, set[tuple[str, str]]]:
    """(kind, value) per conversation: the orders it verified, asked a refund for or had a ticket
    about; the SHA-256 of the email address of every order it verified."""
    found: dict[str, set[tuple[str, str]]] = {}
    for cid, order_id, email in session.execute(
            select(ConversationVerification.conversation_id, Order.id, Customer.email)
            .join(Order, Order.id == ConversationVerification.order_id)
            .join(Customer, Customer.id == Order.customer_id)
            .where(ConversationVerification.conversation_id.in_(ids))):
        found.setdefault(cid, set()).update({("order", str(order_id)), ("email", email_key(email))})
    for model in (RefundRequest, HandoffTicket):
        for cid, order_id in session.execute(
                select(model.conversation_id, model.order_id)
                .where(and_(model.conversation_id.in_(ids), model.order_id.is_not(None)))):
            found.setdefault(cid, set()).add(("order", str(order_id)))
    return found


def outcome_row(session: Session, conversation_id: str) -> Mapping[str, Any] | None:
    row: Mapping[str, Any] | None = session.execute(
        select(conversation_outcomes).where(O.conversation_id == conversation_id)).mappings().first()
    return row


def forget(session: Session, conversation_ids: Iterable[str]) -> None:
    """Erase what the analytics hold of these conversations (their outcome rows and buyer keys;
    their later facts stay, as facts about orders, without the conversation) and re-link the
    other conversations of the same buyers. In the caller's transaction (erasure can call it)."""
    ids = list(dict.fromkeys(conversation_ids))
    for i in range(0, len(ids), CHUNK):
        chunk = ids[i:i + CHUNK]
        others = linking.same_buyer(session, chunk) - set(chunk)
        session.execute(delete(conversation_outcomes).where(O.conversation_id.in_(chunk)))
        session.execute(delete(conversation_buyer_keys)
                        .where(conversation_buyer_keys.c.conversation_id.in_(chunk)))
        session.execute(update(outcome_facts).where(outcome_facts.c.conversation_id.in_(chunk))
                        .values(conversation_id=None))
        linking.refresh_derived(session, others)
