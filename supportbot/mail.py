"""Outgoing mail: one interface, an SMTP implementation and a development outbox.

Used by the core (one-time codes, order redelivery) and by the email bridge (replies).
"""
from __future__ import annotations

import smtplib
import ssl
import time
import uuid
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Protocol

from supportbot.settings import Settings


class MailDeliveryError(RuntimeError):
    """The message could not be handed to the relay (it is safe to retry later)."""


class Mailer(Protocol):
    def send(self, message: EmailMessage) -> str:
        """Deliver `message`; return its Message-ID. Raise MailDeliveryError on failure."""


def build_message(
    to: str,
    subject: str,
    body_text: str,
    *,
    sender: str,
    in_reply_to: str | None = None,
    references: str | None = None,
    html: str | None = None,
    headers: dict[str, str] | None = None,
) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = formatdate(localtime=False, usegmt=True)
    domain = sender.rsplit("@", 1)[-1].strip(">") or "localhost"
    msg["Message-ID"] = make_msgid(domain=domain)
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
    if references:
        msg["References"] = references
    for key, value in (headers or {}).items():
        msg[key] = value
    msg.set_content(body_text)
    if html:
        msg.add_alternative(html, subtype="html")
    return msg


class SmtpMailer:
    """Sends through an SMTP relay with smtplib (plain, STARTTLS or implicit TLS, optional auth)."""

    def __init__(self, host: str, port: int = 25, *, user: str | None = None,
                 password: str | None = None, tls: str = "none", timeout: float = 10.0):
        if tls not in ("none", "starttls", "ssl"):
            raise ValueError("tls must be one of none, starttls, ssl")
        self.host, self.port, self.user, self.password = host, port, user, password
        self.tls, self.timeout = tls, timeout

    def send(self, message: EmailMessage) -> str:
        if not message.get("Message-ID"):
            message["Message-ID"] = make_msgid()
        try:
            client: smtplib.SMTP
            if self.tls == "ssl":
                client = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout,
                                          context=ssl.create_default_context())
            else:
                client = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            with client:
                if self.tls == "starttls":
                    client.starttls(context=ssl.create_default_context())
                if self.user:
                    client.login(self.user, self.password or "")
                client.send_message(message)
        except (OSError, smtplib.SMTPException) as exc:
            raise MailDeliveryError(f"SMTP relay {self.host}:{self.port} failed: {exc}") from exc
        return str(message["Message-ID"])


class OutboxMailer:
    """DEVELOPMENT ONLY: writes each message as an .eml file into a local folder."""

    def __init__(self, directory: Path):
        self.directory = Path(directory)

    def send(self, message: EmailMessage) -> str:
        if not message.get("Message-ID"):
            message["Message-ID"] = make_msgid()
        if not message.get("X-Supportbot-Outbox"):
            message["X-Supportbot-Outbox"] = "development only - this mail was not sent"
        self.directory.mkdir(parents=True, exist_ok=True)
        name = f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}.eml"
        tmp = self.directory / (name + ".tmp")
        tmp.write_bytes(bytes(message))
        tmp.rename(self.directory / name)
        return str(message["Message-ID"])

    def messages(self) -> list[EmailMessage]:
        from email import policy
        from email.parser import BytesParser

        parser = BytesParser(policy=policy.default)
        return [parser.parsebytes(p.read_bytes()) for p in sorted(self.directory.glob("*.eml"))]


def mailer_from_settings(settings: Settings | None = None) -> Mailer:
    settings = settings or Settings.from_env()
    if settings.smtp_host:
        return SmtpMailer(settings.smtp_host, settings.smtp_port, user=settings.smtp_user,
                          password=settings.smtp_password, tls=settings.smtp_tls)
    return OutboxMailer(settings.outbox_dir)
