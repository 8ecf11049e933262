"""Who a conversation has proved to be: read-only queries on the core's verification tables.

For channels that deliver answers somewhere other than the chat that asked (the email
bridge): a conversation that verified an order (email + reference of the same order, table
`conversation_verifications`) may have its answers sent only to that order's email address,
whatever address the request came from. Nothing here changes the database.
"""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from supportbot.db.models import ConversationVerification, Customer, Order


def verified_emails(session: Session, conversation_id: str) -> list[str]:
    """The email addresses of the orders this conversation verified, newest verification first
    (each address once). Empty: the conversation has proved nothing."""
    rows = session.execute(
        select(Customer.email)
        .select_from(ConversationVerification)
        .join(Order, Order.id == ConversationVerification.order_id)
        .join(Customer, Customer.id == Order.customer_id)
        .where(ConversationVerification.conversation_id == conversation_id)
        .order_by(ConversationVerification.verified_at.desc(), ConversationVerification.id.desc())
    ).scalars().all()
    seen: list[str] = []
    for email in rows:
        address = email.strip().lower()
        if address not in seen:
            seen.append(address)
    return seen


def verified_email(session: Session, conversation_id: str) -> str | None:
    """The email address of the order this conversation verified most recently, or None."""
    emails = verified_emails(session, conversation_id)
    return emails[0] if emails else None
