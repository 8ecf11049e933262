"""Buttons by email: rendered as numbered options, answered with the number or the words.

The bridge stores the buttons offered in the last reply of a conversation; the next email is
mapped back to the button's payload when its whole (cleaned) body picks one option:
"2", "2.", "#2", "option 2", "2 please", "the second one", "Wrong product ordered",
"2. Wrong product ordered". Anything else is sent to Rasa as the customer wrote it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

_ORDINALS = {
    "first": 1, "1st": 1, "second": 2, "2nd": 2, "third": 3, "3rd": 3, "fourth": 4, "4th": 4,
    "fifth": 5, "5th": 5, "sixth": 6, "6th": 6, "last": -1,
}
_POLITE_PREFIX = re.compile(
    r"^(i('d| would)? (like|choose|pick|want|take|select)|i'll take|let's go with|go with|my choice is"
    r"|choice|option|number|nr|no|num|#|the)\s*[:.]?\s*",
    re.IGNORECASE,
)
_POLITE_SUFFIX = re.compile(r"\s*(please|pls|plz|thanks|thank you|one|option)\s*$", re.IGNORECASE)
_NUMBERED = re.compile(r"^#?\s*(\d{1,2})\s*[.):\-]?\s*(.*)$")


@dataclass(frozen=True)
class Choice:
    number: int
    title: str
    payload: str


def _norm(text: str) -> str:
    text = text.lower().replace("’", "'")
    text = re.sub(r"[\s\u00a0]+", " ", text)
    text = re.sub(r"^[\s\"'“”(\[*_-]+|[\s\"'“”)\].,!?;:*_-]+$", "", text)
    return text.strip()


def _strip_polite(text: str) -> str:
    previous = None
    while previous != text:
        previous = text
        text = _POLITE_SUFFIX.sub("", text).strip()
        text = _norm(text)
    return text


def choice_buttons(buttons: list[dict]) -> list[dict]:
    """Buttons that can be answered by email (link buttons are rendered as URLs instead)."""
    return [b for b in buttons if b.get("title") and not is_link_button(b)]


def is_link_button(button: dict) -> bool:
    payload = str(button.get("payload") or button.get("url") or "")
    return button.get("type") == "web_url" or payload.startswith(("http://", "https://"))


def match_choice(text: str, buttons: list[dict]) -> Choice | None:
    """The offered button the customer picked with this text, or None."""
    options = [b for b in buttons if b.get("title")]
    if not options or not text or len(text) > 200:
        return None
    norm = _strip_polite(_norm(text))
    titles = [_norm(str(b["title"])) for b in options]

    def pick(index: int) -> Choice:
        b = options[index]
        return Choice(index + 1, str(b["title"]), str(b.get("payload") or b["title"]))

    if norm in titles:
        return pick(titles.index(norm))
    bare, previous = norm, None
    while previous != bare:
        previous = bare
        bare = _strip_polite(_POLITE_PREFIX.sub("", bare).strip())
    if bare in titles:
        return pick(titles.index(bare))
    match = _NUMBERED.match(bare)
    if match:
        number, rest = int(match.group(1)), _strip_polite(match.group(2))
        if 1 <= number <= len(options) and (not rest or rest == titles[number - 1]):
            return pick(number - 1)
        return None
    words = bare.split()
    if len(words) == 1 and words[0] in _ORDINALS:
        number = _ORDINALS[words[0]]
        number = len(options) if number == -1 else number
        if 1 <= number <= len(options):
            return pick(number - 1)
    return None


def format_choices(buttons: list[dict], start: int = 1) -> str:
    lines = ["Reply with the number or the words:"]
    for offset, button in enumerate(buttons):
        lines.append(f"  {start + offset}. {button['title']}")
    return "\n".join(lines)
