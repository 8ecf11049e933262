"""Audit-log entries of what console users do (the core's `audit_log`, `supportbot.core.audit`).

Every export, reveal, erasure, tag and review change is recorded with the actor, the time and
(for exports) the filter. `audit_log.actor` holds 32 characters: the actor column keeps the
start of the console user's email, `details["user"]` the whole of it.
"""
from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from supportbot.core import audit

ACTOR_CHARS = 32


def record(session: Session, action: str, actor: str, *, conversation_id: str | None = None,
           **details: Any) -> None:
    if not actor or not actor.strip():
        raise ValueError("an audited review action needs its actor (the console user)")
    actor = actor.strip()
    audit.record(session, f"review.{action}", actor=actor[:ACTOR_CHARS],
                 conversation_id=conversation_id, user=actor, **details)


def record_reveal(session: Session, actor: str, conversation_id: str, what: str = "emails") -> None:
    """A console user saw the unmasked email addresses of a conversation."""
    record(session, "reveal", actor, conversation_id=conversation_id, revealed=what)
