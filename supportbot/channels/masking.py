"""Rasa's REST channel for internal callers (the email bridge, scripts, tests).

POST /webhooks/rest/webhook  (credentials.yml: supportbot.channels.masking.MaskingRestInput)

    Authorization: Bearer <SUPPORTBOT_REST_TOKEN>
    {"sender": "email-...", "message": "...", "metadata": {"channel": "email",
     "client_address": "email:someone@example.com"}}

What it does before Rasa sees anything (Rasa's RestInput does none of it):

* no token, a wrong token, or SUPPORTBOT_REST_TOKEN unset in Rasa's environment: 401, nothing
  read (compared in constant time); the health check GET /webhooks/rest/ stays open;
* a body that is not a JSON object, a missing/empty/malformed `sender` (no shared `default`
  conversation), a `message` that is not a string, `metadata` that is not an object, or a
  body over MAX_BODY_BYTES: 400 (413) with {"error": "..."}, never a 500;
* `supportbot.channels.guard.screen_text`: a message over MAX_MESSAGE_CHARS is answered by
  the channel itself ("too long", HTTP 200, as a bot message) and never reaches the NLU; the
  `/intent{...}` shorthand only as the bot's own buttons send it; card numbers masked;
* metadata: only `channel` and `client_address` are kept from the body (the caller is
  trusted: it has the token); defaults "rest" and the caller's address. `input_channel` from
  the body is ignored.

The Rasa `?stream=true` option is kept.
"""
from __future__ import annotations

import hmac
import json
import logging
import os
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from rasa.core.channels.rest import RestInput
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from supportbot.channels.guard import screen_text, trusted_metadata
from supportbot.settings import REST_TOKEN_ENV

logger = logging.getLogger(__name__)

# a conversation id: what the email bridge ("email-<uuid>") and scripts use
SENDER_PATTERN = re.compile(r"[A-Za-z0-9_.:@+-]{1,128}")
MAX_BODY_BYTES = 2 * 1024 * 1024


class BadRequest(ValueError):
    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class RestTurn:
    sender: str
    text: str
    metadata: Any


def presented_token(request: Request) -> str:
    scheme, _, value = str(request.headers.get("authorization") or "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""


def token_matches(presented: str, expected: str | None) -> bool:
    """Constant-time; an unset or empty secret never matches."""
    if not presented or not expected:
        return False
    return hmac.compare_digest(presented.encode("utf-8"), expected.encode("utf-8"))


def parse_body(body: bytes) -> RestTurn:
    """The turn a request body asks for; BadRequest with a clear message otherwise."""
    if len(body) > MAX_BODY_BYTES:
        raise BadRequest(f"the request body is larger than {MAX_BODY_BYTES} bytes", 413)
    if not body.strip():
        raise BadRequest('the body is empty: send a JSON object {"sender": "...", "message": "..."}')
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        raise BadRequest("the body is not valid JSON") from None
    if not isinstance(data, dict):
        raise BadRequest('the body must be a JSON object {"sender": "...", "message": "..."}')
    sender = data.get("sender")
    if sender is None or sender == "":
        raise BadRequest('"sender" is missing: every conversation needs its own id')
    if not isinstance(sender, str) or not SENDER_PATTERN.fullmatch(sender):
        raise BadRequest('"sender" must be a string of 1-128 letters, digits or . _ : @ + -')
    text = data.get("message")
    if not isinstance(text, str):
        raise BadRequest('"message" must be a string')
    metadata = data.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        raise BadRequest('"metadata" must be a JSON object')
    return RestTurn(sender, text, metadata)


def client_address(request: Request) -> str:
    return str(getattr(request, "remote_addr", "") or request.ip or "")


def _error(message: str, status: int, **headers: str) -> HTTPResponse:
    return response.json({"error": message}, status=status, headers=headers or None)


class MaskingRestInput(RestInput):
    """`rest` channel (same URL, /webhooks/rest/webhook): token, validation, caps, masking."""

    def __init__(self, token: str | None = None) -> None:
        self._token = token

    @classmethod
    def name(cls) -> str:
        return "rest"

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> MaskingRestInput:
        return cls()

    @property
    def token(self) -> str | None:
        """The secret callers must present: given, else SUPPORTBOT_REST_TOKEN (read when asked)."""
        return self._token if self._token is not None else os.environ.get(REST_TOKEN_ENV) or None

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        webhook = Blueprint(f"custom_webhook_{type(self).__name__}", __name__)
        expected = self.token
        if not expected:
            logger.warning("%s is not set: the REST channel refuses every call", REST_TOKEN_ENV)

        @webhook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @webhook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> Any:
            if not token_matches(presented_token(request), expected):
                logger.warning("refused a REST channel call from %s: no valid token",
                               client_address(request))
                return _error("unauthorized", 401, **{"WWW-Authenticate": "Bearer"})
            try:
                turn = parse_body(request.body or b"")
            except BadRequest as exc:
                return _error(str(exc), exc.status)
            screened = screen_text(turn.text)
            if screened.text is None:
                logger.info("REST message of %d characters from %s not read: %s",
                            len(turn.text), turn.sender, screened.reason)
                replies = [{"recipient_id": turn.sender, "text": screened.reply}] if screened.reply else []
                return response.json(replies)
            metadata = trusted_metadata(turn.metadata, self.name(), client_address(request))
            if request.args.get("stream", "").lower() in ("true", "1", "yes"):
                return response.stream(
                    self.stream_response(on_new_message, screened.text, turn.sender, self.name(),
                                         metadata),
                    content_type="text/event-stream")
            collector = CollectingOutputChannel()
            try:
                await on_new_message(UserMessage(screened.text, collector, turn.sender,
                                                 input_channel=self.name(), metadata=metadata))
            except Exception:  # as Rasa's RestInput: the caller gets what was said so far
                logger.exception("the REST message of %s could not be handled", turn.sender)
            return response.json(collector.messages)

        return webhook


__all__ = ["MaskingRestInput", "parse_body", "token_matches", "BadRequest", "REST_TOKEN_ENV"]
