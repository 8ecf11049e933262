"""What happened after a conversation: facts that arrive later, linked to order and conversation.

`record_fact(session, kind, occurred_at, ...)` is what `supportbot db import` of provider updates
and the authenticated webhook (both to come, issue 16) call; it runs in the caller's
transaction. It finds the conversation itself, never trusting the caller for it:
  - a refund (refund_reversed, refund_failed): the conversation whose refund request made it;
  - a ticket (ticket_reopened): the ticket's conversation;
  - an order only (chargeback_opened): the latest conversation about that order (a buyer key)
    that started before the fact.
`external_id` (the provider's or helpdesk's id of the update) makes a re-delivery a no-op.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from supportbot.analytics import linking
from supportbot.analytics.models import conversation_buyer_keys, outcome_facts
from supportbot.analytics.vocabulary import FACT_KINDS, FACT_SOURCES
from supportbot.core.timeutil import utcnow
from supportbot.db.models import HandoffTicket, Order, Refund, RefundRequest
from supportbot.review.errors import InvalidInput
from supportbot.review.models import conversation_summaries

REFUND_KINDS = ("refund_reversed", "refund_failed")
TICKET_KINDS = ("ticket_reopened",)
ORDER_KINDS = ("chargeback_opened",)


def record_fact(session: Session, kind: str, occurred_at: datetime, *, source: str,
                refund_id: int | None = None, ticket_id: int | None = None,
                order_reference: str | None = None, external_id: str | None = None,
                details: Mapping[str, Any] | None = None, now: datetime | None = None) -> int:
    """Store one later fact; returns its id (the existing one for a known external_id)."""
    if kind not in FACT_KINDS:
        raise InvalidInput("kind", f"one of {', '.join(FACT_KINDS)}")
    if source not in FACT_SOURCES:
        raise InvalidInput("source", f"one of {', '.join(FACT_SOURCES)}")
    if occurred_at.tzinfo is None or occurred_at.utcoffset() is None:
        raise InvalidInput("occurred_at", "a time with its time zone")
    if external_id is not None:
        if not external_id.strip() or len(external_id) > 100:
            raise InvalidInput("external_id", "1 to 100 characters")
        known = session.execute(select(outcome_facts.c.id)
                                .where(outcome_facts.c.external_id == external_id)).scalar()
        if known is not None:
            return int(known)
    conversation_id: str | None = None
    order_id: int | None = None
    if kind in REFUND_KINDS:
        if refund_id is None:
            raise InvalidInput("refund_id", f"needed for {kind}")
        refund = session.get(Refund, refund_id)
        if refund is None:
            raise InvalidInput("refund_id", f"no refund {refund_id}")
        order_id = refund.order_id
        conversation_id = session.execute(
            select(RefundRequest.conversation_id).where(RefundRequest.refund_id == refund_id)
            .order_by(RefundRequest.id.desc())).scalar()
    elif kind in TICKET_KINDS:
        if ticket_id is None:
            raise InvalidInput("ticket_id", f"needed for {kind}")
        ticket = session.get(HandoffTicket, ticket_id)
        if ticket is None:
            raise InvalidInput("ticket_id", f"no ticket {ticket_id}")
        order_id, conversation_id = ticket.order_id, ticket.conversation_id
    else:
        if not order_reference:
            raise InvalidInput("order_reference", f"needed for {kind}")
        order_id = session.execute(select(Order.id).where(Order.reference == order_reference)
                                   ).scalar()
        if order_id is None:
            raise InvalidInput("order_reference", f"no order {order_reference}")
        conversation_id = latest_conversation_about(session, order_id, occurred_at)
    result = session.execute(outcome_facts.insert().values(
        kind=kind, occurred_at=occurred_at, conversation_id=conversation_id, order_id=order_id,
        refund_id=refund_id, ticket_id=ticket_id, source=source, external_id=external_id,
        details=dict(details or {}), recorded_at=now or utcnow()))
    if conversation_id is not None:
        linking.refresh_derived(session, [conversation_id])
    return int(result.inserted_primary_key[0])


def latest_conversation_about(session: Session, order_id: int, before: datetime) -> str | None:
    S = conversation_summaries.c
    K = conversation_buyer_keys.c
    found = session.execute(
        select(S.conversation_id).join(conversation_buyer_keys, K.conversation_id == S.conversation_id)
        .where(K.kind == "order", K.value == str(order_id), S.first_activity <= before)
        .order_by(S.first_activity.desc(), S.conversation_id.desc()).limit(1)).scalar()
    return None if found is None else str(found)


def facts_of(session: Session, conversation_id: str) -> list[dict[str, Any]]:
    return [dict(r) for r in session.execute(
        select(outcome_facts).where(outcome_facts.c.conversation_id == conversation_id)
        .order_by(outcome_facts.c.occurred_at, outcome_facts.c.id)).mappings()]


FACT_FIELDS = frozenset({"kind", "occurred_at", "refund_id", "refund_reference", "ticket_id",
                         "order_reference", "external_id", "details"})


def import_facts(session: Session, records: Sequence[Mapping[str, Any]], *, source: str,
                 now: datetime | None = None) -> list[int]:
    """Record a batch of provider / helpdesk updates, all or nothing (in the caller's
    transaction: an error leaves nothing). A record: {"kind", "occurred_at" (ISO 8601 with
    offset), one of "refund_id" | "refund_reference" (the provider's refund reference) |
    "ticket_id" | "order_reference", optional "external_id", "details" (object)}. A bad record
    raises InvalidInput naming it: `records[3].occurred_at: ...`."""
    ids = []
    for index, record in enumerate(records):
        where = f"records[{index}]"
        if not isinstance(record, Mapping):
            raise InvalidInput(where, "an object")
        unknown = sorted(set(record) - FACT_FIELDS)
        if unknown:
            raise InvalidInput(f"{where}.{unknown[0]}", "not a field of a fact")
        try:
            occurred_at = parse_iso_aware(record.get("occurred_at"))
            refund_id = record.get("refund_id")
            if record.get("refund_reference") is not None:
                refund_id = session.execute(select(Refund.id).where(
                    Refund.provider_reference == str(record["refund_reference"]))).scalar()
                if refund_id is None:
                    raise InvalidInput("refund_reference", f"no refund {record['refund_reference']}")
            for name in ("refund_id", "ticket_id"):
                value = refund_id if name == "refund_id" else record.get(name)
                if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                    raise InvalidInput(name, "a whole number")
            details = record.get("details") or {}
            if not isinstance(details, Mapping):
                raise InvalidInput("details", "an object")
            ids.append(record_fact(
                session, str(record.get("kind")), occurred_at, source=source, refund_id=refund_id,
                ticket_id=record.get("ticket_id"), order_reference=record.get("order_reference"),
                external_id=record.get("external_id"), details=details, now=now))
        except InvalidInput as exc:
            raise InvalidInput(f"{where}.{exc.field}", str(exc).split(": ", 1)[-1]) from None
    return ids


def parse_iso_aware(value: Any) -> datetime:
    if not isinstance(value, str):
        raise InvalidInput("occurred_at", "a time YYYY-MM-DDTHH:MM:SS+00:00")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput("occurred_at", "a time YYYY-MM-DDTHH:MM:SS+00:00") from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise InvalidInput("occurred_at", "a time with its time zone")
    return parsed
