"""Which conversation an email belongs to.

Nothing a sender writes proves who they are: not `From:`, not `Reply-To:`. A mail joins an
existing conversation only through its In-Reply-To / References naming a Message-ID the bridge
itself sent (a random secret, supportbot.mail.new_message_id, recorded as direction "out" in
email_thread_ids), and only when it comes from the conversation's customer address or from
the address that reply was sent to (a colleague replying into someone's thread starts their
own conversation: verification is per conversation). The customer's own Message-IDs are seen
by everyone they wrote to and never join. Anything else starts a new conversation with a new
server-issued id `email-<192 random bits>` (the Rasa sender id; never shown to anyone).

A mail that is processed again (Rasa was down) keeps the conversation it was given.
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session

from supportbot.channels.email_bridge import store


@dataclass(frozen=True)
class ThreadDecision:
    conversation_id: str
    how: str  # headers | new | again
    offered_buttons: list[dict] = field(default_factory=list)
    first_turn: bool = False  # no turn of this conversation has reached the bot yet

    @property
    def created(self) -> bool:
        return self.first_turn


def new_conversation_id() -> str:
    return f"email-{secrets.token_urlsafe(24)}"


def resolve_conversation(session: Session, *, sender: str, thread_ids: list[str], subject: str,
                         now: datetime, known_conversation: str | None = None) -> ThreadDecision:
    if known_conversation:
        row = store.get_conversation(session, known_conversation)
        if row is not None:
            return ThreadDecision(row["id"], "again", store.offered_buttons(row), first_turn=row["turns"] == 0)
    for row in store.conversation_for_sent_ids(session, thread_ids[:50]):  # newest first; bounded
        if sender in (row["customer_address"], row["sent_to"]):
            return ThreadDecision(row["id"], "headers", store.offered_buttons(row))
    conversation_id = new_conversation_id()
    store.create_conversation(session, conversation_id, sender, subject, now)
    return ThreadDecision(conversation_id, "new", [], first_turn=True)
