"""What every input channel does to a message before Rasa sees it (REST and socket.io; the
email bridge goes through the REST channel). Standard library + `privacy` + `vocabulary` only.

1. Size: a message longer than MAX_MESSAGE_CHARS never reaches the NLU (a 1 MB message kept
   the Rasa server busy for 13 s, and every other conversation with it). The channel answers
   TOO_LONG_REPLY itself and the conversation goes on with the next message.
2. The `/intent{json}` shorthand skips the NLU and sets entities directly, so it is what an
   attacker sends (`/inform{"verified_ref": "100000001"}`, 18 KB of nested JSON). Only what
   the bot's own buttons send is kept: one `/intent` (not one of Rasa's internal intents),
   optionally with at most MAX_SHORTHAND_ENTITIES flat string entities from
   SHORTHAND_ENTITIES, each value from its closed vocabulary, MAX_SHORTHAND_CHARS in all,
   no confidence (`@0.9`). Anything else starting with "/" loses its leading slashes and is
   read by the NLU as the words it is. Nothing a shorthand sets is proof of anything: the
   core checks verification, codes and confirmations in its own tables.
3. Card numbers are masked (`supportbot.privacy.mask_card_numbers`, the one rule).
4. Metadata: a client's own metadata is dropped; the channel sets `channel` and
   `client_address` (`channel_metadata`).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from supportbot.core.vocabulary import REFUND_REASONS, TEAMS, VAT_REFUND_REASON
from supportbot.privacy import mask_card_numbers

MAX_MESSAGE_CHARS = 4000
TOO_LONG_REPLY = (
    f"Sorry, that message is too long for me to read (at most {MAX_MESSAGE_CHARS:,} characters). "
    "Please send it again in a shorter form - the question and your order reference are enough."
)

INTENT_PREFIX = "/"  # Rasa's INTENT_MESSAGE_PREFIX
MAX_SHORTHAND_CHARS = 300
MAX_SHORTHAND_ENTITIES = 2
# Rasa's own intents that drive its internals: the bot's buttons never send them
RASA_INTERNAL_INTENTS = frozenset({"restart", "back", "session_start", "nlu_fallback"})
_FAQ_ARTICLE_ID = re.compile(r"[a-z0-9][a-z0-9-]{0,79}")
_REFUND_REASON_VALUES = frozenset(REFUND_REASONS) | {VAT_REFUND_REASON}
# entity -> its closed vocabulary: what the buttons of actions/ and domain.yml send
SHORTHAND_ENTITIES = {
    "refund_reason": lambda value: value in _REFUND_REASON_VALUES,
    "handoff_team": lambda value: value in TEAMS,
    "faq_article": lambda value: bool(_FAQ_ARTICLE_ID.fullmatch(value)),
}
_SHORTHAND = re.compile(r"/(?P<intent>[a-z][a-z0-9_]{0,63})(?P<entities>\{.*\})?", re.DOTALL)

CHANNEL_NAMES = ("rest", "widget", "email")
MAX_CLIENT_ADDRESS_CHARS = 320


def allowed_shorthand(text: str) -> bool:
    """True when `text` is a shorthand the bot's own buttons send (module docstring, 2)."""
    if len(text) > MAX_SHORTHAND_CHARS:
        return False
    match = _SHORTHAND.fullmatch(text)
    if not match or match.group("intent") in RASA_INTERNAL_INTENTS:
        return False
    raw = match.group("entities")
    if raw is None:
        return True
    try:
        entities = json.loads(raw)
    except ValueError:
        return False
    if not isinstance(entities, dict) or not 0 < len(entities) <= MAX_SHORTHAND_ENTITIES:
        return False
    for name, value in entities.items():
        check = SHORTHAND_ENTITIES.get(name)
        if check is None or not isinstance(value, str) or not check(value):
            return False
    return True


@dataclass(frozen=True)
class Screened:
    """A message after the channel's checks: `text` goes to Rasa; when it is None the channel
    sends `reply` itself (if any) and Rasa never sees the message."""

    text: str | None
    reply: str | None = None
    reason: str = "ok"  # ok | too_long | shorthand_refused


def screen_text(text: str) -> Screened:
    """The checks 1-3 of the module docstring for one message's text."""
    if len(text) > MAX_MESSAGE_CHARS:
        return Screened(None, TOO_LONG_REPLY, "too_long")
    stripped = text.strip()
    if stripped.startswith(INTENT_PREFIX):
        if allowed_shorthand(stripped):
            return Screened(stripped)
        return Screened(mask_card_numbers(stripped.lstrip(INTENT_PREFIX).strip()),
                        reason="shorthand_refused")
    return Screened(mask_card_numbers(text))


def channel_metadata(channel: str, client_address: str | None) -> dict[str, Any]:
    """The only metadata a message carries into Rasa (the channels' contract)."""
    return {"channel": channel, "client_address": str(client_address or "")[:MAX_CLIENT_ADDRESS_CHARS]}


def trusted_metadata(sent: Any, channel: str, client_address: str | None) -> dict[str, Any]:
    """Metadata from a trusted internal caller (the REST channel with its token): only
    `channel` (one of CHANNEL_NAMES) and `client_address` (a string) are kept from `sent`."""
    metadata = channel_metadata(channel, client_address)
    if isinstance(sent, dict):
        if sent.get("channel") in CHANNEL_NAMES:
            metadata["channel"] = sent["channel"]
        address = sent.get("client_address")
        if isinstance(address, str) and address.strip():
            metadata["client_address"] = mask_card_numbers(address.strip())[:MAX_CLIENT_ADDRESS_CHARS]
    return metadata
