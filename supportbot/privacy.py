"""Masking of card numbers before text reaches Rasa, a log or a database."""
from __future__ import annotations

import re

# 13-19 digits, optionally grouped by single spaces or dashes
_CARD_CANDIDATE = re.compile(r"(?<![\d])(?:\d[ -]?){12,18}\d(?![\d])")


def luhn_valid(digits: str) -> bool:
    total, parity = 0, len(digits) % 2
    for i, ch in enumerate(digits):
        d = int(ch)
        if i % 2 == parity:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def mask_card_numbers(text: str) -> str:
    """Replace every Luhn-valid 13-19 digit run with `**** **** **** 1234` (last 4 kept)."""
    if not text:
        return text

    def _mask(match: re.Match) -> str:
        digits = re.sub(r"[ -]", "", match.group(0))
        if 13 <= len(digits) <= 19 and luhn_valid(digits):
            return f"**** **** **** {digits[-4:]}"
        return match.group(0)

    return _CARD_CANDIDATE.sub(_mask, text)
