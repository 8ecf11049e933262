"""What the customer hears when a part behind the Rasa server fails, and that nothing is lost.

Rasa 3.6 itself answers a fault with silence, and sometimes with worse:

- the action server unreachable, killed mid-call or answering 5xx: `RemoteAction.run` raises,
  the processor logs "the actions events are lost" and the customer gets no reply at all;
- the conversation store unreachable: Rasa's `FailSafeTrackerStore` turns the error into "no
  such conversation", the processor starts an *empty* conversation (a new session: slots,
  verification and the open task gone for good once it is saved) and keeps the message only
  in an in-memory store nobody reads again.

`install_failure_replies()` (called once, when our tracker store is built) changes three
methods of the Rasa server process:

- `RemoteAction.run`: an action that could not be run (connection error, timeout, 5xx, an
  invalid answer) utters `ACTION_FAILED_REPLY` instead of nothing. Rejections (400, a form
  that refuses the input) are Rasa's normal flow and stay as they are. The action's own
  events are lost exactly as before - whatever the action server had committed in the
  database (a pending refund, say) is the truth the next turn reads.
- `FailSafeTrackerStore.retrieve`: `ConversationStoreUnavailable` (raised by our
  `CachingSQLTrackerStore`, tracker_store.py) passes through instead of becoming "none".
- `MessageProcessor.handle_message`: on `ConversationStoreUnavailable` the turn is not run;
  the customer gets `STORE_UNAVAILABLE_REPLY`, and the message (with what the NLU made of it)
  and that reply are handed to the store, which writes them into the conversation as soon as
  the database answers again (`CachingSQLTrackerStore.keep`).
"""
from __future__ import annotations

import logging
import threading
from typing import Any

logger = logging.getLogger(__name__)

#: said when an action could not be run; the customer's details are still in the conversation
ACTION_FAILED_REPLY = (
    "Sorry, something went wrong on our side and I could not finish that step. Nothing has "
    "been lost and nothing was done twice: please send your last message again in a moment."
)
#: said when the conversation store (the database) is unreachable; the message is kept
STORE_UNAVAILABLE_REPLY = (
    "Sorry, we are having a technical problem right now. I have kept your message, but I "
    "cannot work on it at the moment: please send it again in a minute or two."
)
#: metadata of the bot messages above, so that transcripts and the console can tell them apart
FAULT_METADATA_KEY = "supportbot_fault"


class ConversationStoreUnavailable(Exception):
    """The conversation store could not be read or written (the database is unreachable)."""

    def __init__(self, sender_id: str, store: Any = None):
        super().__init__(f"the conversation store is unavailable (conversation {sender_id!r})")
        self.sender_id = sender_id
        self.store = store


_installed = False
_lock = threading.Lock()


def install_failure_replies() -> None:
    """Idempotent; see the module docstring."""
    global _installed
    with _lock:
        if _installed:
            return
        _patch_remote_action()
        _patch_fail_safe_store()
        _patch_processor()
        _installed = True


def _patch_remote_action() -> None:
    from rasa.core.actions.action import ActionExecutionRejection, RemoteAction
    from rasa.shared.core.events import BotUttered

    original = RemoteAction.run

    async def run(self: Any, output_channel: Any, nlg: Any, tracker: Any, domain: Any) -> Any:
        try:
            return await original(self, output_channel, nlg, tracker, domain)
        except ActionExecutionRejection:
            raise
        except Exception as exc:  # noqa: BLE001 - every other failure: a reply, not silence
            logger.error("action %r could not be run (%s: %s); the customer was told so",
                         self.name(), exc.__class__.__name__, exc)
            # the processor sends returned BotUttered events to the channel (side effects)
            return [BotUttered(ACTION_FAILED_REPLY,
                               metadata={FAULT_METADATA_KEY: "action_failed", "action": self.name()})]

    run.__wrapped__ = original  # type: ignore[attr-defined]
    RemoteAction.run = run


def _patch_fail_safe_store() -> None:
    from rasa.core.tracker_store import FailSafeTrackerStore

    original = FailSafeTrackerStore.retrieve

    async def retrieve(self: Any, sender_id: str) -> Any:
        try:
            return await self._tracker_store.retrieve(sender_id)
        except ConversationStoreUnavailable:
            raise
        except Exception:  # noqa: BLE001 - Rasa's own behaviour for every other store
            return await original(self, sender_id)

    retrieve.__wrapped__ = original  # type: ignore[attr-defined]
    FailSafeTrackerStore.retrieve = retrieve


def _patch_processor() -> None:
    from rasa.core.channels.channel import CollectingOutputChannel
    from rasa.core.processor import MessageProcessor
    from rasa.shared.core.events import BotUttered, UserUttered

    original = MessageProcessor.handle_message

    async def handle_message(self: Any, message: Any) -> Any:
        try:
            return await original(self, message)
        except ConversationStoreUnavailable as exc:
            logger.error("conversation %r: the store is unavailable; the message is kept and the "
                         "customer asked to send it again", exc.sender_id)
            try:
                parse_data = await self.parse_message(message)
            except Exception:  # noqa: BLE001 - the reply matters more than the parse
                parse_data = {"text": message.text, "intent": {}, "entities": []}
            kept = [
                UserUttered(message.text, parse_data.get("intent"), parse_data.get("entities", []),
                            parse_data, input_channel=message.input_channel,
                            message_id=message.message_id, metadata=message.metadata),
                BotUttered(STORE_UNAVAILABLE_REPLY,
                           metadata={FAULT_METADATA_KEY: "store_unavailable"}),
            ]
            store = exc.store
            if store is not None and hasattr(store, "keep"):
                store.keep(exc.sender_id, kept)
            else:
                logger.error("conversation %r: no store to keep the message in", exc.sender_id)
            output = message.output_channel
            await output.send_response(message.sender_id, {"text": STORE_UNAVAILABLE_REPLY})
            if isinstance(output, CollectingOutputChannel):
                return output.messages
            return None

    handle_message.__wrapped__ = original  # type: ignore[attr-defined]
    MessageProcessor.handle_message = handle_message
