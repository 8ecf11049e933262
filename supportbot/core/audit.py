"""The audit log: every decision and money movement, appended in the caller's transaction."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from supportbot.core.timeutil import utcnow
from supportbot.db.models import AuditLog


def record(
    session: Session,
    action: str,
    *,
    at: datetime | None = None,
    actor: str = "bot",
    conversation_id: str | None = None,
    order_id: int | None = None,
    **details: Any,
) -> AuditLog:
    """Append one entry. `details` must be JSON-serialisable and hold no secrets
    (never a one-time code, never a full email address or card number)."""
    entry = AuditLog(
        occurred_at=at or utcnow(),
        actor=actor,
        action=action,
        conversation_id=conversation_id,
        order_id=order_id,
        details=details,
    )
    session.add(entry)
    return entry
