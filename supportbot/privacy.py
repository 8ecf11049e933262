"""Masking of card numbers before text reaches Rasa, a log or a database.

ONE rule, used by every channel (REST, socket.io, email headers, bodies and attachments), the
handoff queue and the importer: every Luhn-valid run of 13-19 digits becomes
``**** **** **** 1234`` (the last 4 kept), whatever the customer typed between the digits:
spaces (one or several), tabs, newlines, dots, slashes, backslashes, underscores, dashes of
any kind (``-``, U+2010-U+2015, U+2212) and every Unicode space (no-break U+00A0, narrow
no-break U+202F, thin and figure spaces...). Fullwidth digits (``４１１１``) count as digits.
The widget (channels/web/static/widget.js, ``maskCardNumbers``) applies the same rule.

How a run is read: digits joined by at most ``MAX_SEPARATOR_RUN`` separator characters form
one run of groups. The whole run is a card number when it has 13-19 digits and passes Luhn;
otherwise every stretch of whole groups with 13-19 digits is tried, longest first, so
``4111 1111 1111 1111 12/27`` loses its card number and keeps the expiry. A run with more
than 19 digits and no separators is not a card number (tracking numbers, IBAN digits).

One exception keeps order references usable: a stretch of several groups that contains an
order reference (``vocabulary.ORDER_REFERENCE_DIGITS`` digits, the whole group) is not a
card number: no card is written with a 9-digit group, but "100000001 4242" (a reference
and a card's last 4) or "100000001 100000002" (two references) are typed every day.
"""
from __future__ import annotations

import re

from supportbot.core.vocabulary import ORDER_REFERENCE_DIGITS

MIN_CARD_DIGITS = 13
MAX_CARD_DIGITS = 19
MAX_SEPARATOR_RUN = 5
MASK_PREFIX = "**** **** **** "

# digits: ASCII and fullwidth (Japanese input methods type ０-９)
_DIGIT = "0-9\uff10-\uff19"
# anything a person puts between digit groups (the same list as widget.js: every Unicode
# space, dots, slashes, underscores, dashes, the Japanese middle dot and fullwidth punctuation)
_SPACES = r" \t\n\r\f\v\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
_SEPARATOR = _SPACES + r".\-/\\_\u2010-\u2015\u2212\u00b7\u30fb\uff0d\uff0e\uff0f"
_RUN = re.compile(
    rf"(?<![{_DIGIT}])[{_DIGIT}](?:[{_SEPARATOR}]{{0,{MAX_SEPARATOR_RUN}}}[{_DIGIT}])*(?![{_DIGIT}])")
_GROUP = re.compile(rf"[{_DIGIT}]+")


def _ascii_digits(text: str) -> str:
    return "".join(chr(ord(ch) - 0xFF10 + 48) if "\uff10" <= ch <= "\uff19" else ch
                   for ch in text if "0" <= ch <= "9" or "\uff10" <= ch <= "\uff19")


def luhn_valid(digits: str) -> bool:
    """The Luhn check of a string of digits (ASCII or fullwidth); False for anything else."""
    digits = _ascii_digits(digits)
    if not digits:
        return False
    total, parity = 0, len(digits) % 2
    for i, ch in enumerate(digits):
        d = ord(ch) - 48
        if i % 2 == parity:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def _card_stretches(groups: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    """(start, end, last4) of each stretch of whole groups that is a card number: the longest
    from the leftmost group on, then on after it."""
    found: list[tuple[int, int, str]] = []
    i, n = 0, len(groups)
    while i < n:
        best: tuple[int, int, str] | None = None
        # Luhn sums kept for both parities: doubling the even / the odd positions from the left
        even_sum = odd_sum = length = 0
        has_reference = False
        tail = ""
        for j in range(i, n):
            digits = groups[j][2]
            if length + len(digits) > MAX_CARD_DIGITS:
                break
            for ch in digits:
                d = ord(ch) - 48
                doubled = d * 2 - 9 if d > 4 else d * 2
                if length % 2 == 0:
                    even_sum, odd_sum = even_sum + doubled, odd_sum + d
                else:
                    even_sum, odd_sum = even_sum + d, odd_sum + doubled
                length += 1
            tail = (tail + digits)[-4:]
            has_reference = has_reference or len(digits) == ORDER_REFERENCE_DIGITS
            if length < MIN_CARD_DIGITS or (has_reference and j > i):
                continue
            # Luhn doubles every second digit counted from the right
            if (even_sum if length % 2 == 0 else odd_sum) % 10 == 0:
                best = (groups[i][0], groups[j][1], tail)
        if best is None:
            i += 1
            continue
        found.append(best)
        while i < n and groups[i][0] < best[1]:
            i += 1
    return found


def mask_card_numbers(text: str) -> str:
    """`text` with every Luhn-valid 13-19 digit run (any separators) as `**** **** **** 1234`."""
    if not text:
        return text

    def _mask(match: re.Match[str]) -> str:
        run = match.group(0)
        groups = [(m.start(), m.end(), _ascii_digits(m.group(0))) for m in _GROUP.finditer(run)]
        stretches = _card_stretches(groups)
        if not stretches:
            return run
        out, last = [], 0
        for start, end, last4 in stretches:
            out.append(run[last:start])
            out.append(MASK_PREFIX + last4)
            last = end
        out.append(run[last:])
        return "".join(out)

    return _RUN.sub(_mask, text)


def contains_card_number(text: str) -> bool:
    """True when `text` holds a card number `mask_card_numbers` would mask."""
    return bool(text) and mask_card_numbers(text) != text
