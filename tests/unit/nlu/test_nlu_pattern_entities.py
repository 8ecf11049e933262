"""PatternEntityExtractor: the rule-based spaCy entities, called the way Rasa calls it."""
from __future__ import annotations

import datetime as dt

import pytest
from rasa.shared.nlu.constants import ENTITIES, TEXT
from rasa.shared.nlu.training_data.message import Message

from supportbot.core import vocabulary
from supportbot.core.refund_reasons import REFUND_REASON_PHRASES, reason_from_text
from supportbot.nlu.pattern_entities import (
    PatternEntityExtractor,
    currency_code,
    normalise_amount,
    normalise_date,
)

TODAY = "2024-06-10"


@pytest.fixture(scope="module")
def extractor() -> PatternEntityExtractor:
    return PatternEntityExtractor({"today": TODAY})


def run(extractor: PatternEntityExtractor, text: str) -> list[dict]:
    message = Message(data={TEXT: text})
    [out] = extractor.process([message])
    return out.get(ENTITIES, [])


def values(entities: list[dict], name: str) -> list[str]:
    return [e["value"] for e in entities if e["entity"] == name]


def only(entities: list[dict], name: str) -> dict:
    found = [e for e in entities if e["entity"] == name]
    assert len(found) == 1, found
    return found[0]


# ----- email -----------------------------------------------------------------------------


def test_email_is_lowercased_with_offsets(extractor):
    text = "Hi, my email is Anna.Smith@Example.COM, thanks"
    e = only(run(extractor, text), "email")
    assert e["value"] == "anna.smith@example.com"
    assert text[e["start"]:e["end"]] == "Anna.Smith@Example.COM"
    assert e["extractor"] == "PatternEntityExtractor"


def test_email_inside_a_pasted_email_body(extractor):
    text = "Hello,\n\nI bought a license last week.\nMy address: j.doe+shop@mail.co.uk\n\nThanks, Jo"
    ents = run(extractor, text)
    assert values(ents, "email") == ["j.doe+shop@mail.co.uk"]
    assert values(ents, "date") == ["last week"]


# ----- order reference ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "100000001",
        "my order is #100000001",
        "ref 100000001",
        "ref:100000001",
        "order no. 100000001.",
        "Reference number: 100000001, thanks",
        "(100000001)",
    ],
)
def test_order_reference_variants(extractor, text):
    e = only(run(extractor, text), "order_ref")
    assert e["value"] == "100000001"
    assert text[e["start"]:e["end"]] == "100000001"


def test_other_lengths_are_not_order_references(extractor):
    ents = run(extractor, "ticket 12345678 and 1234567890")
    assert values(ents, "order_ref") == []


@pytest.mark.parametrize("text", ["my order 1000000012", "order #1000000012", "ref:1000000012"])
def test_ten_digits_are_not_a_reference_with_one_digit_too_many(extractor, text):
    assert values(run(extractor, text), "order_ref") == []


def test_the_channels_and_the_classifier_use_the_one_reference_and_email_pattern():
    from supportbot.channels.email_bridge import cleaning
    from supportbot.nlu import linear_intent_classifier as lic

    assert cleaning.ORDER_REFERENCE is vocabulary.ORDER_REFERENCE
    assert cleaning.EMAIL_ADDRESS is vocabulary.EMAIL_ADDRESS
    shapes = dict(lic.SHAPES)
    assert shapes["shapeemail"] is vocabulary.EMAIL_ADDRESS
    assert vocabulary.ORDER_REFERENCE.pattern in shapes["shapeorder"].pattern
    assert lic.replace_shapes("ref 1000000012").split() == ["ref", "1000000012"]
    assert lic.replace_shapes("ref #100000001").split() == ["ref", "shapeorder"]


def test_two_references_in_one_message(extractor):
    ents = run(extractor, "I was charged for 100000001 and again for #100000002")
    assert values(ents, "order_ref") == ["100000001", "100000002"]


# ----- amount and currency -------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, amount, currency",
    [
        ("I was charged 49.00 EUR", "49.00", "EUR"),
        ("a charge of $19.99 appeared", "19.99", "USD"),
        ("€12,50 on my statement", "12.50", "EUR"),
        ("they took 1.234,56 € from me", "1234.56", "EUR"),
        ("USD 1,299.00 twice", "1299.00", "USD"),
        ("about 30 euros", "30.00", "EUR"),
        ("£5 charge", "5.00", "GBP"),
        ("CHF 20.50", "20.50", "CHF"),
        ("EUR49 was taken", "49.00", "EUR"),
        ("charged 100 dollars", "100.00", "USD"),
    ],
)
def test_amount_and_currency(extractor, text, amount, currency):
    ents = run(extractor, text)
    assert values(ents, "amount") == [amount]
    assert values(ents, "currency") == [currency]
    a, c = only(ents, "amount"), only(ents, "currency")
    assert normalise_amount(text[a["start"]:a["end"]]) == amount
    assert currency_code(text[c["start"]:c["end"]]) == currency


@pytest.mark.parametrize("text, minor", [("¥1,200 on my card", 1200), ("1200 yen", 1200),
                                         ("JPY 12,000 twice", 12000)])
def test_yen_amounts_reach_the_core_as_yen(extractor, text, minor):
    """The entity value is a plain decimal; the core's one parser makes it minor units of the
    currency (no decimals for JPY), as the charge lookup does."""
    ents = run(extractor, text)
    amount, currency = values(ents, "amount"), values(ents, "currency")
    assert currency == ["JPY"]
    assert vocabulary.parse_money(amount[0], currency[0]) == minor


def test_every_refund_reason_phrase_means_the_same_to_the_nlu_and_to_the_actions(extractor):
    """One phrase table (supportbot.core.refund_reasons) for the EntityRuler and the
    spaCy-free `reason_from_text` the actions use."""
    for code, phrases in REFUND_REASON_PHRASES.items():
        for phrase in phrases:
            text = "I want my money back, " + phrase.replace(" n't", "n't")
            assert values(run(extractor, text), "refund_reason")[:1] == [code], text
            assert reason_from_text(text) == code, text


def test_decimal_number_without_currency_is_an_amount(extractor):
    ents = run(extractor, "there is a charge of 49.99 I don't know")
    assert values(ents, "amount") == ["49.99"]
    assert values(ents, "currency") == []


def test_plain_integer_is_not_an_amount(extractor):
    ents = run(extractor, "I have 3 licenses for 2 computers")
    assert values(ents, "amount") == []


# ----- dates ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, iso",
    [
        ("on 2024-03-15", "2024-03-15"),
        ("on 15/03/2024", "2024-03-15"),
        ("on 03/15/2024", "2024-03-15"),
        ("on 15.03.2024", "2024-03-15"),
        ("on March 15, 2024", "2024-03-15"),
        ("on 15th of March 2024", "2024-03-15"),
        ("on 3rd March", "2024-03-03"),
        ("on 20 December", "2023-12-20"),  # no year: most recent past day
    ],
)
def test_absolute_dates_are_iso(extractor, text, iso):
    assert values(run(extractor, text), "date") == [iso]


@pytest.mark.parametrize(
    "text, value",
    [("it happened yesterday", "yesterday"), ("3 days ago", "3 days ago"),
     ("last week", "last week"), ("charged on Monday", "monday")],
)
def test_relative_dates_are_left_as_words(extractor, text, value):
    assert values(run(extractor, text), "date") == [value]


def test_invalid_date_is_dropped(extractor):
    assert values(run(extractor, "on 31/02/2024"), "date") == []


# ----- card last four -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "card ending 4242",
        "my Visa ending in 4242",
        "last four digits 4242",
        "last 4: 4242",
        "the last 4 digits of my card are 4242",
        "**** **** **** 4242",
        "paid with **** **** **** 4242 yesterday",
        "XXXX-XXXX-XXXX-4242",
    ],
)
def test_card_last4(extractor, text):
    e = only(run(extractor, text), "card_last4")
    assert e["value"] == "4242"
    assert text[e["start"]:e["end"]] == "4242"


def test_a_year_is_not_a_card(extractor):
    ents = run(extractor, "I bought it in 2024 - 2025 was the renewal")
    assert values(ents, "card_last4") == []


# ----- one-time code --------------------------------------------------------------------------


def test_six_digit_code(extractor):
    text = "the code is 482913."
    e = only(run(extractor, text), "one_time_code")
    assert e["value"] == "482913"
    assert text[e["start"]:e["end"]] == "482913"


def test_spaced_code_only_when_talking_about_a_code(extractor):
    assert values(run(extractor, "my code: 482 913"), "one_time_code") == ["482913"]
    assert values(run(extractor, "I have 482 913 apples"), "one_time_code") == []


def test_nine_digit_reference_is_not_a_code(extractor):
    ents = run(extractor, "100000001")
    assert values(ents, "one_time_code") == []


# ----- refund reason -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, code",
    [
        ("I ordered it twice by accident", "duplicate_order"),
        ("I bought the wrong version", "wrong_product_ordered"),
        ("the software doesn't work on my PC", "product_not_working"),
        ("I no longer need it", "no_longer_needed"),
        ("it renewed automatically and I forgot to cancel", "unintended_renewal"),
    ],
)
def test_refund_reason_codes(extractor, text, code):
    assert code in values(run(extractor, text), "refund_reason")


# ----- component behaviour ------------------------------------------------------------------------


def test_keeps_existing_entities_and_sets_extractor(extractor):
    message = Message(data={TEXT: "ref 100000001"})
    message.set(ENTITIES, [{"entity": "other", "value": "x", "start": 0, "end": 3,
                            "extractor": "DIETClassifier"}])
    [out] = extractor.process([message])
    ents = out.get(ENTITIES)
    assert [e["entity"] for e in ents] == ["other", "order_ref"]
    assert all("extractor" in e for e in ents)


def test_message_without_entities_is_untouched(extractor):
    message = Message(data={TEXT: "hello there"})
    [out] = extractor.process([message])
    assert out.get(ENTITIES, []) == []


def test_empty_message(extractor):
    [out] = extractor.process([Message(data={TEXT: ""})])
    assert out.get(ENTITIES, []) == []


def test_dimensions_filter():
    ext = PatternEntityExtractor({"dimensions": ["email"]})
    ents = ext.extract("a@b.com ref 100000001")
    assert [e["entity"] for e in ents] == ["email"]


def test_everything_at_once(extractor):
    text = ("Hi, I was charged $19.99 on 2024-05-02 on my card ending 4242 "
            "for order #100000001, email ME@x.org. Code 123456")
    ents = run(extractor, text)
    got = {e["entity"]: e["value"] for e in ents}
    assert got == {
        "amount": "19.99", "currency": "USD", "date": "2024-05-02", "card_last4": "4242",
        "order_ref": "100000001", "email": "me@x.org", "one_time_code": "123456",
    }
    for e in ents:
        assert 0 <= e["start"] < e["end"] <= len(text)


# ----- pure helpers -----------------------------------------------------------------------------


def test_normalise_amount():
    assert normalise_amount("49") == "49.00"
    assert normalise_amount("12,5") == "12.50"
    assert normalise_amount("1.234") == "1234.00"
    assert normalise_amount("1,234,567.8") == "1234567.80"
    assert normalise_amount("abc") is None


def test_currency_code():
    assert currency_code("€") == "EUR"
    assert currency_code("usd") == "USD"
    assert currency_code("Pounds") == "GBP"
    assert currency_code("XYZ") is None


def test_normalise_date_year_inference():
    today = dt.date(2024, 1, 5)
    assert normalise_date("10 January", today) == "2023-01-10"
    assert normalise_date("2 Jan", today) == "2024-01-02"
