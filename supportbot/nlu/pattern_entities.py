"""Rule-based entity extraction with a spaCy EntityRuler (no downloaded model).

`PatternEntityExtractor` is a Rasa 3.6 graph component. It builds a `spacy.blank("en")`
pipeline with an EntityRuler whose patterns are written in code below, runs it on every
message and adds entities with normalised values:

| entity | examples | value |
| --- | --- | --- |
| `email` | `Anna.Smith@Example.com` | `anna.smith@example.com` |
| `order_ref` | `100000001`, `#100000001`, `ref 100000001`, `ref:100000001` | `100000001` |
| `amount` + `currency` | `49.00 EUR`, `$19.99`, `€12,50`, `1.234,56 €`, `30 euros` | `49.00` + `EUR` |
| `date` | `2024-03-15`, `15/03/2024`, `15.03.2024`, `March 15, 2024`, `15th of March` | `2024-03-15` |
| `date` (relative) | `yesterday`, `last week`, `3 days ago` | the words, lowercased |
| `card_last4` | `card ending 4242`, `last four digits 4242`, `last 4: 4242`, `**** **** **** 4242` | `4242` |
| `one_time_code` | a standalone 6-digit number, `code: 123456` | `123456` |
| `refund_reason` | `ordered it twice`, `bought the wrong version`, `no longer need it` | a refund-form reason code |

Decisions (documented because they are judgement calls):

* Numeric dates `a/b/yyyy` are read day-first (the reseller is European) unless the first
  number cannot be a month... i.e. `03/15/2024` (second part > 12) is read month-first.
* A date without a year (`15 March`) is resolved to the most recent such day that is not
  in the future (customers ask about charges that already happened); `today` comes from
  the `today` config key when set (tests), else the UTC date.
* `$` is read as USD. A number with two decimals and no currency (`charged 49.00`) is an
  `amount` without a `currency` entity; an integer without a currency is not an amount.
* `card_last4` entities cover only the four digits (start/end point at them).
"""
from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Iterable
from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.extractors.extractor import EntityExtractorMixin
from rasa.shared.nlu.constants import ENTITIES, TEXT
from rasa.shared.nlu.training_data.message import Message

from supportbot.core.refund_reasons import REFUND_REASON_PHRASES, tokens as reason_tokens
from supportbot.core.timeutil import utcnow
from supportbot.core.vocabulary import (
    EMAIL_ADDRESS,
    ONE_TIME_CODE_DIGITS,
    ORDER_REFERENCE,
    parse_amount,
)

logger = logging.getLogger(__name__)

# --------------------------------------------------------------------------------------
# vocabulary
# --------------------------------------------------------------------------------------

MONTHS = {
    "january": 1, "jan": 1, "february": 2, "feb": 2, "march": 3, "mar": 3, "april": 4,
    "apr": 4, "may": 5, "june": 6, "jun": 6, "july": 7, "jul": 7, "august": 8, "aug": 8,
    "september": 9, "sep": 9, "sept": 9, "october": 10, "oct": 10, "november": 11,
    "nov": 11, "december": 12, "dec": 12,
}

CURRENCY_SYMBOLS = {
    "$": "USD", "us$": "USD", "€": "EUR", "£": "GBP", "¥": "JPY", "₹": "INR", "₩": "KRW",
    "₽": "RUB", "₺": "TRY", "r$": "BRL", "zł": "PLN", "kč": "CZK", "fr.": "CHF",
}
CURRENCY_WORDS = {
    "euro": "EUR", "euros": "EUR", "eur": "EUR", "dollar": "USD", "dollars": "USD",
    "bucks": "USD", "usd": "USD", "pound": "GBP", "pounds": "GBP", "quid": "GBP",
    "gbp": "GBP", "francs": "CHF", "yen": "JPY", "rupees": "INR", "zloty": "PLN",
}
ISO_CODES = {
    "USD", "EUR", "GBP", "CHF", "JPY", "CAD", "AUD", "NZD", "SEK", "NOK", "DKK", "PLN",
    "CZK", "HUF", "BRL", "MXN", "INR", "CNY", "HKD", "SGD", "ZAR", "RUB", "TRY", "KRW",
    "ILS", "AED", "RON", "BGN", "ISK", "THB", "TWD", "PHP", "IDR", "MYR", "CLP", "COP",
    "ARS",
}
CURRENCY_TOKENS = (
    sorted(CURRENCY_SYMBOLS)
    + sorted(CURRENCY_WORDS)
    + sorted(code.lower() for code in ISO_CODES)
)

_DIGITS4 = {"TEXT": {"REGEX": r"^\d{4}$"}}
_NUMBER = r"^\d{1,3}(?:[.,\u00a0']\d{3})+(?:[.,]\d{1,2})?$|^\d+(?:[.,]\d{1,2})?$"
_DECIMAL_AMOUNT = r"^\d{1,3}(?:[.,]\d{3})*[.,]\d{2}$|^\d+[.,]\d{2}$"
_DAY = r"^(?:[12]\d|3[01]|0?[1-9])(?:st|nd|rd|th)?$"
_YEAR = r"^(?:19|20)\d{2}$"
_CARD_FILLER = [
    "digits", "digit", "numbers", "number", "nos", "no", "no.", "#", "nr", "of", "my", "the",
    "card", "cards", "are", "is", "was", "were", ":", "-", "=", "visa", "mastercard",
    "amex", "debit", "credit", "bank", "ending", "ends", "ended", "in", "with", "on",
    "it", "'s", "being", "...", "…", "(", ")",
]
_RELATIVE_DATES = [
    "today", "yesterday", "tonight", "this morning", "this afternoon", "last night",
    "day before yesterday", "the day before yesterday", "last week", "last month",
    "this week", "this month", "last year", "earlier today", "a few days ago",
    "a couple of days ago", "a week ago", "a month ago", "two weeks ago", "last weekend",
]
_WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]


def _patterns() -> list[dict[str, Any]]:
    """All EntityRuler patterns. Labels are upper-case span types, mapped to entities later."""
    p: list[dict[str, Any]] = []

    def add(label: str, pattern: Any, pid: str | None = None) -> None:
        entry: dict[str, Any] = {"label": label, "pattern": pattern}
        if pid:
            entry["id"] = pid
        p.append(entry)

    # email and references
    add("EMAIL", [{"LIKE_EMAIL": True}])
    add("ORDER_REF", [{"TEXT": {"REGEX": rf"^#?{ORDER_REFERENCE.pattern}$"}}])
    add("OTP", [{"TEXT": {"REGEX": rf"^\d{{{ONE_TIME_CODE_DIGITS}}}$"}}])
    half = {"TEXT": {"REGEX": rf"^\d{{{ONE_TIME_CODE_DIGITS // 2}}}$"}}
    add("OTP", [half, {"TEXT": {"IN": ["-", " "]}, "OP": "?"}, half])  # refined in post-processing

    # card last four digits
    mask = {"TEXT": {"REGEX": r"^[*xX•·.\-_]+$"}}
    add("CARD", [mask, {"TEXT": {"REGEX": r"^[*xX•·.\-_]*$"}, "OP": "*"}, _DIGITS4])
    add("CARD", [{"TEXT": {"REGEX": r"^[*xX•·][*xX•·\-]{2,}\d{4}$"}}])
    add("CARD", [{"LOWER": {"IN": ["ending", "ends", "ended", "ending:"]}},
                 {"LOWER": {"IN": ["in", "with", "on", ":", "-", "="]}, "OP": "*"}, _DIGITS4])
    add("CARD", [{"LOWER": "last"}, {"LOWER": {"IN": ["4", "four"]}},
                 {"LOWER": {"IN": _CARD_FILLER}, "OP": "*"}, _DIGITS4])
    add("CARD", [{"LOWER": {"IN": ["card", "visa", "mastercard", "amex", "debit", "creditcard"]}},
                 {"LOWER": {"IN": ["ending", "ends", "number", "no", "no.", "nr", "#", ":",
                                   "-", "in", "with"]}, "OP": "*"},
                 _DIGITS4])

    # money
    cur = {"LOWER": {"IN": CURRENCY_TOKENS}}
    num = {"TEXT": {"REGEX": _NUMBER}}
    add("MONEY", [cur, num])
    add("MONEY", [num, cur])
    add("MONEY", [{"TEXT": {"REGEX": r"^(?i:[A-Z]{3}|[$€£¥])\d[\d.,]*$"}}])
    add("MONEY", [{"TEXT": {"REGEX": r"^\d[\d.,]*(?i:[A-Z]{3}|[$€£¥])$"}}])
    add("MONEY", [{"TEXT": {"REGEX": _DECIMAL_AMOUNT}}])

    # dates
    add("DATE", [{"TEXT": {"REGEX": r"^\d{4}$"}}, {"TEXT": "-"}, {"TEXT": {"REGEX": r"^\d{1,2}$"}},
                 {"TEXT": "-"}, {"TEXT": {"REGEX": r"^\d{1,2}$"}}])
    add("DATE", [{"TEXT": {"REGEX": r"^\d{4}-\d{1,2}-\d{1,2}$"}}])
    add("DATE", [{"TEXT": {"REGEX": r"^\d{1,2}[./-]\d{1,2}[./-](?:\d{4}|\d{2})$"}}])
    month = {"LOWER": {"IN": list(MONTHS)}}
    add("DATE", [{"TEXT": {"REGEX": _DAY}}, {"LOWER": "of", "OP": "?"}, month,
                 {"TEXT": ",", "OP": "?"}, {"TEXT": {"REGEX": _YEAR}, "OP": "?"}])
    add("DATE", [month, {"LOWER": "the", "OP": "?"}, {"TEXT": {"REGEX": _DAY}},
                 {"TEXT": ",", "OP": "?"}, {"TEXT": {"REGEX": _YEAR}, "OP": "?"}])
    for phrase in _RELATIVE_DATES:
        add("DATE_REL", [{"LOWER": w} for w in phrase.split()])
    add("DATE_REL", [{"LOWER": {"IN": ["last", "this", "on"]}}, {"LOWER": {"IN": _WEEKDAYS}}])
    add("DATE_REL", [{"TEXT": {"REGEX": r"^\d{1,2}$"}},
                     {"LOWER": {"IN": ["day", "days", "week", "weeks", "month", "months"]}},
                     {"LOWER": "ago"}])

    # refund reasons (phrase patterns, matched on LOWER)
    for code, phrases in REFUND_REASON_PHRASES.items():
        for phrase in phrases:
            add("REFUND_REASON", [{"LOWER": w} for w in reason_tokens(phrase)], pid=code)
    return p


# --------------------------------------------------------------------------------------
# normalisation helpers (pure functions, unit-tested)
# --------------------------------------------------------------------------------------


def normalise_amount(raw: str) -> str | None:
    """'1.234,56' -> '1234.56', '12,50' -> '12.50', '49' -> '49.00' (the separators are read by
    `supportbot.core.vocabulary.parse_amount`). None if not a number."""
    try:
        return f"{parse_amount(raw):.2f}"
    except ValueError:
        return None


def currency_code(raw: str) -> str | None:
    low = raw.strip().lower()
    if low in CURRENCY_SYMBOLS:
        return CURRENCY_SYMBOLS[low]
    if low in CURRENCY_WORDS:
        return CURRENCY_WORDS[low]
    if raw.strip().upper() in ISO_CODES:
        return raw.strip().upper()
    return None


def _safe_date(year: int, month: int, day: int) -> dt.date | None:
    try:
        return dt.date(year, month, day)
    except ValueError:
        return None


def normalise_date(raw: str, today: dt.date) -> str | None:
    """Absolute date text -> 'yyyy-mm-dd' (None if it is not a valid date)."""
    text = raw.strip().lower().replace(",", " ")
    m = re.fullmatch(r"(\d{4})\s*-\s*(\d{1,2})\s*-\s*(\d{1,2})", text)
    if m:
        d = _safe_date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
        return d.isoformat() if d else None
    m = re.fullmatch(r"(\d{1,2})[./-](\d{1,2})[./-](\d{2}|\d{4})", text)
    if m:
        a, b, y = int(m.group(1)), int(m.group(2)), int(m.group(3))
        if y < 100:
            y += 2000
        day, month = (a, b) if b <= 12 else (b, a)  # day-first unless impossible
        d = _safe_date(y, month, day)
        return d.isoformat() if d else None
    words = text.split()
    day = month = year = None
    for w in words:
        if w in MONTHS and month is None:
            month = MONTHS[w]
        elif re.fullmatch(r"(?:19|20)\d{2}", w):
            year = int(w)
        elif re.fullmatch(r"\d{1,2}(?:st|nd|rd|th)?", w):
            day = int(re.match(r"\d+", w).group(0))
    if day is None or month is None:
        return None
    if year is not None:
        d = _safe_date(year, month, day)
        return d.isoformat() if d else None
    for y in (today.year, today.year - 1):  # most recent such day not in the future
        d = _safe_date(y, month, day)
        if d is not None and d <= today:
            return d.isoformat()
    return None


# --------------------------------------------------------------------------------------
# the component
# --------------------------------------------------------------------------------------


def build_spacy_pipeline():
    """A blank English spaCy pipeline with a few tokenizer tweaks and the EntityRuler."""
    import spacy
    from spacy.util import compile_infix_regex, compile_prefix_regex

    nlp = spacy.blank("en")
    # "ref:100000001", "code:123456" -> split at the colon; "USD19.99"/"EUR49" -> split code
    infixes = list(nlp.Defaults.infixes) + [r"(?<=[A-Za-z]):(?=[#\d])", r"(?<=\d):(?=\d{4,})"]
    nlp.tokenizer.infix_finditer = compile_infix_regex(infixes).finditer
    prefixes = list(nlp.Defaults.prefixes) + [
        r"(?:USD|EUR|GBP|CHF|CAD|AUD|JPY|SEK|NOK|DKK|PLN)(?=\d)", r"#(?=\d)",
        r"(?i:ref|no|nr|order|ord)(?:\.|:|#)(?=#?\d)",
    ]
    nlp.tokenizer.prefix_search = compile_prefix_regex(prefixes).search
    # keep e-mail addresses whole even with upper-case parts ("Anna.Smith@Example.COM")
    nlp.tokenizer.token_match = EMAIL_ADDRESS.fullmatch
    ruler = nlp.add_pipe("entity_ruler", config={"phrase_matcher_attr": "LOWER",
                                                 "overwrite_ents": True})
    ruler.add_patterns(_patterns())
    return nlp


_NLP = None


def _shared_nlp():
    global _NLP
    if _NLP is None:
        _NLP = build_spacy_pipeline()
    return _NLP


@DefaultV1Recipe.register(
    [DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR], is_trainable=False
)
class PatternEntityExtractor(GraphComponent, EntityExtractorMixin):
    """Extracts email, order_ref, amount, currency, date, card_last4, one_time_code and
    refund_reason with a spaCy EntityRuler built in code."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {
            # which entities to emit (None: all)
            "dimensions": None,
            # ISO date used as "today" to resolve dates without a year (None: UTC today)
            "today": None,
        }

    @staticmethod
    def required_packages() -> list[str]:
        return ["spacy"]

    def __init__(self, config: dict[str, Any]) -> None:
        self._config = {**self.get_default_config(), **(config or {})}
        self._nlp = _shared_nlp()

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> PatternEntityExtractor:
        return cls(config)

    # --- public API -------------------------------------------------------------------

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            text = message.get(TEXT)
            if not text:
                continue
            found = self.extract(text)
            if not found:
                continue
            found = self.add_extractor_name(found)
            message.set(ENTITIES, list(message.get(ENTITIES, [])) + found, add_to_output=True)
        return messages

    def extract(self, text: str) -> list[dict[str, Any]]:
        doc = self._nlp(text)
        today = self._today()
        out: list[dict[str, Any]] = []
        for span in doc.ents:
            out.extend(self._entities_for(span, text, today))
        wanted = self._config.get("dimensions")
        if wanted:
            out = [e for e in out if e["entity"] in set(wanted)]
        out.sort(key=lambda e: (e["start"], e["end"]))
        return out

    # --- internals ----------------------------------------------------------------------

    def _today(self) -> dt.date:
        configured = self._config.get("today")
        if configured:
            return dt.date.fromisoformat(str(configured))
        return utcnow().date()

    @staticmethod
    def _entity(name: str, value: str, start: int, end: int, text: str) -> dict[str, Any]:
        return {"entity": name, "value": value, "start": start, "end": end,
                "confidence_entity": 1.0, "text": text[start:end]}

    def _entities_for(self, span, text: str, today: dt.date) -> Iterable[dict[str, Any]]:
        label, start, end = span.label_, span.start_char, span.end_char
        raw = text[start:end]
        if label == "EMAIL":
            value = raw.strip(".,;:<>()[]\"'").lower()
            offset = raw.find(raw.strip(".,;:<>()[]\"'"))
            return [self._entity("email", value, start + offset, start + offset + len(value), text)]
        if label == "ORDER_REF":
            m = ORDER_REFERENCE.search(raw)
            return [self._entity("order_ref", m.group(0), start + m.start(), start + m.end(), text)]
        if label == "OTP":
            digits = re.sub(r"\D", "", raw)
            if len(digits) != ONE_TIME_CODE_DIGITS:
                return []
            # "123 456" only when the message is about a code; a bare 6-digit token always
            if len(span) > 1 and not re.search(r"(?i)\bcode\b", text):
                return []
            return [self._entity("one_time_code", digits, start, end, text)]
        if label == "CARD":
            m = list(re.finditer(r"\d{4}", raw))[-1]
            if re.fullmatch(r"[*xX•·.\-_\s]+\d{4}", raw) and len(re.sub(r"[\s\d]", "", raw)) < 3:
                return []  # "x 4242" / "- 2024" is not a masked card number
            return [self._entity("card_last4", m.group(0), start + m.start(), start + m.end(), text)]
        if label == "MONEY":
            return self._money(raw, start, text)
        if label == "DATE":
            value = normalise_date(raw, today)
            if value is None:
                return []
            return [self._entity("date", value, start, end, text)]
        if label == "DATE_REL":
            value = re.sub(r"^on\s+", "", " ".join(raw.lower().split()))
            return [self._entity("date", value, start, end, text)]
        if label == "REFUND_REASON":
            return [self._entity("refund_reason", span.ent_id_, start, end, text)]
        return []

    def _money(self, raw: str, start: int, text: str) -> list[dict[str, Any]]:
        m = re.search(r"\d(?:[\d.,'\u00a0]*\d)?", raw)
        if not m:
            return []
        amount = normalise_amount(m.group(0))
        if amount is None:
            return []
        ents = [self._entity("amount", amount, start + m.start(), start + m.end(), text)]
        cur_raw: tuple[int, int] | None = None
        before, after = raw[: m.start()].strip(), raw[m.end():].strip()
        cur_text = before or after
        if cur_text:
            code = currency_code(cur_text)
            if code is None:
                return ents
            pos = raw.find(cur_text) if before else raw.rfind(cur_text)
            cur_raw = (start + pos, start + pos + len(cur_text))
            ents.append(self._entity("currency", code, cur_raw[0], cur_raw[1], text))
        return ents
