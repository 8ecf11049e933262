"""Client of Rasa's REST channel: POST {rasa_url}/webhooks/rest/webhook.

The bridge is a trusted internal caller: it sends `Authorization: Bearer <SUPPORTBOT_REST_TOKEN>`
(Rasa answers 401 without it) and the message metadata
`{"channel": "email", "client_address": "email:<sender address>"}` (the REST channel keeps
only these two keys, and only from a caller with the token).

Retries only what cannot have reached the bot: connection refused/reset before a response,
and 502/503/504 from a proxy or a server that is starting. A read timeout or a 500 may mean
Rasa did process the message, so they are not retried (no duplicate turn): the email is held
for a person instead.
"""
from __future__ import annotations

import logging
import time

import requests

log = logging.getLogger(__name__)

RETRY_STATUS = {502, 503, 504}


class RasaUnavailable(RuntimeError):
    def __init__(self, message: str, *, retriable: bool):
        super().__init__(message)
        self.retriable = retriable


class RasaClient:
    def __init__(self, webhook_url: str, *, timeout: float = 60.0, attempts: int = 4,
                 backoff: float = 1.0, session: requests.Session | None = None, token: str | None = None):
        self.webhook_url = webhook_url
        self.token = token
        self.timeout = timeout
        self.attempts = max(1, attempts)
        self.backoff = backoff
        self.session = session or requests.Session()

    def send(self, sender: str, message: str, *, client_address: str | None = None) -> list[dict]:
        """The bot messages for one user message (may be empty). Raises RasaUnavailable.
        `client_address`: the sender's email address (for the per-client throttles)."""
        body: dict = {"sender": sender, "message": message,
                      "metadata": {"channel": "email", "client_address": f"email:{client_address or ''}"}}
        delay = self.backoff
        last: RasaUnavailable | None = None
        for attempt in range(1, self.attempts + 1):
            try:
                return self._post(body)
            except RasaUnavailable as exc:
                last = exc
                if not exc.retriable or attempt == self.attempts:
                    break
                log.warning("rasa webhook attempt %d/%d failed (%s); retrying in %.1fs",
                            attempt, self.attempts, exc, delay)
                time.sleep(delay)
                delay *= 2
        assert last is not None
        raise last

    def _post(self, body: dict) -> list[dict]:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        try:
            response = self.session.post(
                self.webhook_url, json=body, headers=headers,
                timeout=(min(10.0, self.timeout), self.timeout),
            )
        except requests.ConnectionError as exc:
            # ConnectTimeout/refused: never reached Rasa. (ReadTimeout is not a ConnectionError.)
            raise RasaUnavailable(f"cannot connect: {exc.__class__.__name__}", retriable=True) from exc
        except requests.Timeout as exc:
            raise RasaUnavailable("no answer before the timeout", retriable=False) from exc
        except requests.RequestException as exc:
            raise RasaUnavailable(f"request failed: {exc.__class__.__name__}", retriable=False) from exc
        if response.status_code in (401, 403):
            raise RasaUnavailable(f"HTTP {response.status_code}: Rasa refused the bridge's token "
                                  "(SUPPORTBOT_REST_TOKEN must be the same for both)", retriable=False)
        if response.status_code in RETRY_STATUS:
            raise RasaUnavailable(f"HTTP {response.status_code}", retriable=True)
        if response.status_code != 200:
            raise RasaUnavailable(f"HTTP {response.status_code}", retriable=False)
        try:
            data = response.json()
        except ValueError as exc:
            raise RasaUnavailable("answer is not JSON", retriable=False) from exc
        if not isinstance(data, list):
            raise RasaUnavailable("answer is not a list of messages", retriable=False)
        return [m for m in data if isinstance(m, dict)]
