"""Outgoing mail: one interface, an SMTP implementation, a spool for when the relay is down
and a development outbox.

Used by the core (one-time codes, order redelivery) and by the email bridge (replies; the
bridge keeps its own spool in the database, email_bridge/spool.py, and uses the plain
SmtpMailer). `mailer_from_settings()` gives the core a SpoolingMailer: a message the relay
refuses is written to `<var>/mail-spool/` and sent, in order, as soon as the relay answers
again (a background thread retries with back-off; the bridge's serve loop also flushes it).
Message-IDs are random secrets (the email bridge joins a conversation only through a
Message-ID it sent).
"""
from __future__ import annotations

import logging
import os
import secrets
import smtplib
import ssl
import threading
import time
import uuid
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import formatdate
from pathlib import Path
from typing import Protocol

from supportbot.privacy import mask_card_numbers
from supportbot.settings import Settings

log = logging.getLogger(__name__)


class MailDeliveryError(RuntimeError):
    """The message could not be handed to the relay (it is safe to retry later)."""


class Mailer(Protocol):
    def send(self, message: EmailMessage) -> str:
        """Deliver `message`; return its Message-ID. Raise MailDeliveryError on failure."""


def new_message_id(sender: str = "localhost") -> str:
    """`<random@domain-of-sender>`: 192 random bits (email.utils.make_msgid is a timestamp, the
    pid and a non-cryptographic random number: guessable). Never contains a digit run that
    looks like a card number (it is stored and shown)."""
    domain = sender.rsplit("@", 1)[-1].strip().strip(">").strip() or "localhost"
    while True:
        token = secrets.token_urlsafe(24)
        if mask_card_numbers(token) == token:
            return f"<{token}@{domain}>"


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
    msg["Message-ID"] = new_message_id(sender)
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
            message["Message-ID"] = new_message_id()
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
            message["Message-ID"] = new_message_id()
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


class MailSpool:
    """Messages the relay refused, one .eml file each in `directory`, sent oldest first.

    Several processes may flush the same folder: a file is claimed by renaming it (atomic)
    before it is sent, so no message goes out twice; a claim older than `stale_after` seconds
    (the process died while sending) is released again.
    """

    def __init__(self, directory: Path, *, stale_after: float = 600.0):
        self.directory = Path(directory)
        self.stale_after = stale_after
        self._lock = threading.Lock()

    def put(self, message: EmailMessage) -> Path:
        self.directory.mkdir(parents=True, exist_ok=True)
        name = f"{time.time_ns():020d}-{uuid.uuid4().hex[:8]}.eml"
        tmp = self.directory / (name + ".tmp")
        tmp.write_bytes(message.as_bytes(policy=policy.SMTP))
        os.chmod(tmp, 0o600)
        tmp.rename(self.directory / name)
        return self.directory / name

    def pending(self) -> list[Path]:
        if not self.directory.is_dir():
            return []
        self._release_stale()
        return sorted(self.directory.glob("*.eml"))

    def _release_stale(self) -> None:
        now = time.time()
        for claimed in self.directory.glob("*.eml.sending-*"):
            try:
                if now - claimed.stat().st_mtime > self.stale_after:
                    claimed.rename(self.directory / claimed.name.split(".sending-", 1)[0])
            except OSError:
                continue

    def flush(self, mailer: Mailer) -> tuple[int, int]:
        """Send what is spooled, oldest first; stop at the first refusal. (sent, still spooled)."""
        sent = 0
        with self._lock:
            for path in self.pending():
                claimed = path.with_name(f"{path.name}.sending-{os.getpid()}-{uuid.uuid4().hex[:6]}")
                try:
                    path.rename(claimed)
                except OSError:
                    continue  # another process took it
                try:
                    message = BytesParser(policy=policy.default).parsebytes(claimed.read_bytes())
                    mailer.send(message)
                except MailDeliveryError:
                    claimed.rename(path)
                    break
                except Exception:
                    claimed.rename(path)
                    raise
                claimed.unlink()
                sent += 1
                log.info("spooled mail %s sent", path.name)
        return sent, len(self.pending())


class SpoolingMailer:
    """A Mailer that never loses a message when the relay is down: `send()` hands it to the
    relay, or spools it (MailSpool) and returns its Message-ID; a daemon thread, started when
    something is spooled, retries with back-off (doubling from `retry_interval` up to
    `max_interval` seconds) until the spool is empty. Messages keep their order: while
    anything is spooled, a new message is spooled behind it and the spool is flushed."""

    def __init__(self, mailer: Mailer, spool: MailSpool, *, retry_interval: float = 5.0,
                 max_interval: float = 300.0):
        self.mailer, self.spool = mailer, spool
        self.retry_interval, self.max_interval = retry_interval, max_interval
        self._thread: threading.Thread | None = None
        self._thread_lock = threading.Lock()
        self._wake = threading.Event()

    def send(self, message: EmailMessage) -> str:
        if not message.get("Message-ID"):
            message["Message-ID"] = new_message_id()
        if not self.spool.pending():
            try:
                return self.mailer.send(message)
            except MailDeliveryError as exc:
                log.warning("mail relay refused a message (%s); spooled, sent when it is back", exc)
        try:
            self.spool.put(message)
        except OSError as exc:
            raise MailDeliveryError(f"relay down and the mail spool is not writable: {exc}") from exc
        self._flush_quietly()
        if self.spool.pending():
            self._ensure_retry_thread()
        return str(message["Message-ID"])

    def _flush_quietly(self) -> None:
        try:
            self.spool.flush(self.mailer)
        except Exception:  # never let a broken spooled file fail the caller's new message
            log.exception("mail spool flush failed")

    def _ensure_retry_thread(self) -> None:
        with self._thread_lock:
            if self._thread is not None and self._thread.is_alive():
                self._wake.set()
                return
            self._thread = threading.Thread(target=self._retry_loop, name="mail-spool", daemon=True)
            self._thread.start()

    def _retry_loop(self) -> None:
        delay = self.retry_interval
        while True:
            self._wake.wait(delay)
            self._wake.clear()
            self._flush_quietly()
            if not self.spool.pending():
                return
            delay = min(self.max_interval, delay * 2)


def mail_spool_dir(settings: Settings) -> Path:
    return Path(settings.var_dir) / "mail-spool"


def mail_spool_from_settings(settings: Settings | None = None) -> MailSpool | None:
    """The spool of mailer_from_settings() (None without a relay: the outbox never fails)."""
    settings = settings or Settings.from_env()
    return MailSpool(mail_spool_dir(settings)) if settings.smtp_host else None


def smtp_mailer(settings: Settings) -> SmtpMailer:
    assert settings.smtp_host
    return SmtpMailer(settings.smtp_host, settings.smtp_port, user=settings.smtp_user,
                      password=settings.smtp_password, tls=settings.smtp_tls)


def mailer_from_settings(settings: Settings | None = None, *, spool: bool = True) -> Mailer:
    """The relay (spooling what it refuses, unless `spool=False`), or the development outbox."""
    settings = settings or Settings.from_env()
    if settings.smtp_host:
        relay = smtp_mailer(settings)
        return SpoolingMailer(relay, MailSpool(mail_spool_dir(settings))) if spool else relay
    return OutboxMailer(settings.outbox_dir)
