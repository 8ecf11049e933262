"""Mail that must never get an automatic reply (mail loops, bounces, bulk mail).

RFC 3834 (Auto-Submitted), Precedence: bulk/junk/list/auto_reply, X-Autoreply & co.,
mailing lists (List-Id, List-Unsubscribe), delivery reports (multipart/report, null envelope
sender), daemon / no-reply senders, typical auto-reply subjects, and mail from our own
address(es) or carrying the X-Supportbot-Conversation header older versions put on replies
(replies no longer carry the conversation id anywhere).
"""
from __future__ import annotations

import re

from supportbot.channels.email_bridge.parsing import ParsedEmail

DAEMON_LOCALPARTS = {"mailer-daemon", "mail-daemon", "postmaster", "mailerdaemon", "bounce", "bounces"}
_NO_REPLY = re.compile(r"^(no-?reply|do-?not-?reply|donotreply|noreply-.*|bounce[s]?[-+].*)$", re.IGNORECASE)
_AUTO_SUBJECT = re.compile(
    r"^\s*(automatic reply|auto[- ]?reply|autoreply|auto[- ]?response|out of (the )?office"
    r"|abwesenheitsnotiz|automatische antwort|réponse automatique|respuesta automática"
    r"|undeliverable|undelivered mail|delivery status notification|delivery failure"
    r"|mail delivery failed|returned mail|failure notice)\b",
    re.IGNORECASE,
)


def _localpart(address: str) -> str:
    return address.split("@", 1)[0].lower()


def auto_reply_reason(parsed: ParsedEmail, envelope_from: str | None,
                      own_addresses: frozenset[str] | set[str]) -> str | None:
    """Why this mail must not be answered, or None when a reply is fine."""
    if envelope_from is not None and envelope_from.strip() in ("", "<>"):
        return "bounce"  # null reverse-path: delivery status notifications
    own = {a.lower() for a in own_addresses}
    if parsed.from_address in own or any(addr in own for _n, addr in parsed.reply_to):
        return "own_address"
    if parsed.header("x-supportbot-conversation"):
        return "own_address"
    if envelope_from and envelope_from.strip("<>").lower() in own:
        return "own_address"
    local = _localpart(parsed.from_address) if parsed.from_address else ""
    if local in DAEMON_LOCALPARTS:
        return "mailer_daemon"
    if local and _NO_REPLY.match(local):
        return "no_reply_sender"
    auto = parsed.header("auto-submitted").split(";")[0].strip().lower()
    if auto and auto != "no":
        return "auto_submitted"
    precedence = parsed.header("precedence").strip().lower()
    if precedence in ("bulk", "junk", "list", "auto_reply"):
        return f"precedence_{precedence}"
    for name in ("x-autoreply", "x-autorespond", "x-autoresponder", "x-autoreply-from", "x-mail-autoreply"):
        if parsed.header(name):
            return "auto_reply"
    if parsed.header("x-auto-response-suppress").lower() in ("oof", "all") and _AUTO_SUBJECT.match(parsed.subject):
        return "auto_reply"
    if parsed.header("list-id") or parsed.header("list-unsubscribe"):
        return "mailing_list"
    if parsed.content_type == "multipart/report":
        return "delivery_report"
    if _AUTO_SUBJECT.match(parsed.subject or ""):
        return "auto_reply_subject"
    return None
