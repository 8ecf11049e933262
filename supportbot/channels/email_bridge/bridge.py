"""EmailBridge: one inbound email = one turn of a Rasa conversation = one reply email.

accept(raw)   called by the SMTP listener: stores the message (card numbers masked) and
              returns; a redelivered Message-ID is recognised by the unique constraint.
process(id)   parse -> loop guard -> thread -> clean body -> button mapping / subject ->
              mask + cap -> Rasa REST webhook -> render -> spool -> send.
              Rasa not reachable: the mail waits (back-off) and is tried again; anything that
              cannot be processed is `held` for a person, with a polite reply when there is
              someone safe to reply to.

Where replies go: to Reply-To (else From) while the conversation has proved nothing; once it
verified an order (the core's conversation_verifications, read by
core/conversation_identity.py), every reply goes to that order's email address only, whatever
From/Reply-To say; the address that wrote gets a short note without any order data. No
header or body ever carries the conversation id.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import timedelta
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import formataddr

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from supportbot.channels.email_bridge import store
from supportbot.channels.email_bridge.choices import match_choice
from supportbot.channels.email_bridge.cleaning import clean_body, compose_turn_text, reply_subject, truncate
from supportbot.channels.email_bridge.config import BridgeConfig
from supportbot.channels.email_bridge.loops import DAEMON_LOCALPARTS, auto_reply_reason
from supportbot.channels.email_bridge.parsing import (
    ParsedEmail,
    UnparseableEmail,
    _addresses,
    _headers,
    mask_raw_message,
    message_id_of,
    normalize_address,
    parse_email,
)
from supportbot.channels.email_bridge.rasa_client import RasaClient, RasaUnavailable
from supportbot.channels.email_bridge.render import (
    RenderedReply,
    attachment_note,
    render_bot_reply,
    render_case_ack,
    render_held_ack,
    render_note,
    truncation_note,
)
from supportbot.channels.email_bridge.spool import Spool
from supportbot.channels.email_bridge.threads import resolve_conversation
from supportbot.core.conversation_identity import verified_email
from supportbot.db.engine import session_scope
from supportbot.mail import Mailer, MailSpool, build_message
from supportbot.privacy import mask_card_numbers

log = logging.getLogger("supportbot.email_bridge")

MAX_REFERENCES = 20
REDIRECT_NOTE = ("Thank you for your message. For your security, our answer went to the email address "
                 "of the order, not to this address.")


@dataclass
class AcceptResult:
    status: str  # queued | duplicate
    inbound_id: int | None
    message_id: str


@dataclass
class Outcome:
    inbound_id: int
    status: str = store.PROCESSING
    reason: str | None = None
    conversation_id: str | None = None
    thread: str | None = None
    chars: int = 0
    attachments: int = 0
    choice: int | None = None
    bot_messages: int = 0
    outbound_id: int | None = None
    delivery: str | None = None
    extra: dict = field(default_factory=dict)


def mask_address(address: str | None) -> str:
    """e***@example.com: enough to recognise a sender in a log line, not more."""
    if not address or "@" not in address:
        return "-"
    local, domain = address.rsplit("@", 1)
    return f"{local[:1]}***@{domain}"


class EmailBridge:
    def __init__(self, engine: Engine, mailer: Mailer, config: BridgeConfig,
                 rasa: RasaClient | None = None, *, clock=store.utcnow, mail_spool: MailSpool | None = None):
        self.engine, self.mailer, self.config, self.clock = engine, mailer, config, clock
        # the core's mail spool (one-time codes, ...; supportbot.mail.MailSpool): the serve loop
        # flushes it through the relay too, so it empties even when the process that spooled is gone
        self.mail_spool = mail_spool
        self.rasa = rasa or RasaClient(config.webhook_url, timeout=config.rasa_timeout,
                                       attempts=config.rasa_attempts, backoff=config.rasa_backoff,
                                       token=config.rest_token)
        self.spool = Spool(engine, mailer, max_attempts=config.spool_max_attempts,
                           backoff=config.spool_backoff, backoff_cap=config.spool_backoff_cap, clock=clock)
        self._stuck: dict[int, bool] = {}  # inbound id -> it had reached Rasa (see _release_stuck)

    # ------------------------------------------------------------------ accept (SMTP DATA)

    def accept(self, raw: bytes, envelope_from: str | None = None) -> AcceptResult:
        """Store the raw message before anything else happens. Raises on database errors
        (the listener then answers 451 and the sending server retries later).

        Only the masked copy is kept (card numbers masked in every header and text part,
        parsing.mask_raw_message); the Message-ID, envelope sender, From and Subject columns
        come from it too."""
        raw = bytes(raw)
        masked = mask_raw_message(raw)
        message_id = message_id_of(masked)
        envelope_from = mask_card_numbers(envelope_from) if envelope_from else envelope_from
        try:
            head = BytesParser(policy=policy.compat32).parsebytes(masked, headersonly=True)
            headers = _headers(head)
        except Exception:
            headers = {}
        senders = _addresses(headers.get("from", ""))
        from_address = senders[0][1] if senders else normalize_address(envelope_from)
        subject = mask_card_numbers(headers.get("subject", ""))
        with session_scope(self.engine) as session:
            if store.inbound_exists(session, message_id):
                return AcceptResult("duplicate", None, message_id)
        try:
            with session_scope(self.engine) as session:
                inbound_id = store.insert_inbound(session, message_id=message_id, raw=masked,
                                                  envelope_from=envelope_from, from_address=from_address,
                                                  subject=subject, now=self.clock())
        except IntegrityError:  # the same message arrived concurrently
            return AcceptResult("duplicate", None, message_id)
        return AcceptResult("queued", inbound_id, message_id)

    # ------------------------------------------------------------------ processing

    def recover(self) -> None:
        with session_scope(self.engine) as session:
            requeued, held = store.recover_interrupted(session)
        if requeued or held:
            log.warning("email bridge recovery: %d interrupted message(s) re-queued, %d held", requeued, held)

    def _due(self, row, now) -> bool:
        """A mail waiting for Rasa is due again after its back-off; any other received mail now."""
        if row["status_reason"] != store.RASA_RETRY or row["processed_at"] is None:
            return True
        delay = store.backoff_delay(max(1, row["attempts"]), self.config.rasa_retry_backoff,
                                    self.config.rasa_retry_cap)
        return row["processed_at"] + delay <= now

    def process_pending(self, limit: int = 100) -> list[Outcome]:
        """One pass, oldest first. A sender's mail waits behind their older mail that waits for
        Rasa (their turns reach the bot in order); when Rasa cannot be reached the pass stops
        (the rest would fail too)."""
        self._release_stuck()
        with session_scope(self.engine) as session:
            rows = store.pending_inbound(session, limit)
        now = self.clock()
        waiting: set[str | None] = set()
        outcomes = []
        for row in rows:
            if row["from_address"] in waiting:
                continue
            if not self._due(row, now):
                waiting.add(row["from_address"])
                continue
            outcome = self.process(row["id"])
            if outcome is None:
                continue
            outcomes.append(outcome)
            if outcome.status == store.RECEIVED:  # deferred: Rasa is not reachable
                break
        return outcomes

    def _release_stuck(self) -> None:
        """Messages whose processing failed because the database went away (nothing could be
        recorded then): back to `received` if they never reached Rasa, else held."""
        for inbound_id, reached_rasa in list(self._stuck.items()):
            try:
                with session_scope(self.engine) as session:
                    store.release_inbound(session, inbound_id, hold=reached_rasa)
            except Exception:
                return  # still down; try again on the next pass
            del self._stuck[inbound_id]
            log.warning("email in=%d released after an internal error (%s)", inbound_id,
                        "held: it had reached Rasa" if reached_rasa else "re-queued")

    def process(self, inbound_id: int) -> Outcome | None:
        with session_scope(self.engine) as session:
            if not store.claim_inbound(session, inbound_id):
                return None
            row = dict(store.get_inbound(session, inbound_id))
        started = time.monotonic()
        outcome = Outcome(inbound_id)
        try:
            self._process(row, outcome)
        except Exception:
            log.exception("email in=%d: unexpected error; holding it for a person", inbound_id)
            outcome.reason = "internal_error"
            try:
                self._finish(outcome, store.HELD)
            except Exception:  # the database itself is failing: release the message later
                self._stuck[inbound_id] = bool(outcome.extra.get("rasa_called"))
                log.error("email in=%d: could not record the error either; it is released when the "
                          "database answers again", inbound_id)
                return outcome
        outcome.extra["ms"] = int((time.monotonic() - started) * 1000)
        self._log(outcome)
        return outcome

    def _process(self, row: dict, outcome: Outcome) -> None:
        envelope_from = row["envelope_from"]
        try:
            parsed = parse_email(row["raw"])
        except UnparseableEmail:
            outcome.reason = "unparseable"
            address = normalize_address(envelope_from)
            if address and address not in self.config.own_addresses \
                    and address.split("@")[0] not in DAEMON_LOCALPARTS:
                self._hold_with_ack(row, outcome, None, to=("", address), subject=row["subject"])
            else:
                self._finish(outcome, store.HELD)
            return
        outcome.attachments = len(parsed.attachments)

        reason = auto_reply_reason(parsed, envelope_from, self.config.own_addresses)
        if reason:
            outcome.reason = reason
            self._finish(outcome, store.IGNORED)
            return

        sender = parsed.from_address or normalize_address(envelope_from)
        if not sender:
            outcome.reason = "no_sender"
            self._finish(outcome, store.HELD)
            return
        reply_to = next(((n, a) for n, a in parsed.reply_to if a not in self.config.own_addresses), None)
        to = reply_to or (parsed.from_name, sender)
        now = self.clock()

        if row["conversation_id"] is None:  # a mail tried again was counted the first time
            with session_scope(self.engine) as session:
                recent = store.recent_count_from(session, sender, now - timedelta(hours=1))
            if recent > self.config.rate_limit_per_hour:
                outcome.reason = "rate_limited"  # possible loop with a robot that sets no headers
                self._finish(outcome, store.HELD)
                return

        with session_scope(self.engine) as session:
            decision = resolve_conversation(session, sender=sender, thread_ids=parsed.thread_ids,
                                            subject=parsed.subject, now=now,
                                            known_conversation=row["conversation_id"])
            store.record_thread_id(session, row["message_id"], decision.conversation_id, "in", now)
            store.finish_inbound(session, row["id"], store.PROCESSING, conversation_id=decision.conversation_id,
                                 now=now)
        outcome.conversation_id, outcome.thread = decision.conversation_id, decision.how

        notes = [n for n in [attachment_note(parsed.attachments)] if n]
        body = clean_body(parsed.text)
        choice = match_choice(body, decision.offered_buttons) if decision.offered_buttons else None
        if choice is not None:
            text = choice.payload
            outcome.choice = choice.number
        else:
            text = compose_turn_text(parsed.subject, body, first_in_thread=decision.created)
        text = mask_card_numbers(text).strip()
        if not text:
            outcome.reason = "empty"
            self._hold_with_ack(row, outcome, parsed, to=to, subject=parsed.subject, notes=notes)
            return
        text, shortened = truncate(text, self.config.max_chars)
        if shortened:
            notes.append(truncation_note(self.config.max_chars))
        outcome.chars = len(text)

        try:
            outcome.extra["rasa_called"] = True
            bot_messages = self.rasa.send(decision.conversation_id, text, client_address=sender)
        except RasaUnavailable as exc:
            outcome.reason = "rasa_unavailable"
            outcome.extra["rasa"] = str(exc)
            waited = (now - row["received_at"]).total_seconds()
            if exc.retriable and waited < self.config.rasa_retry_window:
                outcome.reason, outcome.status = store.RASA_RETRY, store.RECEIVED
                with session_scope(self.engine) as session:
                    store.defer_inbound(session, row["id"], conversation_id=decision.conversation_id,
                                        turn_text=text, now=self.clock())
                return
            self._hold_with_ack(row, outcome, parsed, to=to, subject=parsed.subject, notes=notes,
                                turn_text=text)
            return
        outcome.bot_messages = len(bot_messages)
        visible = [m for m in bot_messages if m.get("text") or m.get("buttons") or m.get("image")
                   or m.get("attachment")]
        recipient = self._recipient(decision.conversation_id, to, sender)  # after the turn: it may verify
        if visible:
            rendered, kind = render_bot_reply(visible, name=recipient[0], notes=notes), "reply"
        else:  # paused after a handoff: the message is in the tracker, the humans have the case
            rendered, kind = render_case_ack(name=recipient[0], notes=notes), "case_ack"
        outcome.reason = kind
        self._reply(row, outcome, parsed, to=to, recipient=recipient, subject=parsed.subject, rendered=rendered,
                    kind=kind, status=store.REPLIED, turn_text=text, buttons=rendered.buttons or None)

    # ------------------------------------------------------------------ helpers

    def _finish(self, outcome: Outcome, status: str, turn_text: str | None = None) -> None:
        outcome.status = status
        with session_scope(self.engine) as session:
            store.finish_inbound(session, outcome.inbound_id, status, outcome.reason,
                                 conversation_id=outcome.conversation_id, turn_text=turn_text, now=self.clock())

    def _hold_with_ack(self, row: dict, outcome: Outcome, parsed: ParsedEmail | None, *, to: tuple[str, str],
                       subject: str | None, notes: list[str] | None = None, turn_text: str | None = None) -> None:
        recipient = self._recipient(outcome.conversation_id, to, parsed.from_address if parsed else None)
        rendered = render_held_ack(name=recipient[0], notes=notes)
        self._reply(row, outcome, parsed, to=to, recipient=recipient, subject=subject, rendered=rendered,
                    kind="held_ack", status=store.HELD, turn_text=turn_text, buttons=False)

    def build_reply(self, *, to: tuple[str, str], subject: str | None, in_reply_to: str | None,
                    references: list[str], text: str) -> EmailMessage:
        refs: list[str] = []
        for mid in [*references, *([in_reply_to] if in_reply_to else [])]:
            if mid not in refs:
                refs.append(mid)
        if len(refs) > MAX_REFERENCES:  # keep the thread root and the newest ids (RFC 5322 3.6.4)
            refs = refs[:1] + refs[-(MAX_REFERENCES - 1):]
        headers = {"Auto-Submitted": "auto-replied", "X-Auto-Response-Suppress": "All"}
        name, address = to
        return build_message(formataddr((name, address)) if name else address, reply_subject(subject), text,
                             sender=self.config.mail_from, in_reply_to=in_reply_to,
                             references=" ".join(refs) or None, headers=headers)

    def _recipient(self, conversation_id: str | None, to: tuple[str, str],
                   sender: str | None) -> tuple[str, str]:
        """Where this conversation's reply may go: the verified order's address, else `to`."""
        if not conversation_id:
            return to
        with session_scope(self.engine) as session:
            proved = verified_email(session, conversation_id)
        if proved is None or proved == to[1]:
            return to
        return (to[0] if proved == sender else "", proved)

    def _reply(self, row: dict, outcome: Outcome, parsed: ParsedEmail | None, *, to: tuple[str, str],
               recipient: tuple[str, str], subject: str | None, rendered: RenderedReply, kind: str, status: str,
               turn_text: str | None, buttons) -> None:
        """Spool and send the reply to `recipient` (see _recipient); when that is not `to`, the
        address that wrote gets a note without any data."""
        synthesized = parsed.message_id_synthesized if parsed else row["message_id"].endswith(".invalid>")
        in_reply_to = None if synthesized else row["message_id"]
        references = (parsed.references or parsed.in_reply_to[-1:]) if parsed else []
        message = self.build_reply(to=recipient, subject=subject, in_reply_to=in_reply_to, references=references,
                                   text=rendered.text)
        note = None
        if recipient[1] != to[1]:  # verified conversation, written from / answered to another address
            outcome.extra["redirected"] = True
            note = self.build_reply(to=to, subject=subject, in_reply_to=in_reply_to, references=references,
                                    text=render_note(REDIRECT_NOTE, name=None).text)
        now = self.clock()
        outcome.status = status
        with session_scope(self.engine) as session:
            outbound_id = self.spool.enqueue(session, message, kind=kind, to_address=recipient[1],
                                             conversation_id=outcome.conversation_id, inbound_id=row["id"])
            # the note's Message-ID is NOT a thread id: a reply to it never joins the conversation
            note_id = self.spool.enqueue(session, note, kind="redirect_note", to_address=to[1],
                                         conversation_id=None, inbound_id=row["id"]) if note else None
            if outcome.conversation_id:
                store.record_thread_id(session, str(message["Message-ID"]), outcome.conversation_id, "out", now)
                store.touch_conversation(session, outcome.conversation_id, buttons=buttons,
                                         turn=status == store.REPLIED, now=now)
            store.finish_inbound(session, row["id"], status, outcome.reason,
                                 conversation_id=outcome.conversation_id, turn_text=turn_text, now=now)
        outcome.outbound_id = outbound_id
        outcome.delivery = self.spool.deliver(outbound_id)
        if note_id is not None:
            self.spool.deliver(note_id)

    def _log(self, o: Outcome) -> None:
        # one line per processed message; never the body, the subject or a card number
        with session_scope(self.engine) as session:
            row = store.get_inbound(session, o.inbound_id)
            sender = row["from_address"] if row else None
        log.info(
            "email in=%d status=%s reason=%s conv=%s thread=%s from=%s chars=%d attachments=%d "
            "choice=%s bot_messages=%d out=%s delivery=%s ms=%s",
            o.inbound_id, o.status, o.reason or "-", o.conversation_id or "-", o.thread or "-",
            mask_address(sender), o.chars, o.attachments, o.choice or "-", o.bot_messages,
            o.outbound_id or "-", o.delivery or "-", o.extra.get("ms", "-"),
        )


def bridge_from_settings(settings=None, **config_overrides) -> EmailBridge:
    from supportbot.db.engine import get_engine
    from supportbot.mail import mail_spool_from_settings, mailer_from_settings
    from supportbot.settings import Settings

    settings = settings or Settings.from_env()
    config = BridgeConfig.from_settings(settings, **config_overrides)
    engine = get_engine(settings.database_url)
    # the bridge spools its replies in the database (spool.py): the plain relay, no file spool
    return EmailBridge(engine, mailer_from_settings(settings, spool=False), config,
                       mail_spool=mail_spool_from_settings(settings))
