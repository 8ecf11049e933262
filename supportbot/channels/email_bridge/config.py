"""The bridge's own knobs (environment variables), on top of supportbot.settings.Settings."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from email.utils import getaddresses

from supportbot.channels.guard import MAX_MESSAGE_CHARS
from supportbot.settings import Settings, env_number, env_value

_env = env_value
_env_num = env_number


@dataclass(frozen=True)
class BridgeConfig:
    host: str = "127.0.0.1"
    port: int = 2525
    rasa_url: str = "http://127.0.0.1:5005"
    webhook_path: str = "/webhooks/rest/webhook"
    rasa_timeout: float = 60.0
    rasa_attempts: int = 4           # connection refused / 502-504 are retried
    rasa_backoff: float = 1.0        # seconds, doubled after every attempt
    rest_token: str | None = field(default=None, repr=False)  # Bearer token of Rasa's REST channel
    # a mail Rasa could not take (not reachable, 502-504 after those attempts) waits and is tried
    # again: first after rasa_retry_backoff seconds, doubled, capped; held for a person (with a
    # polite reply) when Rasa is still unreachable rasa_retry_window seconds after it arrived
    rasa_retry_backoff: float = 5.0
    rasa_retry_cap: float = 60.0
    rasa_retry_window: float = 3600.0
    # body length sent to Rasa: at most what Rasa's channels accept (longer gets "too long")
    max_chars: int = MAX_MESSAGE_CHARS
    max_message_bytes: int = 25 * 1024 * 1024
    rate_limit_per_hour: int = 20    # inbound mails per sender and hour that get a reply
    spool_max_attempts: int = 20
    spool_backoff: float = 30.0      # first retry delay (seconds), doubled, capped
    spool_backoff_cap: float = 3600.0
    poll_interval: float = 2.0       # worker / spool wake-up when nothing signals them
    mail_from: str = "Support <support@reseller.example>"
    own_addresses: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def from_settings(cls, settings: Settings | None = None, **overrides) -> BridgeConfig:
        settings = settings or Settings.from_env()
        own = {addr.lower() for _name, addr in getaddresses([settings.mail_from]) if "@" in addr}
        extra = _env("SUPPORTBOT_EMAIL_BRIDGE_OWN_ADDRESSES", "") or ""
        own |= {a.strip().lower() for a in extra.split(",") if "@" in a}
        config = cls(
            host=_env("SUPPORTBOT_EMAIL_BRIDGE_HOST", "127.0.0.1"),
            port=settings.email_bridge_port,
            rasa_url=settings.rasa_url.rstrip("/"),
            webhook_path=_env("SUPPORTBOT_EMAIL_BRIDGE_WEBHOOK_PATH", "/webhooks/rest/webhook"),
            rasa_timeout=_env_num("SUPPORTBOT_EMAIL_BRIDGE_RASA_TIMEOUT", 60.0, float),
            rasa_attempts=_env_num("SUPPORTBOT_EMAIL_BRIDGE_RASA_ATTEMPTS", 4),
            rest_token=settings.rest_token,
            rasa_retry_backoff=_env_num("SUPPORTBOT_EMAIL_BRIDGE_RASA_RETRY_BACKOFF", 5.0, float),
            rasa_retry_cap=_env_num("SUPPORTBOT_EMAIL_BRIDGE_RASA_RETRY_CAP", 60.0, float),
            rasa_retry_window=_env_num("SUPPORTBOT_EMAIL_BRIDGE_RASA_RETRY_WINDOW", 3600.0, float),
            max_chars=min(_env_num("SUPPORTBOT_EMAIL_BRIDGE_MAX_CHARS", MAX_MESSAGE_CHARS), MAX_MESSAGE_CHARS),
            max_message_bytes=_env_num("SUPPORTBOT_EMAIL_BRIDGE_MAX_BYTES", 25 * 1024 * 1024),
            rate_limit_per_hour=_env_num("SUPPORTBOT_EMAIL_BRIDGE_RATE_LIMIT", 20),
            spool_max_attempts=_env_num("SUPPORTBOT_EMAIL_BRIDGE_SPOOL_MAX_ATTEMPTS", 20),
            spool_backoff=_env_num("SUPPORTBOT_EMAIL_BRIDGE_SPOOL_BACKOFF", 30.0, float),
            mail_from=settings.mail_from,
            own_addresses=frozenset(own),
        )
        return replace(config, **overrides) if overrides else config

    @property
    def webhook_url(self) -> str:
        return self.rasa_url.rstrip("/") + "/" + self.webhook_path.lstrip("/")
