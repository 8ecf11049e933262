"""Errors of the review domain (each carries a message a console user can read)."""
from __future__ import annotations


class ReviewError(Exception):
    """Base class."""

    user_facing = True  # the CLI prints the message instead of a traceback


class InvalidInput(ReviewError, ValueError):
    """A filter, tag, status or intent that is not valid; `field` names the input."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class ConversationNotFound(ReviewError, LookupError):
    def __init__(self, conversation_id: str) -> None:
        super().__init__(f"no indexed conversation {conversation_id!r}")
        self.conversation_id = conversation_id


class TicketNotFound(ReviewError, LookupError):
    def __init__(self, ticket_id: int) -> None:
        super().__init__(f"no handoff ticket {ticket_id}")
        self.ticket_id = ticket_id


class TicketStateError(ReviewError):
    """A claim or close that the ticket's state does not allow (e.g. already closed)."""
