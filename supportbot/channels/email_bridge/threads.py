"""Which conversation an email belongs to.

1. Thread headers first: In-Reply-To, then References (newest first) are looked up among the
   Message-IDs of known conversations (the customer's earlier mails and our replies). A match
   counts only when the conversation belongs to the same sender address: verification is per
   conversation, so a colleague replying into someone's thread starts their own conversation.
2. Otherwise the sender's most recent conversation active within `window_days` (mail without
   thread headers, or replies to mail we never saw).
3. Otherwise a new conversation `email-<uuid4>` (the Rasa sender id).
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from supportbot.channels.email_bridge import store


@dataclass(frozen=True)
class ThreadDecision:
    conversation_id: str
    how: str  # headers | sender | new
    offered_buttons: list[dict] = field(default_factory=list)

    @property
    def created(self) -> bool:
        return self.how == "new"


def new_conversation_id() -> str:
    return f"email-{uuid.uuid4()}"


def resolve_conversation(session: Session, *, sender: str, thread_ids: list[str], subject: str,
                         now: datetime, window_days: int) -> ThreadDecision:
    for row in store.conversation_for_ids(session, thread_ids[:50]):  # newest first; bounded query
        if row["customer_address"] == sender:
            return ThreadDecision(row["id"], "headers", store.offered_buttons(row))
    row = store.latest_conversation_of(session, sender, now - timedelta(days=window_days))
    if row is not None:
        return ThreadDecision(row["id"], "sender", store.offered_buttons(row))
    conversation_id = new_conversation_id()
    store.create_conversation(session, conversation_id, sender, subject, now)
    return ThreadDecision(conversation_id, "new", [])
