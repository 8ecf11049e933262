"""The handoff queue: tickets for the two human teams, optionally pushed to a helpdesk.

The routing table (seed 002) lives in `supportbot.core.routing` and is re-exported here.
A ticket carries the team, a reason code, the verified order (if any), a short summary, the
conversation id and an optional transcript (card numbers masked before storage). When
`SUPPORTBOT_HELPDESK_WEBHOOK_URL` is set each new ticket is POSTed there from a background
thread - retried, never blocking the conversation - and the delivery status is recorded on
the ticket (`pending` -> `delivered` | `failed`).
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any

import requests
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from supportbot.core import audit
from supportbot.core.routing import ROUTING, pick_team, team_for  # noqa: F401 (re-export)
from supportbot.core.timeutil import Clock, utcnow
from supportbot.core.views import TicketView
from supportbot.core.vocabulary import (
    DELIVERY_DELIVERED,
    DELIVERY_FAILED,
    DELIVERY_NOT_CONFIGURED,
    DELIVERY_PENDING,
    TEAMS,
)
from supportbot.db.engine import session_scope
from supportbot.db.models import HandoffTicket, Order
from supportbot.privacy import mask_card_numbers

log = logging.getLogger(__name__)

MAX_SUMMARY_CHARS = 2000


def _mask(value: Any) -> Any:
    """Card numbers masked in every string of a transcript (str, list, dict)."""
    if isinstance(value, str):
        return mask_card_numbers(value)
    if isinstance(value, list):
        return [_mask(v) for v in value]
    if isinstance(value, dict):
        return {k: _mask(v) for k, v in value.items()}
    return value


def ticket_view(ticket: HandoffTicket) -> TicketView:
    return TicketView(
        id=ticket.id,
        team=ticket.team,
        reason_code=ticket.reason_code,
        created_at=ticket.created_at,
        conversation_id=ticket.conversation_id,
        reference=ticket.order.reference if ticket.order is not None else None,
        summary=ticket.summary,
        delivery_status=ticket.delivery_status,
    )


class HandoffQueue:
    def __init__(
        self,
        engine: Engine,
        *,
        webhook_url: str | None = None,
        clock: Clock = utcnow,
        timeout: float = 5.0,
        max_attempts: int = 3,
        backoff_seconds: float = 0.5,
        http: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.engine = engine
        self.webhook_url = webhook_url
        self.clock = clock
        self.timeout = timeout
        self.max_attempts = max_attempts
        self.backoff_seconds = backoff_seconds
        self.http = http or requests.Session()
        self.sleep = sleep
        self._executor: ThreadPoolExecutor | None = None
        self._futures: set[Future[str]] = set()
        self._lock = threading.Lock()

    # ---- creating tickets ----
    def add(
        self,
        session: Session,
        *,
        conversation_id: str,
        reason_code: str,
        summary: str,
        team: str | None = None,
        order_id: int | None = None,
        transcript: Any = None,
    ) -> HandoffTicket:
        """Create a ticket inside the caller's transaction. Call `dispatch(ticket.id)` after
        the commit to push it to the helpdesk (`create()` does both)."""
        team = team or team_for(reason_code)
        if team not in TEAMS:
            raise ValueError(f"unknown team {team!r}; one of {TEAMS}")
        now = self.clock()
        ticket = HandoffTicket(
            team=team,
            reason_code=reason_code,
            order_id=order_id,
            conversation_id=conversation_id,
            summary=mask_card_numbers(summary or "")[:MAX_SUMMARY_CHARS],
            transcript=_mask(transcript) if transcript is not None else None,
            status="open",
            created_at=now,
            delivery_status=DELIVERY_PENDING if self.webhook_url else DELIVERY_NOT_CONFIGURED,
            delivery_attempts=0,
        )
        session.add(ticket)
        session.flush()
        audit.record(session, "handoff.created", at=now, conversation_id=conversation_id,
                     order_id=order_id, ticket_id=ticket.id, team=team, reason_code=reason_code)
        return ticket

    def create(self, conversation_id: str, reason_code: str, summary: str, *,
               team: str | None = None, order_id: int | None = None,
               transcript: Any = None) -> TicketView:
        with session_scope(self.engine) as session:
            ticket = self.add(session, conversation_id=conversation_id, reason_code=reason_code,
                              summary=summary, team=team, order_id=order_id,
                              transcript=transcript)
            view = ticket_view(ticket)
        self.dispatch(view.id)
        return view

    # ---- reading the queue ----
    def get(self, ticket_id: int) -> TicketView | None:
        with session_scope(self.engine) as session:
            ticket = session.get(HandoffTicket, ticket_id)
            return ticket_view(ticket) if ticket else None

    def open_tickets(self, team: str | None = None) -> list[TicketView]:
        with session_scope(self.engine) as session:
            query = select(HandoffTicket).where(HandoffTicket.status == "open")
            if team:
                query = query.where(HandoffTicket.team == team)
            tickets = session.execute(query.order_by(HandoffTicket.id)).scalars().all()
            return [ticket_view(t) for t in tickets]

    def close(self, ticket_id: int) -> None:
        with session_scope(self.engine) as session:
            ticket = session.get(HandoffTicket, ticket_id)
            if ticket is None:
                raise KeyError(ticket_id)
            ticket.status = "closed"
            audit.record(session, "handoff.closed", at=self.clock(), actor="agent",
                         conversation_id=ticket.conversation_id, order_id=ticket.order_id,
                         ticket_id=ticket.id)

    # ---- helpdesk webhook ----
    def dispatch(self, ticket_id: int) -> Future[str] | None:
        """Deliver the ticket to the helpdesk in the background (no-op without a webhook)."""
        if not self.webhook_url:
            return None
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(max_workers=2,
                                                    thread_name_prefix="helpdesk-webhook")
            future = self._executor.submit(self._deliver, ticket_id)
            self._futures.add(future)
        future.add_done_callback(self._forget)
        return future

    def _forget(self, future: Future[str]) -> None:
        with self._lock:
            self._futures.discard(future)

    def wait_for_deliveries(self, timeout: float = 10.0) -> bool:
        """Block until every dispatched delivery finished (tests, shutdown). True if all did."""
        with self._lock:
            futures = set(self._futures)
        done, not_done = wait(futures, timeout=timeout)
        return not not_done

    def shutdown(self, wait_for_pending: bool = True) -> None:
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=wait_for_pending)

    def payload(self, ticket: HandoffTicket) -> dict[str, Any]:
        order: Order | None = ticket.order
        return {
            "id": ticket.id,
            "team": ticket.team,
            "reason_code": ticket.reason_code,
            "summary": ticket.summary,
            "conversation_id": ticket.conversation_id,
            "created_at": ticket.created_at.isoformat(),
            "order": None if order is None else {
                "reference": order.reference,
                "client": order.client.name,
                "customer_email": order.customer.email,
                "status": order.status,
                "total_minor": order.total_minor,
                "currency": order.currency,
                "payment_method": order.payment_method,
            },
            "transcript": ticket.transcript,
        }

    def _deliver(self, ticket_id: int) -> str:
        url = self.webhook_url
        assert url, "dispatch() delivers only when a webhook is configured"
        with session_scope(self.engine) as session:
            ticket = session.get(HandoffTicket, ticket_id)
            if ticket is None or ticket.delivery_status == DELIVERY_DELIVERED:
                return ticket.delivery_status if ticket else "missing"
            body = self.payload(ticket)
        error = ""
        attempts = 0
        external_id = None
        delivered = False
        for attempt in range(1, self.max_attempts + 1):
            attempts = attempt
            try:
                response = self.http.post(
                    url, json=body, timeout=self.timeout,
                    headers={"Idempotency-Key": f"supportbot-ticket-{ticket_id}"},
                )
            except requests.RequestException as exc:
                error = f"{exc.__class__.__name__}: {exc}"
            else:
                if 200 <= response.status_code < 300:
                    delivered = True
                    try:
                        external_id = str(response.json().get("id") or "") or None
                    except ValueError:
                        external_id = None
                    break
                error = f"HTTP {response.status_code}: {response.text[:200]}"
                if response.status_code < 500 and response.status_code != 429:
                    break  # the helpdesk rejected it; retrying will not help
            if attempt < self.max_attempts:
                self.sleep(self.backoff_seconds * (2 ** (attempt - 1)))
        with session_scope(self.engine) as session:
            ticket = session.get(HandoffTicket, ticket_id)
            ticket.delivery_attempts = (ticket.delivery_attempts or 0) + attempts
            if delivered:
                ticket.delivery_status = DELIVERY_DELIVERED
                ticket.delivered_at = self.clock()
                ticket.external_id = external_id
                ticket.delivery_error = None
            else:
                ticket.delivery_status = DELIVERY_FAILED
                ticket.delivery_error = error[:1000]
                log.warning("helpdesk delivery of ticket %s failed: %s", ticket_id, error)
            audit.record(session, "handoff.delivery", at=self.clock(), actor="system",
                         conversation_id=ticket.conversation_id, order_id=ticket.order_id,
                         ticket_id=ticket_id, status=ticket.delivery_status, attempts=attempts)
            status: str = ticket.delivery_status
            return status
