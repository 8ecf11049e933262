"""Buttons as numbered options; answers by number or words; the reply text."""
from __future__ import annotations

import pytest

from supportbot.channels.email_bridge.choices import match_choice
from supportbot.channels.email_bridge.render import (
    greeting,
    plain_text,
    render_bot_reply,
    render_case_ack,
    render_held_ack,
)

BUTTONS = [
    {"title": "Duplicate order", "payload": '/inform{"refund_reason":"duplicate_order"}'},
    {"title": "Wrong product ordered", "payload": '/inform{"refund_reason":"wrong_product_ordered"}'},
    {"title": "No longer needed", "payload": '/inform{"refund_reason":"no_longer_needed"}'},
]


@pytest.mark.parametrize("answer, number", [
    ("2", 2), ("2.", 2), (" 2 ", 2), ("#2", 2), ("option 2", 2), ("Option 2 please", 2), ("2 please", 2),
    ("2) Wrong product ordered", 2), ("2. Wrong product ordered", 2), ("Wrong product ordered", 2),
    ("wrong product ordered.", 2), ('"Duplicate order"', 1), ("no longer needed", 3), ("the second one", 2),
    ("I'd like option 3", 3), ("last", 3), ("first", 1), ("Number 1", 1),
])
def test_answer_maps_to_the_button_payload(answer, number):
    choice = match_choice(answer, BUTTONS)
    assert choice is not None and choice.number == number
    assert choice.payload == BUTTONS[number - 1]["payload"]


@pytest.mark.parametrize("answer", [
    "4", "0", "12", "2 and also my order is 100000005", "no", "wrong", "duplicate",
    "I ordered the wrong product and want a refund", "2. Duplicate order",  # number and words disagree
    "",
])
def test_other_answers_are_sent_as_written(answer):
    assert match_choice(answer, BUTTONS) is None


def test_yes_no_buttons():
    buttons = [{"title": "Yes", "payload": "/affirm"}, {"title": "No", "payload": "/deny"}]
    assert match_choice("Yes!", buttons).payload == "/affirm"
    assert match_choice("no", buttons).payload == "/deny"
    assert match_choice("2", buttons).payload == "/deny"


def test_all_bot_messages_in_one_reply_with_numbered_buttons_and_plain_links():
    reply = render_bot_reply([
        {"text": "I found your order **100000005**."},
        {"text": "Why would you like a refund?", "buttons": BUTTONS},
        {"text": "Our policy: [refund policy](https://help.reseller.example/refunds)",
         "buttons": [{"title": "Open the help center", "payload": "https://help.reseller.example"}]},
    ], name="Erin Doe", notes=["I can't open attachments; I saw: invoice.pdf."])
    text = reply.text
    assert text.startswith("Hello Erin,\n\nI found your order 100000005.\n\nWhy would you like a refund?")
    assert ("Reply with the number or the words:\n  1. Duplicate order\n  2. Wrong product ordered\n"
            "  3. No longer needed") in text
    assert "refund policy: https://help.reseller.example/refunds" in text
    assert "Open the help center: https://help.reseller.example" in text
    assert "I can't open attachments; I saw: invoice.pdf." in text
    assert "\n-- \n" in text and "automated" in text
    assert [b["title"] for b in reply.buttons] == [b["title"] for b in BUTTONS]


def test_buttons_of_several_messages_are_numbered_across_the_reply():
    reply = render_bot_reply([{"text": "A?", "buttons": BUTTONS[:2]}, {"text": "B?", "buttons": BUTTONS[2:]}])
    assert "  3. No longer needed" in reply.text and len(reply.buttons) == 3


def test_acknowledgements():
    assert "added your message to your case" in render_case_ack(name="Erin").text
    held = render_held_ack(name=None, notes=["I can't open attachments; I saw: a.pdf."]).text
    assert held.startswith("Hello,\n\n") and "a person" in held and "a.pdf" in held


@pytest.mark.parametrize("name, expected", [
    ("Erin Doe", "Hello Erin,"), ("Doe, Erin", "Hello Erin,"), ("ERIN DOE", "Hello Erin,"), ("", "Hello,"),
    ("erin@example.com", "Hello,"), ("ACME Corp. Accounts 2", "Hello,"), ("Billing Team", "Hello,"),
    ("José", "Hello José,"),
    ("123 Inc", "Hello,"),
])
def test_greeting(name, expected):
    assert greeting(name) == expected


def test_plain_text_links():
    assert plain_text("[https://x.example](https://x.example)") == "https://x.example"
    assert plain_text("see [here](https://x.example/a)") == "see here: https://x.example/a"
