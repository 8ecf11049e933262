"""Rasa's socket.io input channel for the website widget, hardened.

Rasa builds a ``UserMessage`` inside the closure of ``SocketIOInput.blueprint`` and there is no
hook between "data received" and "message built", so the blueprint is re-implemented here,
event for event (Rasa 3.6.21, rasa/core/channels/socketio.py), with these differences:

* conversation ids are issued by the server: ``session_request`` answers ``session_confirm``
  with ``{"session_id": ..., "session_token": ...}``, the token an HMAC of the id under a
  server secret (SUPPORTBOT_SECRET_KEY; with the development default, a random secret per
  process). A ``session_request`` for an id without its token gets a fresh id: nobody joins
  another visitor's room, or reads its replies, by knowing (or guessing) its id. Messages go
  to the conversation this socket proved, whatever ``session_id`` they carry;
* only browsers on the configured origins (Settings.cors_origins, SUPPORTBOT_CORS_ORIGINS)
  may connect, over websocket or long-polling (websockets know no CORS: the ``Origin`` header
  is checked at ``connect``); clients that send no ``Origin`` (not a browser) may connect;
* every message goes through ``supportbot.channels.guard.screen_text`` (too long: the channel
  answers itself; the ``/intent{...}`` shorthand only as the bot's buttons send it; card
  numbers masked) before the ``UserMessage`` exists, so neither Rasa's logs, the NLU nor the
  tracker store ever hold a card number;
* metadata the client sends is dropped: the message carries ``{"channel": "widget",
  "client_address": <the socket's address>}``;
* malformed events (not a dict, a non-string message) are ignored instead of raising inside
  the socket.io task;
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

import base64
import hashlib
import hmac
import logging
import re
import secrets
import uuid
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import rasa.core.channels.channel
import rasa.shared.utils.io
from rasa.core.channels.channel import OutputChannel, UserMessage
from rasa.core.channels.socketio import SocketBlueprint, SocketIOInput, SocketIOOutput
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse
from socketio import AsyncServer

from supportbot.channels.guard import MAX_MESSAGE_CHARS, Screened, channel_metadata, screen_text
from supportbot.settings import Settings

logger = logging.getLogger(__name__)

CHANNEL = "widget"
# the ids this channel issues (uuid4 hex); the Rasa conversation id and the socket.io room
SESSION_ID_PATTERN = re.compile(r"[0-9a-f]{32}")
DEVELOPMENT_SECRET = Settings.secret_key
# one socket.io packet: a message of MAX_MESSAGE_CHARS, JSON-escaped, fits many times over
MAX_PACKET_BYTES = 128 * 1024
_TOKEN_CONTEXT = b"supportbot socket.io session\x00"


def valid_session_id(value: Any) -> bool:
    return isinstance(value, str) and bool(SESSION_ID_PATTERN.fullmatch(value))


class SessionSigner:
    """Issues conversation ids with their tokens and checks a client's claim to one."""

    def __init__(self, secret: str | bytes) -> None:
        key = secret.encode("utf-8") if isinstance(secret, str) else secret
        if not key:
            raise ValueError("the session secret is empty")
        self._key = hashlib.sha256(b"supportbot socket.io sessions\x00" + key).digest()

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> SessionSigner:
        settings = settings or Settings.from_env()
        if settings.secret_key and settings.secret_key != DEVELOPMENT_SECRET:
            return cls(settings.secret_key)
        logger.warning("SUPPORTBOT_SECRET_KEY is the development value: widget sessions are "
                       "signed with a secret of this process and end when Rasa restarts")
        return cls(secrets.token_bytes(32))

    def token(self, session_id: str) -> str:
        mac = hmac.new(self._key, _TOKEN_CONTEXT + session_id.encode("utf-8"), hashlib.sha256)
        return base64.urlsafe_b64encode(mac.digest()).decode("ascii").rstrip("=")

    def verify(self, session_id: Any, token: Any) -> bool:
        if not valid_session_id(session_id) or not isinstance(token, str) or not token:
            return False
        return hmac.compare_digest(self.token(session_id).encode("ascii"),
                                   token.encode("utf-8", "replace"))

    def issue(self) -> tuple[str, str]:
        session_id = uuid.uuid4().hex
        return session_id, self.token(session_id)


def origin_allowed(origin: str | None, allowed: Iterable[str]) -> bool:
    """A browser's Origin against the configured ones ("*": any); no Origin: not a browser."""
    if not origin:
        return True
    allowed = tuple(allowed)
    return "*" in allowed or origin.rstrip("/") in {a.rstrip("/") for a in allowed}


def environ_address(environ: dict[str, Any]) -> str:
    """The client's address of a socket.io connection (Sanic's view of the request)."""
    request = environ.get("sanic.request")
    if request is not None:
        return str(getattr(request, "remote_addr", "") or getattr(request, "ip", "") or "")
    return str(environ.get("REMOTE_ADDR") or "")


def masked_text(data: dict[str, Any]) -> Screened | None:
    """The screened text of a ``user_uttered`` event (guard.screen_text); None when the event
    carries no usable text (a non-string ``message``)."""
    text = data.get("message", "")
    if text is None:
        text = ""
    if not isinstance(text, str):
        return None
    return screen_text(text)


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
    """``SocketIOInput`` with server-issued sessions, an origin check and the channel guard."""

    def __init__(self, *args: Any, signer: SessionSigner | None = None,
                 allowed_origins: Iterable[str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._signer = signer
        self._allowed_origins = tuple(allowed_origins) if allowed_origins is not None else None
        self._sessions: dict[str, str] = {}  # socket id -> the conversation it proved
        self._addresses: dict[str, str] = {}  # socket id -> client address

    @classmethod
    def name(cls) -> str:
        return "socketio"

    @property
    def signer(self) -> SessionSigner:
        if self._signer is None:
            self._signer = SessionSigner.from_settings()
        return self._signer

    @property
    def allowed_origins(self) -> tuple[str, ...]:
        if self._allowed_origins is None:
            self._allowed_origins = tuple(Settings.from_env().cors_origins)
        return self._allowed_origins

    def get_output_channel(self) -> OutputChannel | None:
        if self.sio is None:
            return super().get_output_channel()
        return MaskingSocketIOOutput(self.sio, self.bot_message_evt, self.namespace)

    def session_of(self, sid: str) -> str | None:
        """The conversation socket `sid` proved with ``session_request`` (None: none yet)."""
        return self._sessions.get(sid)

    def claim_session(self, sid: str, data: Any) -> tuple[str, str]:
        """(session id, token) for a ``session_request``: the stored one when the client
        proves it with its token, else a fresh one. The socket is bound to it."""
        session_id = data.get("session_id") if isinstance(data, dict) else None
        token = data.get("session_token") if isinstance(data, dict) else None
        if self.signer.verify(session_id, token):
            assert isinstance(session_id, str) and isinstance(token, str)
        else:
            if session_id:
                logger.info("socket %s asked for a session it could not prove: a new one", sid)
            session_id, token = self.signer.issue()
        self._sessions[sid] = session_id
        return session_id, token

    def forget(self, sid: str) -> None:
        self._sessions.pop(sid, None)
        self._addresses.pop(sid, None)

    def screen_user_message(self, sid: str, data: Any) -> tuple[str, Screened] | None:
        """(conversation id, screened text) of a ``user_uttered`` event; None to ignore it."""
        if not isinstance(data, dict):
            logger.debug("Ignoring a socket.io user message that is not an object.")
            return None
        if self.session_persistence:
            sender_id = self.session_of(sid)
            if sender_id is None:
                rasa.shared.utils.io.raise_warning(
                    "A message from a socket without a session was received. This message will "
                    "be ignored. Make sure to ask for one with the `session_request` socketIO "
                    "event first."
                )
                return None
            claimed = data.get("session_id")
            if claimed not in (None, "", sender_id):
                logger.info("Ignoring a socket.io message of %s for another session.", sid)
                return None
        else:
            sender_id = sid
        screened = masked_text(data)
        if screened is None:
            logger.debug("Ignoring a socket.io user message whose text is not a string.")
            return None
        return sender_id, screened

    def build_user_message(
        self, sid: str, data: Any, output_channel: OutputChannel
    ) -> UserMessage | None:
        """The ``UserMessage`` for a ``user_uttered`` event, or None (ignored, or answered by
        the channel itself: ``screen_user_message``)."""
        screened = self.screen_user_message(sid, data)
        if screened is None or screened[1].text is None:
            return None
        sender_id, text = screened
        return UserMessage(
            text.text,
            output_channel,
            sender_id,
            input_channel=self.name(),
            metadata=channel_metadata(CHANNEL, self._addresses.get(sid)),
        )

    def blueprint(
        self, on_new_message: Callable[[UserMessage], Awaitable[Any]]
    ) -> Blueprint:
        # CORS headers of long-polling are left to Sanic-CORS (`rasa run --cors <origins>`,
        # supportbot run passes Settings.cors_origins), see
        # https://github.com/miguelgrinberg/python-socketio/issues/205#issuecomment-493769183;
        # the origin itself is checked at `connect`, for websockets too.
        sio = AsyncServer(async_mode="sanic", cors_allowed_origins=[],
                          max_http_buffer_size=MAX_PACKET_BYTES)
        socketio_webhook = SocketBlueprint(
            sio, self.socketio_path, "socketio_webhook", __name__
        )
        self.sio = sio
        allowed = self.allowed_origins
        self.signer  # noqa: B018 (built now: the secret lives as long as this server)

        @socketio_webhook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @sio.on("connect", namespace=self.namespace)
        async def connect(sid: str, environ: dict, auth: dict | None = None) -> bool:
            origin = environ.get("HTTP_ORIGIN")
            if not origin_allowed(origin, allowed):
                logger.warning("refused a socket.io connection from origin %r", origin)
                return False
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
            self._addresses[sid] = environ_address(environ)
            logger.debug(f"User {sid} connected to socketIO endpoint.")
            return True

        @sio.on("disconnect", namespace=self.namespace)
        async def disconnect(sid: str, *args: Any) -> None:
            self.forget(sid)
            logger.debug(f"User {sid} disconnected from socketIO endpoint.")

        @sio.on("session_request", namespace=self.namespace)
        async def session_request(sid: str, data: Any = None) -> None:
            previous = self.session_of(sid)
            session_id, token = self.claim_session(sid, data)
            if self.session_persistence:
                if previous and previous != session_id:
                    await sio.leave_room(sid, previous, namespace=self.namespace)
                await sio.enter_room(sid, session_id, namespace=self.namespace)
            await sio.emit("session_confirm", {"session_id": session_id, "session_token": token},
                           room=sid, namespace=self.namespace)
            logger.debug(f"User {sid} joined session {session_id}.")

        @sio.on(self.user_message_evt, namespace=self.namespace)
        async def handle_message(sid: str, data: Any = None) -> None:
            output_channel = MaskingSocketIOOutput(sio, self.bot_message_evt, self.namespace)
            screened = self.screen_user_message(sid, data)
            if screened is None:
                return
            sender_id, text = screened
            if text.text is None:
                if text.reply:
                    await output_channel.send_text_message(sender_id, text.reply)
                return
            await on_new_message(UserMessage(
                text.text, output_channel, sender_id, input_channel=self.name(),
                metadata=channel_metadata(CHANNEL, self._addresses.get(sid))))

        return socketio_webhook


__all__ = ["MAX_MESSAGE_CHARS", "MaskingSocketIOInput", "MaskingSocketIOOutput", "SessionSigner",
           "masked_text", "origin_allowed", "valid_session_id"]
