"""Rasa's socket.io input channel, with card numbers masked before Rasa sees the text.

Rasa builds a ``UserMessage`` inside the closure of ``SocketIOInput.blueprint`` and there is no
hook between "data received" and "message built", so the blueprint is re-implemented here,
event for event (Rasa 3.6.21, rasa/core/channels/socketio.py), with three differences:

* the text (and every string in the message metadata) goes through
  ``supportbot.privacy.mask_card_numbers`` before the ``UserMessage`` exists, so neither
  Rasa's logs, the NLU pipeline nor the tracker store ever hold a card number;
* malformed events (not a dict, a non-string message, an unusable session id) are ignored
  or answered with a fresh session instead of raising inside the socket.io task;
* ``session_request`` awaits ``sio.enter_room`` (a coroutine in python-socketio 5.x; Rasa
  3.6.21 does not await it, so with session persistence its replies never reach the room);
* ``send_custom_json`` emits the custom payload as the event data (Rasa's version passes the
  payload's keys as keyword arguments of ``sio.emit``, which fails for anything but ``data``).

``name()`` stays ``"socketio"``, so the paths are the standard ones: the socket.io endpoint
at ``/socket.io`` and the health check at ``/webhooks/socketio/``.

credentials.yml::

    supportbot.channels.web.socketio_channel.MaskingSocketIOInput:
      user_message_evt: user_uttered
      bot_message_evt: bot_uttered
      session_persistence: true
"""
from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import rasa.core.channels.channel
import rasa.shared.utils.io
from rasa.core.channels.channel import OutputChannel, UserMessage
from rasa.core.channels.socketio import SocketBlueprint, SocketIOInput, SocketIOOutput
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse
from socketio import AsyncServer

from supportbot.privacy import mask_card_numbers

logger = logging.getLogger(__name__)

# A client-chosen session id becomes the Rasa conversation id and a socket.io room name.
SESSION_ID_PATTERN = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")
# Longer messages are cut: nobody types this much into a chat box, and NLU cost grows with it.
MAX_MESSAGE_CHARS = 4000
_MAX_METADATA_DEPTH = 8


def mask_value(value: Any, _depth: int = 0) -> Any:
    """A copy of a JSON-like value with card numbers masked in every string (keys included)."""
    if isinstance(value, str):
        return mask_card_numbers(value)
    if _depth >= _MAX_METADATA_DEPTH:
        return None
    if isinstance(value, dict):
        return {
            mask_card_numbers(k) if isinstance(k, str) else k: mask_value(v, _depth + 1)
            for k, v in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [mask_value(v, _depth + 1) for v in value]
    return value


def valid_session_id(value: Any) -> bool:
    return isinstance(value, str) and bool(SESSION_ID_PATTERN.match(value))


def masked_text(data: dict[str, Any]) -> str | None:
    """The message text of a ``user_uttered`` event, masked and length-limited.

    None when the event carries no usable text (a non-string ``message``).
    """
    text = data.get("message", "")
    if text is None:
        text = ""
    if not isinstance(text, str):
        return None
    # mask first: cutting first could leave most of a card number that no longer passes Luhn
    return mask_card_numbers(text)[:MAX_MESSAGE_CHARS]


def masked_metadata(data: dict[str, Any], metadata_key: str) -> dict[str, Any]:
    """The metadata of a ``user_uttered`` event (a dict or a JSON string), masked."""
    metadata = data.get(metadata_key) or {}
    if isinstance(metadata, str):
        try:
            metadata = json.loads(metadata)
        except ValueError:
            logger.debug("Ignoring socket.io message metadata that is not JSON.")
            metadata = {}
    if not isinstance(metadata, dict):
        metadata = {}
    return mask_value(metadata)


class MaskingSocketIOOutput(SocketIOOutput):
    """Rasa's socket.io output, with a working ``send_custom_json`` and the channel's
    namespace honoured (Rasa's output always emits to the default namespace)."""

    def __init__(
        self, sio: AsyncServer, bot_message_evt: str, namespace: str | None = None
    ) -> None:
        super().__init__(sio, bot_message_evt)
        self.namespace = namespace

    async def _send_message(self, socket_id: str, response: Any) -> None:
        await self.sio.emit(
            self.bot_message_evt, response, room=socket_id, namespace=self.namespace
        )

    async def send_custom_json(
        self, recipient_id: str, json_message: dict[str, Any], **kwargs: Any
    ) -> None:
        payload = dict(json_message)
        # Rasa's convention for this channel was `{"data": {...}}`; keep it working.
        if set(payload) <= {"data", "room"} and isinstance(payload.get("data"), dict):
            payload = payload["data"]
        payload.pop("room", None)
        await self._send_message(recipient_id, payload)


class MaskingSocketIOInput(SocketIOInput):
    """``SocketIOInput`` that masks card numbers before building the ``UserMessage``."""

    @classmethod
    def name(cls) -> str:
        return "socketio"

    def get_output_channel(self) -> OutputChannel | None:
        if self.sio is None:
            return super().get_output_channel()
        return MaskingSocketIOOutput(self.sio, self.bot_message_evt, self.namespace)

    def build_user_message(
        self, sid: str, data: Any, output_channel: OutputChannel
    ) -> UserMessage | None:
        """The masked ``UserMessage`` for a ``user_uttered`` event, or None to ignore it."""
        if not isinstance(data, dict):
            logger.debug("Ignoring a socket.io user message that is not an object.")
            return None
        if self.session_persistence:
            sender_id = data.get("session_id")
            if not sender_id:
                rasa.shared.utils.io.raise_warning(
                    "A message without a valid session_id was received. This message will "
                    "be ignored. Make sure to set a proper session id using the "
                    "`session_request` socketIO event."
                )
                return None
            if not valid_session_id(sender_id):
                logger.debug("Ignoring a socket.io message with a malformed session_id.")
                return None
        else:
            sender_id = sid
        text = masked_text(data)
        if text is None:
            logger.debug("Ignoring a socket.io user message whose text is not a string.")
            return None
        return UserMessage(
            text,
            output_channel,
            sender_id,
            input_channel=self.name(),
            metadata=masked_metadata(data, self.metadata_key or "metadata"),
        )

    def blueprint(
        self, on_new_message: Callable[[UserMessage], Awaitable[Any]]
    ) -> Blueprint:
        # Same as Rasa: CORS handling is left to Sanic-CORS (`rasa run --cors`), see
        # https://github.com/miguelgrinberg/python-socketio/issues/205#issuecomment-493769183
        sio = AsyncServer(async_mode="sanic", cors_allowed_origins=[])
        socketio_webhook = SocketBlueprint(
            sio, self.socketio_path, "socketio_webhook", __name__
        )
        self.sio = sio

        @socketio_webhook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @sio.on("connect", namespace=self.namespace)
        async def connect(sid: str, environ: dict, auth: dict | None = None) -> bool:
            if self.jwt_key:
                jwt_payload = None
                if isinstance(auth, dict) and auth.get("token"):
                    try:
                        jwt_payload = rasa.core.channels.channel.decode_bearer_token(
                            auth.get("token"), self.jwt_key, self.jwt_algorithm
                        )
                    except Exception:  # a bad token is a refused connection, not a crash
                        jwt_payload = None
                if not jwt_payload:
                    return False
            logger.debug(f"User {sid} connected to socketIO endpoint.")
            return True

        @sio.on("disconnect", namespace=self.namespace)
        async def disconnect(sid: str, *args: Any) -> None:
            logger.debug(f"User {sid} disconnected from socketIO endpoint.")

        @sio.on("session_request", namespace=self.namespace)
        async def session_request(sid: str, data: Any = None) -> None:
            session_id = data.get("session_id") if isinstance(data, dict) else None
            if not valid_session_id(session_id):
                session_id = uuid.uuid4().hex
            if self.session_persistence:
                await sio.enter_room(sid, session_id, namespace=self.namespace)
            await sio.emit("session_confirm", session_id, room=sid, namespace=self.namespace)
            logger.debug(f"User {sid} joined session {session_id}.")

        @sio.on(self.user_message_evt, namespace=self.namespace)
        async def handle_message(sid: str, data: Any = None) -> None:
            output_channel = MaskingSocketIOOutput(sio, self.bot_message_evt, self.namespace)
            message = self.build_user_message(sid, data, output_channel)
            if message is not None:
                await on_new_message(message)

        return socketio_webhook


__all__ = ["MaskingSocketIOInput", "MaskingSocketIOOutput", "mask_value", "masked_text"]
