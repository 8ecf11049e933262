"""What a console user may see of a stored text.

- card numbers: always masked, with the project's one masking function
  (`supportbot.privacy.mask_card_numbers`), including in revealed views and exports;
- email addresses: masked (`a***e@example.com`, the core's `mask_email`) unless revealed;
- one-time codes: the spans the NLU marked as `one_time_code` are always blanked, and the
  slot of that name is never shown.
"""
from __future__ import annotations

from typing import Any

from supportbot.core.orders import mask_email
from supportbot.core.vocabulary import EMAIL_ADDRESS, ORDER_REFERENCE_DIGITS
from supportbot.privacy import mask_card_numbers

__all__ = ["mask_card_numbers", "mask_emails", "mask_text", "mask_value", "mask_slot",
           "blank_spans", "mask_reference"]

SECRET_ENTITIES = frozenset({"one_time_code"})
SECRET_SLOTS = frozenset({"one_time_code"})
CODE_MASK = "******"
_MAX_DEPTH = 8


def mask_emails(text: str) -> str:
    return EMAIL_ADDRESS.sub(lambda m: mask_email(m.group(0)), text)


def mask_text(text: str | None, *, reveal: bool = False) -> str:
    """A stored text as a console user may see it."""
    if not text:
        return text or ""
    text = mask_card_numbers(text)
    return text if reveal else mask_emails(text)


def blank_spans(text: str, entities: Any) -> str:
    """`text` with the spans of secret entities (one-time codes) replaced by CODE_MASK."""
    if not isinstance(text, str) or not isinstance(entities, list):
        return text
    spans = []
    for entity in entities:
        if not isinstance(entity, dict) or entity.get("entity") not in SECRET_ENTITIES:
            continue
        start, end = entity.get("start"), entity.get("end")
        if isinstance(start, int) and isinstance(end, int) and 0 <= start < end <= len(text):
            spans.append((start, end))
    for start, end in sorted(spans, reverse=True):
        text = text[:start] + CODE_MASK + text[end:]
    return text


def mask_value(value: Any, *, reveal: bool = False, _depth: int = 0) -> Any:
    """A JSON-like value with every string masked as `mask_text` does."""
    if isinstance(value, str):
        return mask_text(value, reveal=reveal)
    if _depth >= _MAX_DEPTH:
        return None
    if isinstance(value, dict):
        return {str(k): mask_value(v, reveal=reveal, _depth=_depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [mask_value(v, reveal=reveal, _depth=_depth + 1) for v in value]
    return value


def mask_slot(name: str, value: Any, *, reveal: bool = False) -> Any:
    """A slot value as shown: a secret slot's code never (a status such as "verified" stays)."""
    if name in SECRET_SLOTS and isinstance(value, str) and any(ch.isdigit() for ch in value):
        return CODE_MASK
    return mask_value(value, reveal=reveal)


def mask_reference(reference: str | None) -> str | None:
    """An order reference as the index keeps it: `100000001` -> `******001`."""
    if not reference:
        return None
    keep = 3 if len(reference) >= ORDER_REFERENCE_DIGITS else 1
    return "*" * (len(reference) - keep) + reference[-keep:]
