"""Card masking (supportbot/privacy.py) as properties: every Luhn-valid 13-19 digit number is
masked whatever the separators between its digits; order references and numbers that are not
card numbers are left alone; masking twice changes nothing; no text makes it fail."""
from __future__ import annotations

import re

from hypothesis import assume, given, strategies as st

from supportbot.privacy import luhn_valid, mask_card_numbers
from tests.property.strategies import (
    card_numbers,
    no_digit_edges,
    separators,
    words,
    written_with_separators,
)


def _groups(written: str) -> list[str]:
    return re.findall(r"\d+", written)


@given(data=st.data(), number=card_numbers(), left=words, right=words)
def test_a_card_number_is_masked_whatever_the_separators(data, number, left, right):
    written = data.draw(written_with_separators(number))
    # a 9-digit group is read as an order reference (privacy.py): not a card as people write it
    assume(all(len(g) != 9 for g in _groups(written)))
    left, right = no_digit_edges(left, right)
    masked = mask_card_numbers(left + written + right)
    digits = re.sub(r"\D", "", masked)
    assert number not in digits, (written, masked)
    assert number[:6] not in digits  # the issuer part is gone, not only the whole
    assert number[-4:] in masked  # the last 4 stay readable


@given(number=card_numbers(), sep=separators)
def test_two_card_numbers_in_one_message_are_both_masked(number, sep):
    other = number[::-1]
    assume(luhn_valid(other) and len(set(other)) > 1)
    masked = mask_card_numbers(f"first {number} and then{sep}x {other} too")
    assert number not in masked and other not in masked


@given(refs=st.lists(st.integers(100000000, 999999999), min_size=1, max_size=3),
       last4=st.none() | st.integers(0, 9999), sep=separators)
def test_order_references_and_last_four_digits_are_never_masked(refs, last4, sep):
    parts = [str(r) for r in refs] + ([f"{last4:04d}"] if last4 is not None else [])
    text = "my orders " + sep.join(parts) + " please"
    assert mask_card_numbers(text) == text


@given(data=st.data(), number=card_numbers(valid=False))
def test_a_number_that_fails_luhn_is_left_alone(data, number):
    written = data.draw(st.one_of(st.just(number), written_with_separators(number)))
    groups = _groups(written)
    # no stretch of whole groups is itself a Luhn-valid 13-19 digit number
    for i in range(len(groups)):
        for j in range(i + 1, len(groups) + 1):
            run = "".join(groups[i:j])
            assume(not (13 <= len(run) <= 19 and luhn_valid(run)))
    text = f"tracking {written} thanks"
    assert mask_card_numbers(text) == text


@given(text=st.text(max_size=300))
def test_masking_never_fails_and_masking_twice_changes_nothing(text):
    once = mask_card_numbers(text)
    assert isinstance(once, str)
    assert mask_card_numbers(once) == once


@given(data=st.data(), number=card_numbers(), left=words, right=words)
def test_masking_a_masked_card_number_changes_nothing(data, number, left, right):
    written = data.draw(written_with_separators(number))
    left, right = no_digit_edges(left, right)
    once = mask_card_numbers(left + written + right)
    assert mask_card_numbers(once) == once


@given(text=words)
def test_text_without_digits_is_unchanged(text):
    assert mask_card_numbers(text) == text
