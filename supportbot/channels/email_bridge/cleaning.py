"""Turning an email body into the one message a customer meant to send.

Stripped:
  * quoted earlier messages: "On <date>, <name> wrote:" (also wrapped over 2-3 lines, and the
    German/French/Spanish/Dutch forms), "-----Original Message-----", Outlook header blocks
    ("From: ... Sent: ... To: ... Subject: ...", optionally after a "____" rule), and every
    line starting with ">" (interleaved answers between quoted lines are kept);
  * signatures: everything after a "-- " delimiter line and after mobile footers
    ("Sent from my iPhone", "Get Outlook for Android", ...);
  * a leading salutation ("Hi,", "Hello team,", "Dear Sir or Madam,") when text follows it,
    and a trailing sign-off block ("Thanks,\\nErin", "Kind regards, Erin Doe"): a closing phrase
    followed only by up to 3 short name-like lines (no digits, no "@", so a signature that
    carries an order number or address is kept). Never strips a message down to nothing,
    so a reply of just "Thanks!" still reaches the bot.

Forwarded messages ("---------- Forwarded message ---------") are kept: a customer forwarding
a receipt wants us to read it.

Subject: `compose_turn_text` prepends the subject only on the first message of a thread when
it adds meaning: the body is empty, says "see subject", is very short (<= 8 words), or the
subject carries an order reference / email address the body lacks; generic subjects
("Hello", "Question", "Support request", ...) are never prepended.
"""
from __future__ import annotations

import re

from supportbot.core.vocabulary import EMAIL_ADDRESS, ORDER_REFERENCE

_REPLY_PREFIX = re.compile(r"^\s*((re|aw|sv|antw|vs|ref|r)(\[\d+\]|\(\d+\))?\s*:\s*)+", re.IGNORECASE)
_FWD_PREFIX = re.compile(r"^\s*((fwd?|fw|wg|tr|rv)\s*:\s*)+", re.IGNORECASE)

_ATTRIBUTION_START = re.compile(r"^\s*(on|am|le|el|op|il|em|den|på)\s", re.IGNORECASE)
_ATTRIBUTION_END = re.compile(
    r"\b(wrote|schrieb|a écrit|escribió|schreef|ha scritto|escreveu|skrev)\b[^:]*:\s*$", re.IGNORECASE
)
_ORIGINAL_MESSAGE = re.compile(
    r"^\s*-{2,}\s*(original message|ursprüngliche nachricht|message d'origine|mensaje original"
    r"|oorspronkelijk bericht)\s*-{2,}\s*$",
    re.IGNORECASE,
)
_OUTLOOK_FROM = re.compile(r"^\s*\*?(from|von|de|van|da)\s*:\*?\s*\S", re.IGNORECASE)
_OUTLOOK_FIELDS = re.compile(
    r"^\s*\*?(sent|date|gesendet|datum|envoyé|enviado|fecha|verzonden|inviato|to|an|à|para|aan"
    r"|subject|betreff|objet|asunto|onderwerp|oggetto|cc)\s*:\*?", re.IGNORECASE
)
_RULE = re.compile(r"^\s*_{10,}\s*$")
_SIG_DELIMITER = re.compile(r"^--\s?$")
_MOBILE_FOOTER = re.compile(
    r"^\s*(sent from my \S.*|sent from (mail|outlook|yahoo mail|gmail|proton ?mail|samsung).*"
    r"|get outlook for \S.*|von meinem \S.* gesendet|envoyé de mon \S.*|enviado desde mi \S.*"
    r"|sent via \S.*|sent with \S.* mail.*)$",
    re.IGNORECASE,
)
_CLOSING_PHRASES = (
    "thanks", "thank you", "thanks again", "many thanks", "thanks a lot", "thanks in advance",
    "thank you in advance", "thx", "ty", "tia", "cheers", "best", "best wishes", "all the best",
    "best regards", "kind regards", "warm regards", "warmest regards", "regards", "sincerely",
    "yours sincerely", "yours truly", "yours", "respectfully", "br", "with thanks",
    "mit freundlichen grüßen", "mfg", "viele grüße", "liebe grüße", "lg", "cordialement",
    "bien à vous", "saludos", "un saludo", "met vriendelijke groet", "groeten",
)
_CLOSING = re.compile(
    r"^\s*(" + "|".join(re.escape(p) for p in sorted(_CLOSING_PHRASES, key=len, reverse=True)) + r")\b"
    r"\s*[,.!]*\s*(?P<rest>.*)$",
    re.IGNORECASE,
)
_SALUTATION = re.compile(
    r"^\s*(hi|hello|hey|hiya|dear|good (morning|afternoon|evening|day)|greetings|hallo|guten tag"
    r"|bonjour|hola|ciao)\b([ \t]+[^\W\d_][\w'’.\-]*){0,4}?[ \t]*([,!:;]|\.(?!\w)|\n|$)",
    re.IGNORECASE,
)
_NAME_LINE = re.compile(r"^[^\W\d_][\w'’.\-]*( [^\W\d_][\w'’.\-]*){0,3}$")
_SEE_SUBJECT = re.compile(
    r"\b(see|per|in|as (per|in)|read|check)\s+(the\s+)?(subject|title)(\s+line)?\b", re.IGNORECASE
)
_GENERIC_SUBJECT = re.compile(
    r"^(hi|hello|hey|help|question|questions|inquiry|enquiry|request|support|support request"
    r"|customer support|contact|contact form|message|no subject|\(no subject\)|urgent|important"
    r"|info|information|hallo|bonjour|hola|test)[\s.!?]*$",
    re.IGNORECASE,
)


def normalize_subject(subject: str | None) -> str:
    """Subject without any leading Re:/AW:/Fwd: prefixes and extra whitespace."""
    subject = " ".join((subject or "").split())
    previous = None
    while previous != subject:
        previous = subject
        subject = _REPLY_PREFIX.sub("", subject)
        subject = _FWD_PREFIX.sub("", subject)
    return subject.strip()


def is_reply_subject(subject: str | None) -> bool:
    return bool(_REPLY_PREFIX.match(subject or ""))


def reply_subject(subject: str | None) -> str:
    """'Re: <original>' exactly once (no 'Re: Re:', no 'Re: AW:')."""
    base = " ".join((subject or "").split())
    previous = None
    while previous != base:
        previous = base
        base = _REPLY_PREFIX.sub("", base).strip()
    return f"Re: {base}" if base else "Re: your message to our support team"


def _attribution_at(lines: list[str], i: int) -> bool:
    """Does an 'On ... wrote:' attribution (possibly wrapped over up to 3 lines) start at i?"""
    if not _ATTRIBUTION_START.match(lines[i]):
        return False
    joined = ""
    for j in range(i, min(i + 3, len(lines))):
        joined = (joined + " " + lines[j].strip()).strip()
        if _ATTRIBUTION_END.search(joined):
            return len(joined) <= 400
        if not lines[j].strip():
            return False
    return False


def _outlook_header_at(lines: list[str], i: int) -> bool:
    if not _OUTLOOK_FROM.match(lines[i]):
        return False
    fields = 0
    for j in range(i + 1, min(i + 6, len(lines))):
        if _OUTLOOK_FIELDS.match(lines[j]):
            fields += 1
        elif lines[j].strip():
            break
    return fields >= 2


def strip_quotes(text: str) -> str:
    """Remove quoted earlier messages and signatures (see module docstring)."""
    lines = (text or "").replace("\r\n", "\n").replace("\r", "\n").split("\n")
    cut = len(lines)
    for i, line in enumerate(lines):
        stripped = line.strip()
        if (
            _ORIGINAL_MESSAGE.match(stripped)
            or _SIG_DELIMITER.match(line.rstrip("\n"))
            or _MOBILE_FOOTER.match(stripped)
            or _attribution_at(lines, i)
            or _outlook_header_at(lines, i)
        ):
            cut = i
            break
        if _RULE.match(stripped):
            following = next((line for line in lines[i + 1:] if line.strip()), "")
            if _OUTLOOK_FROM.match(following):
                cut = i
                break
    kept = [line.rstrip() for line in lines[:cut] if not line.lstrip().startswith(">")]
    body = "\n".join(kept)
    body = re.sub(r"\n[ \t]*\n([ \t]*\n)+", "\n\n", body)
    return body.strip()


def strip_sign_off(text: str) -> str:
    """Drop a trailing 'Thanks,\\nName' block; keep everything when unsure."""
    lines = text.rstrip().split("\n")
    nonblank = [i for i, line in enumerate(lines) if line.strip()]
    for start in nonblank[-4:]:
        match = _CLOSING.match(lines[start].strip())
        if not match:
            continue
        rest = match.group("rest").strip()
        if rest and not _NAME_LINE.match(rest.rstrip(".!")):
            continue
        if rest and not rest[0].isupper():
            continue
        tail = [line.strip() for line in lines[start + 1:] if line.strip()]
        if len(tail) > 3 or not all(len(line) <= 40 and _NAME_LINE.match(line) for line in tail):
            continue
        before = "\n".join(lines[:start]).strip()
        if before:
            return before
        return text.strip()
    return text.strip()


def strip_salutation(text: str) -> str:
    """Drop a leading 'Hi,' / 'Hello team,' / 'Dear Sir or Madam,' when more text follows."""
    match = _SALUTATION.match(text)
    if not match:
        return text.strip()
    rest = text[match.end():].strip()
    return rest if rest else text.strip()


def clean_body(text: str) -> str:
    return strip_sign_off(strip_salutation(strip_quotes(text)))


def _subject_adds_meaning(subject: str, body: str) -> bool:
    if not subject or _GENERIC_SUBJECT.match(subject):
        return False
    if subject.lower() in body.lower():
        return False
    if not body or _SEE_SUBJECT.search(body) or len(body.split()) <= 8:
        return True
    for pattern in (ORDER_REFERENCE, EMAIL_ADDRESS):
        for found in pattern.finditer(subject):
            if found.group(0).lower() not in body.lower():
                return True
    return False


def compose_turn_text(subject: str | None, body: str, *, first_in_thread: bool) -> str:
    """The text of the turn: the cleaned body, with the subject in front when it adds meaning."""
    body = (body or "").strip()
    if not first_in_thread or is_reply_subject(subject):
        return body
    subj = normalize_subject(subject)
    if not _subject_adds_meaning(subj, body):
        return body
    if not body or (_SEE_SUBJECT.search(body) and len(body.split()) <= 5):
        return subj
    joiner = "\n\n" if subj[-1:] in ".!?:" else ".\n\n"
    return subj + joiner + body


def truncate(text: str, limit: int) -> tuple[str, bool]:
    """Cut at a word boundary to at most `limit` characters."""
    if len(text) <= limit:
        return text, False
    cut = text[:limit]
    space = max(cut.rfind(" "), cut.rfind("\n"))
    if space > limit * 0.8:
        cut = cut[:space]
    return cut.rstrip(), True
