"""MIME parsing of inbound mail.

`parse_email(raw)` returns a `ParsedEmail`: decoded headers the bridge needs, the body text
(text/plain preferred; HTML-only mail converted with the stdlib html.parser; charsets decoded
with sensible fallbacks), the names of attachments (never opened) and whether the message
could be parsed at all. Headers are read from `raw_items()` and decoded here, so a malformed
header never raises from the email package's lazy header parsing.

`mask_raw_message(raw)` returns the raw message with card numbers masked in every header and
every text part or text attachment; it is what the bridge stores (the byte-exact original is
kept only when it contains no card number).
"""
from __future__ import annotations

import codecs
import hashlib
import html
import re
from dataclasses import dataclass, field
from email import policy
from email.header import decode_header, make_header
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.utils import getaddresses, parseaddr
from html.parser import HTMLParser

from supportbot.privacy import contains_card_number, mask_card_numbers

MSGID_RE = re.compile(r"<[^<>\s]+>")


class UnparseableEmail(ValueError):
    """The message is not MIME we can read."""


@dataclass
class ParsedEmail:
    message_id: str
    message_id_synthesized: bool
    in_reply_to: list[str]
    references: list[str]
    subject: str
    from_name: str
    from_address: str
    reply_to: list[tuple[str, str]]
    text: str
    body_source: str  # "plain", "html" or "none"
    attachments: list[str] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)  # lower-cased name -> decoded value
    content_type: str = "text/plain"
    defects: list[str] = field(default_factory=list)

    @property
    def thread_ids(self) -> list[str]:
        """Parent ids, most relevant first: In-Reply-To, then References newest to oldest."""
        seen: list[str] = []
        for mid in [*self.in_reply_to, *reversed(self.references)]:
            if mid not in seen:
                seen.append(mid)
        return seen

    def header(self, name: str) -> str:
        return self.headers.get(name.lower(), "")


# --------------------------------------------------------------------------- headers

def decode_header_value(value) -> str:
    """RFC 2047 encoded-words -> str; never raises."""
    if value is None:
        return ""
    value = str(value)
    try:
        decoded = str(make_header(decode_header(value)))
    except Exception:  # malformed encoded word, unknown charset
        decoded = value
    return " ".join(decoded.split())  # unfold


def _headers(msg: Message) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in msg.raw_items():
        key = name.lower()
        if key in out:  # keep the first occurrence (the top-most header)
            continue
        out[key] = decode_header_value(value)
    return out


def _addresses(value: str) -> list[tuple[str, str]]:
    result = []
    for name, addr in getaddresses([value]):
        addr = addr.strip().strip("<>").strip()
        if "@" in addr and " " not in addr:
            result.append((decode_header_value(name), addr.lower()))
    return result


def normalize_address(value: str | None) -> str:
    if not value:
        return ""
    addr = parseaddr(value)[1] or value
    addr = addr.strip().strip("<>").strip().lower()
    return addr if "@" in addr else ""


# --------------------------------------------------------------------------- charsets

_LATIN1_ALIASES = {"latin_1", "iso8859-1", "iso-8859-1", "latin-1", "us-ascii", "ascii", "iso646-us"}


def decode_bytes(payload: bytes, charset: str | None) -> str:
    """Decode with the declared charset; undeclared/wrong ones fall back to UTF-8, then cp1252."""
    charset = (charset or "").strip().strip('"').lower()
    codec = None
    if charset and charset not in ("unknown-8bit", "x-unknown", "unknown"):
        try:
            codec = codecs.lookup(charset).name
        except LookupError:
            codec = None
    if codec in ("ascii",):
        codec = None  # 8-bit bytes in "us-ascii" mail are usually UTF-8 or cp1252
    if codec and codec not in ("latin-1", "iso8859-1"):
        try:
            return payload.decode(codec)
        except UnicodeDecodeError:
            pass
    try:
        return payload.decode("utf-8")
    except UnicodeDecodeError:
        pass
    if codec and codec not in ("latin-1", "iso8859-1"):
        return payload.decode(codec, errors="replace")
    # ISO-8859-1 as labelled by mail clients is in practice windows-1252 (curly quotes, euro)
    try:
        return payload.decode("cp1252")
    except UnicodeDecodeError:
        return payload.decode("latin-1")


def unflow(text: str, delsp: bool = False) -> str:
    """RFC 3676 format=flowed: join soft line breaks (a line ending in a space)."""
    out: list[str] = []
    buffer = ""
    for line in text.replace("\r\n", "\n").split("\n"):
        if line.startswith(" "):
            line = line[1:]  # space-stuffing
        if line.endswith(" ") and line != "-- " and not line.startswith(">"):
            buffer += line[:-1] if delsp else line
            continue
        out.append(buffer + line)
        buffer = ""
    if buffer:
        out.append(buffer)
    return "\n".join(out)


def part_text(part: Message) -> str:
    payload = part.get_payload(decode=True)
    if payload is None:
        payload = part.get_payload()
        return payload if isinstance(payload, str) else ""
    text = decode_bytes(payload, part.get_content_charset())
    if part.get_content_type() == "text/plain" and str(part.get_param("format") or "").lower() == "flowed":
        text = unflow(text, delsp=str(part.get_param("delsp") or "").lower() == "yes")
    return text


# --------------------------------------------------------------------------- HTML -> text

_BLOCK_TAGS = {
    "p", "div", "section", "article", "header", "footer", "main", "aside", "nav",
    "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "dl", "dt", "dd", "table", "tr",
    "pre", "address", "figure", "figcaption", "form", "fieldset", "center",
}
_SKIP_TAGS = {"script", "style", "head", "title", "noscript", "template", "svg", "object"}
_QUOTE_CLASSES = ("gmail_quote", "yahoo_quoted", "moz-cite-prefix")
_QUOTE_IDS = ("divrplyfwdmsg", "appendonsend", "mail-editor-reference-message-container")
_SIGNATURE_CLASSES = ("gmail_signature", "moz-signature")
_QUOTE_START, _QUOTE_END = "\x00QS\x00", "\x00QE\x00"


class _HtmlToText(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.skip_depth = 0
        self.pre_depth = 0
        self.stack: list[tuple[str, str | None]] = []  # (tag, marker to emit at close)

    def _newline(self, count: int = 1) -> None:
        self.out.append("\n" * count)

    def handle_starttag(self, tag, attrs):
        tag = tag.lower()
        if tag in ("br",):
            self.out.append("\n")
            return
        if tag in ("hr",):
            self.out.append("\n\n")
            return
        if tag in ("img", "meta", "link", "input", "wbr", "col", "area", "base", "source"):
            return  # void elements never get a closing tag
        attrs_d = {k.lower(): (v or "") for k, v in attrs}
        classes = attrs_d.get("class", "").lower()
        ident = attrs_d.get("id", "").lower()
        marker = None
        if tag in _SKIP_TAGS:
            self.skip_depth += 1
            marker = "skip"
        elif tag == "blockquote" or any(c in classes for c in _QUOTE_CLASSES) or ident in _QUOTE_IDS:
            self.out.append("\n" + _QUOTE_START + "\n")
            marker = "quote"
        elif any(c in classes for c in _SIGNATURE_CLASSES):
            self.out.append("\n-- \n")
            marker = "block"
        elif tag == "li":
            self.out.append("\n- ")
        elif tag in ("td", "th"):
            self.out.append(" ")
        elif tag == "pre":
            self.pre_depth += 1
            self.out.append("\n")
            marker = "pre"
        elif tag in _BLOCK_TAGS:
            self.out.append("\n")
            marker = "block"
        self.stack.append((tag, marker))

    def handle_endtag(self, tag):
        tag = tag.lower()
        # pop up to the matching open tag (HTML in mail is rarely well-formed)
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i][0] == tag:
                for _t, marker in reversed(self.stack[i:]):
                    self._close(marker)
                del self.stack[i:]
                return

    def _close(self, marker):
        if marker == "skip":
            self.skip_depth = max(0, self.skip_depth - 1)
        elif marker == "quote":
            self.out.append("\n" + _QUOTE_END + "\n")
        elif marker == "pre":
            self.pre_depth = max(0, self.pre_depth - 1)
            self.out.append("\n")
        elif marker == "block":
            self.out.append("\n")

    def handle_data(self, data):
        if self.skip_depth:
            return
        if not self.pre_depth:
            data = re.sub(r"[ \t\r\n\f\u00a0]+", " ", data)
        self.out.append(data)

    def text(self) -> str:
        for _t, marker in reversed(self.stack):
            self._close(marker)
        self.stack.clear()
        raw = "".join(self.out)
        lines: list[str] = []
        depth = 0
        for line in raw.split("\n"):
            if _QUOTE_START in line:
                depth += line.count(_QUOTE_START)
                line = line.replace(_QUOTE_START, "")
            if _QUOTE_END in line:
                depth = max(0, depth - line.count(_QUOTE_END))
                line = line.replace(_QUOTE_END, "")
            line = line.strip(" ")
            if depth and line:
                line = "> " * depth + line
            lines.append(line)
        text = "\n".join(lines)
        text = re.sub(r"\n{3,}", "\n\n", text)
        return text.strip("\n")


def html_to_text(markup: str) -> str:
    """Readable plain text from mail HTML; blockquotes/Gmail/Outlook quote blocks become '>' lines."""
    parser = _HtmlToText()
    try:
        parser.feed(markup)
        parser.close()
    except Exception:  # pragma: no cover - html.parser is very lenient
        return html.unescape(re.sub(r"<[^>]+>", " ", markup))
    return parser.text()


# --------------------------------------------------------------------------- body + attachments

_STRUCTURAL_DEFECTS = (
    "StartBoundaryNotFoundDefect", "NoBoundaryInMultipartDefect", "MultipartInvariantViolationDefect",
    "CloseBoundaryNotFoundDefect", "MissingHeaderBodySeparatorDefect",
)


def _clean_filename(name: str) -> str:
    name = decode_header_value(name)
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if ch.isprintable()).strip()
    return (name[:97] + "...") if len(name) > 100 else name


def _attachment_label(part: Message) -> str:
    if part.get_content_type() == "message/rfc822":
        inner = part.get_payload()
        subject = ""
        if isinstance(inner, list) and inner:
            subject = decode_header_value(inner[0].get("Subject", ""))
        name = part.get_filename()
        if name:
            return _clean_filename(name)
        return f"an attached email ({subject})" if subject else "an attached email"
    try:
        name = part.get_filename()
    except Exception:
        name = None
    if name:
        cleaned = _clean_filename(name)
        if cleaned:
            return cleaned
    return f"an unnamed file ({part.get_content_type()})"


def _disposition(part: Message) -> str:
    try:
        return (part.get_content_disposition() or "").lower()
    except Exception:
        return ""


def _walk_leaves(part: Message):
    """Leaf parts, not descending into attached emails (message/rfc822 is one attachment)."""
    if part.is_multipart() and part.get_content_type() != "message/rfc822":
        payload = part.get_payload()
        if isinstance(payload, list):
            for sub in payload:
                yield from _walk_leaves(sub)
        return
    yield part


def _choose_body(msg: EmailMessage) -> tuple[Message | None, Message | None]:
    """(plain part, html part) of the message body, skipping attachments."""
    plain = html_part = None
    try:
        plain = msg.get_body(preferencelist=("plain",))
        html_part = msg.get_body(preferencelist=("html",))
    except Exception:
        plain = html_part = None
    if plain is None and html_part is None:
        # get_body() refuses some shapes (e.g. a single text part marked inline with a name)
        for leaf in _walk_leaves(msg):
            if _disposition(leaf) == "attachment":
                continue
            ctype = leaf.get_content_type()
            if ctype == "text/plain" and plain is None:
                plain = leaf
            elif ctype == "text/html" and html_part is None:
                html_part = leaf
    return plain, html_part


def _synthetic_message_id(headers: dict[str, str], raw: bytes) -> str:
    # stable across redeliveries (Received: headers differ): sender, date, subject, body
    body = raw[_split_head(raw):]
    basis = "\n".join(headers.get(h, "") for h in ("from", "date", "subject", "to")).encode()
    digest = hashlib.sha256(basis + b"\n" + body).hexdigest()[:40]
    return f"<{digest}@no-message-id.email-bridge.invalid>"


def parse_email(raw: bytes) -> ParsedEmail:
    """Parse one RFC 5322 message. Raises UnparseableEmail when there is nothing readable."""
    if not isinstance(raw, (bytes, bytearray)):
        raise TypeError("raw must be bytes")
    try:
        msg: EmailMessage = BytesParser(policy=policy.default).parsebytes(bytes(raw))
    except Exception as exc:  # pragma: no cover - the parser is lenient
        raise UnparseableEmail(f"MIME parser failed: {exc.__class__.__name__}") from exc
    headers = _headers(msg)
    if not headers:
        raise UnparseableEmail("no headers")

    ids = MSGID_RE.findall(headers.get("message-id", ""))
    if ids:
        message_id, synthesized = ids[0], False
    else:
        message_id, synthesized = _synthetic_message_id(headers, bytes(raw)), True

    from_list = _addresses(headers.get("from", ""))
    from_name, from_address = from_list[0] if from_list else ("", "")
    reply_to = _addresses(headers.get("reply-to", ""))

    defects = [d.__class__.__name__ for part in msg.walk() for d in getattr(part, "defects", [])]
    try:
        content_type = msg.get_content_type()
    except Exception:
        content_type = "text/plain"

    text, source = "", "none"
    plain, html_part = _choose_body(msg)
    try:
        if plain is not None:
            text, source = part_text(plain), "plain"
        if html_part is not None and not text.strip():
            text, source = html_to_text(part_text(html_part)), "html"
    except Exception as exc:
        raise UnparseableEmail(f"body could not be decoded: {exc.__class__.__name__}") from exc
    if not text.strip() and msg.is_multipart() and any(d in _STRUCTURAL_DEFECTS for d in defects):
        raise UnparseableEmail("broken multipart structure: " + ", ".join(sorted(set(defects))))
    if not text.strip() and not msg.is_multipart() and content_type == "multipart/mixed":
        raise UnparseableEmail("multipart without parts")

    attachments: list[str] = []
    body_parts = {id(p) for p in (plain, html_part) if p is not None}
    for leaf in _walk_leaves(msg):
        if id(leaf) in body_parts:
            continue
        disposition = _disposition(leaf)
        ctype = leaf.get_content_type()
        has_name = bool(leaf.get_param("name") or leaf.get_param("filename", header="content-disposition"))
        if disposition == "attachment" or ctype == "message/rfc822":
            attachments.append(_attachment_label(leaf))
        elif disposition == "inline" and leaf.get("Content-ID"):
            continue  # inline image referenced by the HTML (logos, signature images)
        elif has_name and not ctype.startswith("text/"):
            attachments.append(_attachment_label(leaf))
        elif has_name and ctype.startswith("text/") and disposition != "inline":
            attachments.append(_attachment_label(leaf))

    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\u00a0", " ")
    return ParsedEmail(
        message_id=message_id,
        message_id_synthesized=synthesized,
        in_reply_to=MSGID_RE.findall(headers.get("in-reply-to", "")),
        references=MSGID_RE.findall(headers.get("references", "")),
        subject=headers.get("subject", ""),
        from_name=from_name,
        from_address=from_address,
        reply_to=reply_to,
        text=text,
        body_source=source,
        attachments=attachments,
        headers=headers,
        content_type=content_type,
        defects=defects,
    )


def message_id_of(raw: bytes) -> str:
    """The Message-ID used for de-duplication (synthesized when the header is missing)."""
    try:
        msg = BytesParser(policy=policy.compat32).parsebytes(bytes(raw), headersonly=True)
        headers = _headers(msg)
    except Exception:
        headers = {}
    ids = MSGID_RE.findall(headers.get("message-id", ""))
    return ids[0] if ids else _synthetic_message_id(headers, bytes(raw))


# --------------------------------------------------------------------------- masking the raw copy

def _split_head(raw: bytes) -> int:
    for sep in (b"\r\n\r\n", b"\n\n"):
        index = raw.find(sep)
        if index >= 0:
            return index + len(sep)
    return len(raw)


_BASE64_LINE = re.compile(rb"^[A-Za-z0-9+/=\r]*$")


def _mask_loose_lines(raw: bytes) -> bytes:
    """Fallback for mail the parser cannot handle: mask the header block as a whole and the
    body lines that are plain text.

    Boundary lines ("--...") and lines that could be base64 are left alone: changing a digit
    there would break the MIME structure or an attachment.
    """
    split = _split_head(raw)
    head = mask_card_numbers(raw[:split].decode("latin-1")).encode("latin-1")
    lines = raw[split:].split(b"\n")
    for i, line in enumerate(lines):
        if line.startswith(b"--") or _BASE64_LINE.match(line):
            continue
        # latin-1 maps every byte to one code point and back: digits are untouched ASCII
        lines[i] = mask_card_numbers(line.decode("latin-1")).encode("latin-1")
    return head + b"\n".join(lines)


# headers holding Message-IDs: a Luhn-valid run inside an id is replaced by a stable token (the
# same id always becomes the same token, so de-duplication and threading keep working)
_ID_HEADERS = frozenset({"message-id", "in-reply-to", "references", "resent-message-id", "content-id"})
# attachments that are text a person may read, whatever their declared type
_TEXT_APPLICATION_TYPES = frozenset({
    "application/json", "application/xml", "application/csv", "application/x-csv", "application/yaml",
    "application/x-yaml", "application/rtf", "application/x-sh", "application/javascript", "message/delivery-status",
})
_TEXT_EXTENSIONS = (".txt", ".text", ".csv", ".tsv", ".log", ".json", ".xml", ".md", ".eml", ".html", ".htm",
                    ".yaml", ".yml", ".ini", ".cfg", ".conf", ".rtf")


def _letters(digest_hex: str) -> str:
    return "".join(chr(97 + int(c, 16)) for c in digest_hex)  # a-p: never a digit


def _mask_ids(value: str) -> str:
    def one(match: re.Match) -> str:
        mid = match.group(0)
        if mask_card_numbers(mid) == mid:
            return mid
        return f"<masked-{_letters(hashlib.sha256(mid.encode()).hexdigest()[:32])}@email-bridge.invalid>"

    return mask_card_numbers(MSGID_RE.sub(one, value))


def mask_header_value(name: str, value: str) -> str:
    """A decoded header value with card numbers masked (ids in id headers become tokens)."""
    return _mask_ids(value) if name.lower() in _ID_HEADERS else mask_card_numbers(value)


def _mask_headers(part: Message) -> bool:
    """Mask every header of this part (encoded words decoded first, folding undone)."""
    if part.is_multipart():
        boundary = part.get_boundary()
        if boundary and mask_card_numbers(boundary) != boundary:  # a boundary is only a separator
            part.set_boundary("=_masked_" + _letters(hashlib.sha256(boundary.encode()).hexdigest()[:24]))
    items = list(part.raw_items())
    rewritten: list[tuple[str, str, bool]] = []
    changed = False
    for name, value in items:
        decoded = decode_header_value(value)
        masked = mask_header_value(name, decoded)
        if masked != decoded:
            rewritten.append((name, masked, True))
            changed = True
        else:
            rewritten.append((name, value, False))
    if not changed:
        return False
    for name in {n.lower() for n, _v in items}:
        del part[name]
    for name, value, is_new in rewritten:
        if is_new:
            part[name] = value
        else:
            part.set_raw(name, value)
    return True


def _is_text_attachment(part: Message) -> bool:
    ctype = part.get_content_type()
    if ctype.startswith("text/") or ctype in _TEXT_APPLICATION_TYPES:
        return True
    try:
        name = (part.get_filename() or "").lower()
    except Exception:
        name = ""
    return ctype == "application/octet-stream" and name.endswith(_TEXT_EXTENSIONS)


def _mask_multipart_text(part: EmailMessage) -> bool:
    """Text a multipart carries outside its parts: preamble, epilogue, or - when the structure
    is broken (no boundary found) - the whole payload as one string."""
    changed = False
    for attr in ("preamble", "epilogue"):
        value = getattr(part, attr, None)
        if value and mask_card_numbers(value) != value:
            setattr(part, attr, mask_card_numbers(value))
            changed = True
    payload = part.get_payload()
    if isinstance(payload, str) and mask_card_numbers(payload) != payload:
        part.set_payload(mask_card_numbers(payload))
        changed = True
    return changed


def _mask_body(part: EmailMessage) -> bool:
    if part.get_content_maintype() == "multipart" or (part.is_multipart() and
                                                      part.get_content_type() != "message/rfc822"):
        return _mask_multipart_text(part)
    if part.is_multipart() or not _is_text_attachment(part):
        return False
    text = part_text(part)
    encoded = part.get_payload()
    encoded = encoded if isinstance(encoded, str) else ""
    if any("Base64" in d.__class__.__name__ for d in part.defects):
        text = encoded  # "base64" that is not: what a person reads is the text as it is
    masked = mask_card_numbers(text)
    if part.get_content_type() == "text/html" and contains_card_number(html_to_text(masked)):
        # digits split by tags or written as entities (`4111 1111<br>1111 1111`, `&#52;111`): what a
        # person reads is the rendering; keep that, masked, as the part's HTML
        masked = "<html><body><pre>" + html.escape(mask_card_numbers(html_to_text(masked))) + "</pre></body></html>"
    if masked == text and mask_card_numbers(encoded) == encoded:
        return False
    filename, disposition = part.get_filename(), _disposition(part) or None
    if part.get_content_maintype() == "text":
        part.set_content(masked, subtype=part.get_content_subtype(), charset="utf-8",
                         disposition=disposition, filename=filename)
    else:  # keep the declared type of a text attachment (application/json, a .txt as octet-stream)
        part.set_content(masked.encode("utf-8"), maintype=part.get_content_maintype(),
                         subtype=part.get_content_subtype(), disposition=disposition, filename=filename)
    return True


def mask_raw_message(raw: bytes) -> bytes:
    """The raw message with card numbers masked in EVERY header (of the message, of each part
    and of attached emails: Subject, display names, Comments, X-headers, file names, ...) and in
    every text part, text attachments included (text/*, JSON/XML/CSV, .txt & co. sent as
    octet-stream). Masking is supportbot.privacy.mask_card_numbers (any separators).

    Byte-exact when no card number is found. Changed text parts are re-encoded (UTF-8);
    binary attachments are never touched; a Message-ID holding a Luhn-valid digit run becomes a
    stable token, a multipart boundary holding one a new boundary.
    """
    raw = bytes(raw)
    try:
        msg: EmailMessage = BytesParser(policy=policy.default).parsebytes(raw)
        changed = False
        broken = False
        for part in msg.walk():
            changed = _mask_body(part) | changed
            changed = _mask_headers(part) | changed
            broken = broken or any(d.__class__.__name__ in _STRUCTURAL_DEFECTS for d in part.defects)
        out = msg.as_bytes(policy=policy.default.clone(linesep="\r\n")) if changed else raw
        # broken structure: the parser may have dropped text it could not place (it is still in
        # the bytes); such mail is held for a person anyway, so mask line by line as well
        return _mask_loose_lines(out) if broken else out
    except Exception:
        return _mask_loose_lines(raw)
