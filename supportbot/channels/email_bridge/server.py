"""The SMTP listener (aiosmtpd) and the two background loops of `email-bridge serve`.

The mail server forwards inbound support mail here. DATA is answered with 250 only after the
raw message is committed to the database (a database error answers 451, so the sending
server keeps the mail and retries: nothing is lost). Processing (Rasa, replies) happens in a
worker thread, in arrival order; a second thread retries spooled replies with backoff.
"""
from __future__ import annotations

import asyncio
import logging
import signal
import threading

from aiosmtpd.controller import Controller

from supportbot.channels.email_bridge.bridge import EmailBridge

log = logging.getLogger("supportbot.email_bridge")


class BridgeHandler:
    def __init__(self, bridge: EmailBridge, on_accept=None):
        self.bridge = bridge
        self.on_accept = on_accept or (lambda: None)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        raw = envelope.original_content or envelope.content
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogateescape")
        loop = asyncio.get_running_loop()
        try:
            result = await loop.run_in_executor(None, self.bridge.accept, raw, envelope.mail_from)
        except Exception:
            log.exception("could not store an inbound message; asking the sender to retry")
            return "451 4.3.0 Temporary failure storing the message, please retry"
        if result.status == "duplicate":
            log.info("email duplicate message ignored (already received)")
            return "250 2.0.0 OK (duplicate, already received)"
        self.on_accept()
        return f"250 2.0.0 OK queued as {result.inbound_id}"


class BridgeServer:
    def __init__(self, bridge: EmailBridge, *, host: str | None = None, port: int | None = None,
                 poll_interval: float | None = None):
        self.bridge = bridge
        self.host = host or bridge.config.host
        self.port = port if port is not None else bridge.config.port
        self.poll_interval = poll_interval if poll_interval is not None else bridge.config.poll_interval
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.controller: Controller | None = None

    def start(self) -> BridgeServer:
        self.bridge.recover()
        self._stop.clear()
        handler = BridgeHandler(self.bridge, on_accept=self._wake.set)
        self.controller = Controller(
            handler, hostname=self.host, port=self.port, ready_timeout=10,
            data_size_limit=self.bridge.config.max_message_bytes, enable_SMTPUTF8=True,
            ident="supportbot email bridge",
        )
        self.controller.start()
        for target, name in ((self._work_loop, "email-bridge-worker"), (self._spool_loop, "email-bridge-spool")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        self._wake.set()  # process what was received before a restart
        return self

    def stop(self, timeout: float = 30.0) -> None:
        if self.controller is not None:
            try:
                self.controller.stop()
            except Exception:  # pragma: no cover - already stopped
                pass
            self.controller = None
        self._stop.set()
        self._wake.set()
        for thread in self._threads:
            thread.join(timeout)
        self._threads.clear()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def wake(self) -> None:
        self._wake.set()

    def _work_loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.poll_interval)
            self._wake.clear()
            if self._stop.is_set():
                break
            try:
                self.bridge.process_pending()
            except Exception:
                log.exception("email bridge worker pass failed; retrying")

    def _spool_loop(self) -> None:
        while not self._stop.wait(self.poll_interval):
            try:
                self.bridge.spool.retry_due()
            except Exception:
                log.exception("email bridge spool pass failed; retrying")
            if self.bridge.mail_spool is not None:
                try:  # the core's spooled mail (one-time codes, ...), when its process is gone
                    self.bridge.mail_spool.flush(self.bridge.mailer)
                except Exception:
                    log.exception("mail spool flush failed; retrying")


def serve_forever(server: BridgeServer) -> int:
    """Run until SIGTERM/SIGINT; stop the listener first, then finish the current message."""
    done = threading.Event()

    def _signal(signum, _frame):
        log.info("email bridge stopping (signal %d)", signum)
        done.set()

    previous = {sig: signal.signal(sig, _signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        server.start()
        log.info("email bridge listening on %s:%d (rasa %s)", server.host, server.port,
                 server.bridge.config.webhook_url)
        while not done.wait(1.0):
            pass
    finally:
        server.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0
