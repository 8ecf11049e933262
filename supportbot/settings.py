"""Configuration from environment variables (read when asked, never at import time)."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import overload

PROJECT_ROOT = Path(__file__).resolve().parent.parent

#: the variable holding the secret of Rasa's REST channel (read by the channel in Rasa's process)
REST_TOKEN_ENV = "SUPPORTBOT_REST_TOKEN"


@overload
def env_value(name: str) -> str | None: ...
@overload
def env_value(name: str, default: str) -> str: ...
@overload
def env_value(name: str, default: str | None) -> str | None: ...


def env_value(name: str, default: str | None = None) -> str | None:
    """The variable's value; unset or empty gives `default`."""
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def env_number(name: str, default, cast=int):
    """The variable converted with `cast`; a clear error names the variable when it is not a number."""
    raw = env_value(name)
    if raw is None:
        return default
    try:
        return cast(raw)
    except ValueError as exc:
        raise ValueError(f"{name} must be a number, got {raw!r}") from exc


_env = env_value


def _env_int(name: str, default: int) -> int:
    return env_number(name, default, int)


@dataclass(frozen=True)
class Settings:
    """Every knob of the project. Build with `Settings.from_env()`."""

    var_dir: Path
    database_url: str
    # outgoing mail: an SMTP relay when SUPPORTBOT_SMTP_HOST is set, else a development outbox
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_user: str | None = None
    smtp_password: str | None = None
    smtp_tls: str = "none"  # none | starttls | ssl
    mail_from: str = "Support <support@reseller.example>"
    outbox_dir: Path = field(default_factory=lambda: PROJECT_ROOT / "var" / "outbox")
    # payment provider: dry-run records calls; http talks to SUPPORTBOT_PAYMENT_API_URL
    payment_provider: str = "dry-run"
    payment_api_url: str | None = None
    payment_api_key: str | None = None
    # optional external helpdesk that receives handoff tickets
    helpdesk_webhook_url: str | None = None
    # secret used to hash one-time codes
    secret_key: str = "development-only-secret"
    # ports of the processes `make run` starts
    rasa_port: int = 5005
    action_port: int = 5055
    web_port: int = 8080
    email_bridge_port: int = 2525
    rasa_url: str = "http://127.0.0.1:5005"
    # interfaces they listen on: this machine only unless configured otherwise (a reverse proxy
    # in front publishes what must be public: the support page and Rasa's socket.io channel)
    rasa_host: str = "127.0.0.1"
    action_host: str = "127.0.0.1"
    web_host: str = "127.0.0.1"
    # the secret Rasa sends to the action server (`Authorization: Bearer ...`); `supportbot run`
    # generates one per start when unset (supportbot/runtime/action_server.py)
    action_token: str | None = None
    # the secret internal callers of Rasa's REST channel send (`Authorization: Bearer ...`:
    # the email bridge, tests, operators' scripts); `supportbot run` generates one per start
    # when unset and hands it to its children in SUPPORTBOT_REST_TOKEN
    rest_token: str | None = None
    # origins allowed to call Rasa's socket.io channel and REST webhook from a browser (CORS);
    # default: the support page of `make run`
    cors_origins: tuple[str, ...] = ("http://127.0.0.1:8080", "http://localhost:8080")
    # the support leads' review console (supportbot/console/)
    console_port: int = 8090
    console_host: str = "127.0.0.1"

    @classmethod
    def from_env(cls) -> Settings:
        var_dir = Path(_env("SUPPORTBOT_VAR_DIR", str(PROJECT_ROOT / "var")))
        rasa_port = _env_int("SUPPORTBOT_RASA_PORT", 5005)
        web_port = _env_int("SUPPORTBOT_WEB_PORT", 8080)
        origins = _env("SUPPORTBOT_CORS_ORIGINS",
                       f"http://127.0.0.1:{web_port},http://localhost:{web_port}")
        return cls(
            var_dir=var_dir,
            database_url=_env("SUPPORTBOT_DATABASE_URL", f"sqlite:///{var_dir / 'supportbot.db'}"),
            smtp_host=_env("SUPPORTBOT_SMTP_HOST"),
            smtp_port=_env_int("SUPPORTBOT_SMTP_PORT", 25),
            smtp_user=_env("SUPPORTBOT_SMTP_USER"),
            smtp_password=_env("SUPPORTBOT_SMTP_PASSWORD"),
            smtp_tls=_env("SUPPORTBOT_SMTP_TLS", "none"),
            mail_from=_env("SUPPORTBOT_MAIL_FROM", "Support <support@reseller.example>"),
            outbox_dir=Path(_env("SUPPORTBOT_OUTBOX_DIR", str(var_dir / "outbox"))),
            payment_provider=_env("SUPPORTBOT_PAYMENT_PROVIDER", "dry-run"),
            payment_api_url=_env("SUPPORTBOT_PAYMENT_API_URL"),
            payment_api_key=_env("SUPPORTBOT_PAYMENT_API_KEY"),
            helpdesk_webhook_url=_env("SUPPORTBOT_HELPDESK_WEBHOOK_URL"),
            secret_key=_env("SUPPORTBOT_SECRET_KEY", "development-only-secret"),
            rasa_port=rasa_port,
            action_port=_env_int("SUPPORTBOT_ACTION_PORT", 5055),
            web_port=web_port,
            email_bridge_port=_env_int("SUPPORTBOT_EMAIL_BRIDGE_PORT", 2525),
            rasa_url=_env("SUPPORTBOT_RASA_URL", f"http://127.0.0.1:{rasa_port}"),
            rasa_host=_env("SUPPORTBOT_RASA_HOST", "127.0.0.1"),
            action_host=_env("SUPPORTBOT_ACTION_HOST", "127.0.0.1"),
            web_host=_env("SUPPORTBOT_WEB_HOST", "127.0.0.1"),
            action_token=_env("SUPPORTBOT_ACTION_TOKEN"),
            rest_token=_env(REST_TOKEN_ENV),
            cors_origins=tuple(o.strip() for o in origins.split(",") if o.strip()),
            console_port=_env_int("SUPPORTBOT_CONSOLE_PORT", 8090),
            console_host=_env("SUPPORTBOT_CONSOLE_HOST", "127.0.0.1"),
        )
