"""The human teams' handoff queue: open tickets per team, claim, close with a resolution note.

Tickets are the core's `handoff_tickets` (created by `HandoffQueue.add`); this module adds who
works on one (claimed_by / claimed_at) and how it ended (closed_at / resolution). Claiming is
atomic (a conditional UPDATE): two people claiming the same ticket at once get one winner.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from supportbot.core.timeutil import utcnow
from supportbot.core.vocabulary import TEAMS
from supportbot.db.models import HandoffTicket, Order
from supportbot.review import audit, pii
from supportbot.review.errors import InvalidInput, TicketNotFound, TicketStateError

MAX_RESOLUTION_CHARS = 5000


@dataclass(frozen=True)
class QueueTicket:
    id: int
    team: str
    reason_code: str
    conversation_id: str
    order_masked: str | None
    summary: str  # masked
    status: str
    created_at: datetime
    claimed_by: str | None
    claimed_at: datetime | None
    closed_at: datetime | None
    resolution: str | None
    delivery_status: str


def _view(ticket: HandoffTicket, reference: str | None) -> QueueTicket:
    return QueueTicket(
        id=ticket.id, team=ticket.team, reason_code=ticket.reason_code,
        conversation_id=ticket.conversation_id, order_masked=pii.mask_reference(reference),
        summary=pii.mask_text(ticket.summary or ""), status=ticket.status,
        created_at=ticket.created_at, claimed_by=ticket.claimed_by, claimed_at=ticket.claimed_at,
        closed_at=ticket.closed_at, resolution=ticket.resolution,
        delivery_status=ticket.delivery_status)


def _query():
    return select(HandoffTicket, Order.reference).outerjoin(Order, Order.id == HandoffTicket.order_id)


def open_tickets(session: Session, team: str | None = None, limit: int = 200) -> list[QueueTicket]:
    """Open tickets, oldest first (of one team, or all)."""
    if team is not None and team not in TEAMS:
        raise InvalidInput("team", f"one of {', '.join(TEAMS)}")
    query = _query().where(HandoffTicket.status == "open")
    if team is not None:
        query = query.where(HandoffTicket.team == team)
    rows = session.execute(query.order_by(HandoffTicket.created_at, HandoffTicket.id).limit(limit))
    return [_view(t, ref) for t, ref in rows]


def open_counts(session: Session) -> dict[str, int]:
    counts = dict.fromkeys(TEAMS, 0)
    for team, in session.execute(select(HandoffTicket.team).where(HandoffTicket.status == "open")):
        counts[team] = counts.get(team, 0) + 1
    return counts


def ticket(session: Session, ticket_id: int) -> QueueTicket:
    row = session.execute(_query().where(HandoffTicket.id == int(ticket_id))).first()
    if row is None:
        raise TicketNotFound(int(ticket_id))
    return _view(row[0], row[1])


def claim(session: Session, ticket_id: int, actor: str) -> QueueTicket:
    """The ticket is now `actor`'s. Claiming an open ticket someone else holds takes it over
    only with `take_over` in the console (not here): it raises TicketStateError."""
    current = ticket(session, ticket_id)
    if current.status != "open":
        raise TicketStateError(f"ticket {ticket_id} is {current.status}")
    if current.claimed_by == actor:
        return current
    now = utcnow()
    changed = session.execute(update(HandoffTicket).where(
        HandoffTicket.id == int(ticket_id), HandoffTicket.status == "open",
        HandoffTicket.claimed_by.is_(None)).values(claimed_by=actor, claimed_at=now)).rowcount
    if not changed:
        holder = ticket(session, ticket_id).claimed_by
        raise TicketStateError(f"ticket {ticket_id} is already claimed by {holder}")
    audit.record(session, "ticket_claimed", actor, conversation_id=current.conversation_id,
                 ticket_id=int(ticket_id))
    session.expire_all()
    return ticket(session, ticket_id)


def close(session: Session, ticket_id: int, actor: str, resolution: str) -> QueueTicket:
    """Closes an open ticket with a resolution note (required)."""
    resolution = (resolution or "").strip()
    if not resolution:
        raise InvalidInput("resolution", "a resolution note is required to close a ticket")
    if len(resolution) > MAX_RESOLUTION_CHARS:
        raise InvalidInput("resolution", f"at most {MAX_RESOLUTION_CHARS} characters")
    current = ticket(session, ticket_id)
    if current.status != "open":
        raise TicketStateError(f"ticket {ticket_id} is already {current.status}")
    now = utcnow()
    changed = session.execute(update(HandoffTicket).where(
        HandoffTicket.id == int(ticket_id), HandoffTicket.status == "open").values(
        status="closed", closed_at=now, resolution=pii.mask_text(resolution, reveal=True),
        claimed_by=current.claimed_by or actor, claimed_at=current.claimed_at or now)).rowcount
    if not changed:
        raise TicketStateError(f"ticket {ticket_id} was closed meanwhile")
    audit.record(session, "ticket_closed", actor, conversation_id=current.conversation_id,
                 ticket_id=int(ticket_id))
    session.expire_all()
    return ticket(session, ticket_id)
