"""Entity extraction as properties: order references, email addresses and amounts round-trip
through the NLU extractor (supportbot/nlu/pattern_entities.py) and the shared vocabulary
(supportbot/core/vocabulary.py); arbitrary text never makes either fail."""
from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, strategies as st

from supportbot.core import vocabulary
from supportbot.nlu.pattern_entities import PatternEntityExtractor


@pytest.fixture(scope="module")
def extractor() -> PatternEntityExtractor:
    return PatternEntityExtractor({"today": "2024-06-10"})


def _values(found, name):
    return [e["value"] for e in found if e["entity"] == name]


REFERENCE = st.integers(10**8, 10**9 - 1).map(str)
OPENING = st.sampled_from(["my order is", "order", "ref", "the reference is", "it's", "order no."])
CLOSING = st.sampled_from(["", ".", " thanks", "!", " please", ", can you help?"])


@given(reference=REFERENCE, hashed=st.booleans(), opening=OPENING, closing=CLOSING)
def test_an_order_reference_round_trips(extractor, reference, hashed, opening, closing):
    written = ("#" if hashed else "") + reference
    text = f"{opening} {written}{closing}"
    assert _values(extractor.extract(text), "order_ref") == [reference]
    assert vocabulary.find_reference(text) == reference
    assert vocabulary.normalize_reference(f" {written} ") == reference


@given(digits=st.integers(10**9, 10**12).map(str))
def test_a_longer_number_is_not_a_reference(extractor, digits):
    assert vocabulary.find_reference(f"number {digits}") is None
    assert _values(extractor.extract(f"number {digits}"), "order_ref") == []


LOCAL = st.from_regex(r"[a-z0-9](?:[a-z0-9._+-]{0,15}[a-z0-9])?", fullmatch=True).filter(
    lambda s: ".." not in s)
LABEL = st.from_regex(r"[a-z0-9](?:[a-z0-9-]{0,10}[a-z0-9])?", fullmatch=True)
TLD = st.sampled_from(["com", "de", "example", "co.uk", "net", "io"])


@given(local=LOCAL, label=LABEL, tld=TLD, upper=st.booleans(), closing=CLOSING)
def test_an_email_address_round_trips(extractor, local, label, tld, upper, closing):
    address = f"{local}@{label}.{tld}"
    written = address.upper() if upper else address
    text = f"my email is {written}{closing}"
    assert _values(extractor.extract(text), "email") == [address]
    assert vocabulary.normalize_email(f" {written} ") == address
    assert vocabulary.EMAIL_ADDRESS.search(text).group(0).lower() == address


CURRENCY = st.sampled_from(["EUR", "USD", "GBP", "CHF"])


def _written(amount_minor: int, style: str) -> str:
    units, cents = divmod(amount_minor, 100)
    grouped = f"{units:,}"
    return {
        "plain": f"{units}.{cents:02d}",
        "comma": f"{units},{cents:02d}",
        "en": f"{grouped}.{cents:02d}",
        "de": f"{grouped.replace(',', '.')},{cents:02d}",
        "ch": f"{grouped.replace(',', chr(39))}.{cents:02d}",
    }[style]


@given(amount_minor=st.integers(1, 10**8), style=st.sampled_from(["plain", "comma", "en", "de", "ch"]),
       currency=CURRENCY)
def test_an_amount_round_trips_through_the_vocabulary(amount_minor, style, currency):
    written = _written(amount_minor, style)
    assert vocabulary.parse_amount(written) == Decimal(amount_minor) / 100
    assert vocabulary.parse_money(written, currency) == amount_minor
    shown = vocabulary.format_money(amount_minor, currency)
    assert vocabulary.parse_money(shown.split()[0], currency) == amount_minor


@given(amount_minor=st.integers(1, 10**7), style=st.sampled_from(["plain", "en", "de"]),
       currency=CURRENCY, before=st.booleans())
def test_an_amount_with_its_currency_is_extracted(extractor, amount_minor, style, currency, before):
    written = _written(amount_minor, style)
    money = f"{currency} {written}" if before else f"{written} {currency}"
    found = extractor.extract(f"I was charged {money} yesterday")
    assert _values(found, "amount") == [f"{Decimal(amount_minor) / 100:.2f}"]
    assert _values(found, "currency") == [currency]


@given(text=st.text(max_size=200))
def test_arbitrary_text_never_fails_and_every_entity_points_into_the_text(extractor, text):
    for entity in extractor.extract(text):
        assert 0 <= entity["start"] <= entity["end"] <= len(text)
        assert entity["text"] == text[entity["start"]:entity["end"]]
    vocabulary.find_reference(text)
    vocabulary.normalize_reference(text)
    vocabulary.normalize_email(text)
    try:
        vocabulary.parse_amount(text)
    except ValueError:
        pass
