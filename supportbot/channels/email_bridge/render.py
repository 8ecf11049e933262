"""The text of the bridge's reply emails: they should read like email, not like a chat log.

  Hello Erin,

  <every bot message of the turn, one paragraph each; links as plain URLs>

  Reply with the number or the words:
    1. Duplicate order
    2. Wrong product ordered

  <notes: attachments not opened, message shortened>

  --
  <short footer>
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from supportbot.channels.email_bridge.choices import choice_buttons, format_choices, is_link_button

FOOTER = ("Support assistant (automated reply). Reply to this email to continue the conversation; "
          "ask for a person at any time.")
CASE_ACK = ("Thank you, we have added your message to your case. A member of our support team "
            "has your conversation and will reply to you by email.")
HELD_ACK = ("Thank you for your message. We have received it, and a person from our support team "
            "will look at it and reply to you by email.")

_MD_LINK = re.compile(r"\[([^\]\n]+)\]\((\S+?)\)")
_MD_BOLD = re.compile(r"(\*\*|__)(.+?)\1")
_FIRST_NAME = re.compile(r"^[^\W\d_][\w'’\-]{1,30}$")
_NOT_A_PERSON = re.compile(
    r"\b(inc|ltd|llc|gmbh|ag|corp|co|company|team|dept|department|accounts?|billing|sales|support"
    r"|info|admin|office|service|services|customer|finance|purchasing|it)\b\.?", re.IGNORECASE)


@dataclass
class RenderedReply:
    text: str
    buttons: list[dict] = field(default_factory=list)  # the numbered options, in order


def greeting(display_name: str | None) -> str:
    name = (display_name or "").strip().strip('"')
    if "," in name:  # "Doe, Erin"
        name = name.split(",", 1)[1].strip()
    words = name.split()
    first = words[0] if words else ""
    person_like = 1 <= len(words) <= 4 and not any(ch.isdigit() for ch in name) \
        and "@" not in name and not _NOT_A_PERSON.search(name)
    if person_like and _FIRST_NAME.match(first):
        if first.isupper() and len(first) > 2:
            first = first.capitalize()
        return f"Hello {first},"
    return "Hello,"


def plain_text(text: str) -> str:
    """Markdown-ish bot text -> plain email text; links become 'label: URL' (or just the URL)."""

    def link(match: re.Match) -> str:
        label, url = match.group(1).strip(), match.group(2).strip()
        return url if label.rstrip("/") == url.rstrip("/") else f"{label}: {url}"

    text = _MD_LINK.sub(link, text or "")
    text = _MD_BOLD.sub(r"\2", text)
    return text.strip()


def attachment_note(attachments: list[str]) -> str | None:
    if not attachments:
        return None
    return "I can't open attachments; I saw: " + ", ".join(attachments) + "."


def truncation_note(limit: int) -> str:
    return (f"Your message was long, so I only read the first {limit:,} characters. "
            "If something important came later, please send it in a shorter reply.")


def _compose(paragraphs: list[str], name: str | None, notes: list[str]) -> str:
    parts = [greeting(name), *[p for p in paragraphs if p], *[n for n in notes if n]]
    return "\n\n".join(parts) + "\n\n-- \n" + FOOTER + "\n"


def render_bot_reply(bot_messages: list[dict], *, name: str | None = None,
                     notes: list[str] | None = None) -> RenderedReply:
    """All bot messages of one turn in one email; buttons numbered across the whole reply."""
    paragraphs: list[str] = []
    offered: list[dict] = []
    for message in bot_messages:
        block: list[str] = []
        if message.get("text"):
            block.append(plain_text(str(message["text"])))
        if message.get("image"):
            block.append(f"Image: {message['image']}")
        attachment = message.get("attachment")
        if attachment:
            url = attachment if isinstance(attachment, str) else (
                (attachment.get("payload") or {}).get("src") or (attachment.get("payload") or {}).get("url")
                if isinstance(attachment, dict) else None)
            if url:
                block.append(f"Attachment: {url}")
        buttons = [b for b in (message.get("buttons") or []) if isinstance(b, dict)]
        links = [b for b in buttons if b.get("title") and is_link_button(b)]
        for button in links:
            block.append(f"{button['title']}: {button.get('url') or button.get('payload')}")
        choices = choice_buttons(buttons)
        if choices:
            block.append(format_choices(choices, start=len(offered) + 1))
            offered.extend({"title": str(b["title"]), "payload": str(b.get("payload") or b["title"])}
                           for b in choices)
        if block:
            paragraphs.append("\n\n".join(block))
    return RenderedReply(_compose(paragraphs, name, notes or []), offered)


def render_case_ack(*, name: str | None = None, notes: list[str] | None = None) -> RenderedReply:
    """The bot said nothing (conversation paused after a handoff): the message joined the case."""
    return RenderedReply(_compose([CASE_ACK], name, notes or []))


def render_note(text: str, *, name: str | None = None) -> RenderedReply:
    """A short note of one paragraph (e.g. "our answer went to the order's address")."""
    return RenderedReply(_compose([text], name, []))


def render_held_ack(*, name: str | None = None, notes: list[str] | None = None) -> RenderedReply:
    """The message could not be processed; a person will look at it."""
    return RenderedReply(_compose([HELD_ACK], name, notes or []))
