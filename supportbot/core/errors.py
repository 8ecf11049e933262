"""Errors the core raises to its callers (the Rasa actions, the CLI)."""
from __future__ import annotations


class CoreError(Exception):
    user_facing = True  # the CLI prints the message instead of a traceback


class NotVerified(CoreError):
    """This conversation has not verified this order (email + reference) in the database,
    or - for money actions - has not proved control of the purchase email (one-time code)."""

    def __init__(self, conversation_id: str, reference: str, *, code_required: bool = False):
        self.conversation_id = conversation_id
        self.reference = reference
        self.code_required = code_required
        need = "a verified one-time code" if code_required else "email + reference verification"
        super().__init__(
            f"conversation {conversation_id!r} has not verified order {reference!r} ({need} needed)"
        )


class ConfirmationRequired(CoreError):
    """A change that moves money (or can later) was asked for without a recorded "yes" of the
    customer to exactly this change, after a one-time code (nothing was done)."""

    def __init__(self, conversation_id: str, reference: str, purpose: str):
        self.conversation_id = conversation_id
        self.reference = reference
        self.purpose = purpose
        super().__init__(
            f"conversation {conversation_id!r} has no confirmed {purpose} for order {reference!r}"
        )


class OrderNotFound(CoreError):
    def __init__(self, reference: str):
        self.reference = reference
        super().__init__(f"no order with reference {reference!r}")


class IdempotencyConflict(CoreError):
    """An idempotency key was reused for a different order or amount."""


def describe_error(exc: BaseException) -> str:
    """`Type: message` and its causes, on one line."""
    parts, seen = [], set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        text = str(current).strip().splitlines()
        parts.append(f"{type(current).__name__}: {text[0]}" if text else type(current).__name__)
        current = current.__cause__ or (None if current.__suppress_context__ else current.__context__)
    return " <- ".join(parts)
