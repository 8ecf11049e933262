"""Shared hypothesis strategies: card numbers (Luhn-valid or not), separators, text around."""
from __future__ import annotations

from hypothesis import strategies as st

from supportbot.privacy import luhn_valid

#: what people put between the digits of a card number (issue 14: dots, double spaces, tabs,
#: newlines, slashes, no-break spaces, plus the classic space and dash)
SEPARATOR_CHARS = [" ", "-", ".", "\t", "\n", "/", "\u00a0", "\u202f"]
separators = st.text(alphabet=SEPARATOR_CHARS, min_size=1, max_size=2)


def luhn_complete(body: str) -> str:
    """`body` + the check digit that makes it Luhn-valid."""
    for check in "0123456789":
        if luhn_valid(body + check):
            return body + check
    raise AssertionError("unreachable")


@st.composite
def card_numbers(draw, valid: bool = True) -> str:
    length = draw(st.integers(13, 19))
    body = draw(st.text(alphabet="0123456789", min_size=length - 1, max_size=length - 1))
    body = draw(st.sampled_from("3456")) + body[1:]
    number = luhn_complete(body)
    if not valid:
        last = (int(number[-1]) + draw(st.integers(1, 9))) % 10
        number = number[:-1] + str(last)
    return number


@st.composite
def written_with_separators(draw, digits: str) -> str:
    """`digits` as a person might type them: groups joined by separators."""
    out = [digits[0]]
    for ch in digits[1:]:
        if draw(st.booleans()):
            out.append(draw(separators))
        out.append(ch)
    return "".join(out)


#: text around a number that holds no digit and does not glue onto it
words = st.text(alphabet=st.characters(blacklist_categories=("Nd", "Cs"), blacklist_characters="\x00"),
                max_size=40)


def no_digit_edges(left: str, right: str) -> tuple[str, str]:
    """Pad with a space so the number stays a separate token."""
    return left + " ", " " + right
