"""Quoted replies, signatures, sign-offs and the subject line."""
from __future__ import annotations

import pytest

from supportbot.channels.email_bridge.cleaning import (
    clean_body,
    compose_turn_text,
    normalize_subject,
    reply_subject,
    strip_quotes,
    truncate,
)

GMAIL = """Yes, that's the one. My email is erin@example.com

On Mon, 3 Jun 2024 at 10:15, Support <support@reseller.example> wrote:

> Hello Erin,
>
> Which order do you mean?
>
> --
> Support assistant
"""

GMAIL_WRAPPED = """Number 2 please

On Mon, Jun 3, 2024 at 10:15 AM Reseller Support <
support@reseller.example> wrote:
> Reply with the number or the words:
"""

OUTLOOK = """Please cancel my subscription.

-----Original Message-----
From: Support <support@reseller.example>
Sent: Monday, June 3, 2024 10:15 AM
To: Erin Doe <erin@example.com>
Subject: RE: Subscription

Hello Erin, ...
"""

OUTLOOK_RULE = """I still have not received my refund.

________________________________
From: Reseller Support <support@reseller.example>
Sent: Monday, 3 June 2024 10:15
To: erin@example.com
Subject: Re: Refund

Hello Erin,
"""

OUTLOOK_BOLD = """Got it, thanks for the quick answer - where is my license key?

*From:* Support <support@reseller.example>
*Sent:* Monday, June 3, 2024 10:15 AM
*To:* Erin Doe <erin@example.com>
*Subject:* Re: License
"""

GERMAN = """Bitte stornieren.

Am Mo., 3. Juni 2024 um 10:15 Uhr schrieb Support <support@reseller.example>:
> Hallo
"""


@pytest.mark.parametrize("text, expected", [
    (GMAIL, "Yes, that's the one. My email is erin@example.com"),
    (GMAIL_WRAPPED, "Number 2 please"),
    (OUTLOOK, "Please cancel my subscription."),
    (OUTLOOK_RULE, "I still have not received my refund."),
    (OUTLOOK_BOLD, "Got it, thanks for the quick answer - where is my license key?"),
    (GERMAN, "Bitte stornieren."),
])
def test_quoted_earlier_messages_are_stripped(text, expected):
    assert clean_body(text) == expected


def test_interleaved_answers_between_quoted_lines_are_kept():
    text = "> Which order?\n100000005\n> And your email?\nerin@example.com\n"
    assert strip_quotes(text) == "100000005\nerin@example.com"


@pytest.mark.parametrize("text", [
    "I was charged twice.\n\n-- \nErin Doe\nACME Corp\n+1 555 0100",
    "I was charged twice.\n\nSent from my iPhone",
    "I was charged twice.\n\nGet Outlook for Android",
    "I was charged twice.\n--\nErin",
])
def test_signatures_are_stripped(text):
    assert clean_body(text) == "I was charged twice."


@pytest.mark.parametrize("text", [
    "I was charged twice.\n\nThanks,\nErin",
    "I was charged twice.\n\nKind regards,\nErin Doe",
    "I was charged twice.\n\nBest regards\nErin Doe\nHead Of Purchasing",
    "I was charged twice.\nThanks, Erin",
    "I was charged twice.\n\nCheers!",
])
def test_trailing_sign_off_block_is_stripped(text):
    assert clean_body(text) == "I was charged twice."


@pytest.mark.parametrize("text", [
    "Thanks!",  # the whole message: the bot should see the thanks
    "I was charged twice.\n\nThanks,\nErin\norder 100000005",  # carries data: keep
    "I was charged twice.\n\nRegards,\nErin\nerin@example.com",
    "Thank you for sending the invoice, but it shows the wrong company name.",
    "Best price I could find was yours.",
])
def test_sign_off_with_meaning_is_kept(text):
    assert clean_body(text) == text.strip()


def test_forwarded_message_is_kept():
    text = "See below, I never got this order.\n\n---------- Forwarded message ---------\nFrom: Shop\nOrder 100000005"
    assert "Order 100000005" in clean_body(text)


def test_reply_subject_never_doubles_re():
    assert reply_subject("Refund") == "Re: Refund"
    assert reply_subject("Re: Refund") == "Re: Refund"
    assert reply_subject("RE: Re: re:  Refund") == "Re: Refund"
    assert reply_subject("AW: Re[2]: Refund") == "Re: Refund"
    assert reply_subject("") == "Re: your message to our support team"
    assert normalize_subject("Fwd: Re: Order 100000005") == "Order 100000005"


def test_subject_is_prepended_when_it_adds_meaning():
    # body says "see subject"
    assert compose_turn_text("Refund order 100000005", "See subject.", first_in_thread=True) == "Refund order 100000005"
    # very short body
    assert compose_turn_text("Charged twice", "Hi, please help", first_in_thread=True) == \
        "Charged twice.\n\nHi, please help"
    # empty body (everything was a signature)
    assert compose_turn_text("Cancel my subscription", "", first_in_thread=True) == "Cancel my subscription"
    # the subject carries an order reference the long body lacks
    body = "I was charged twice for the same thing last week and I would like one of the payments back please."
    assert compose_turn_text("Order 100000005", body, first_in_thread=True) == "Order 100000005.\n\n" + body


def test_subject_is_not_prepended_when_it_adds_nothing():
    body = "I was charged twice for order 100000005 last week and would like one of the payments back."
    assert compose_turn_text("Refund", body, first_in_thread=True) == body
    assert compose_turn_text("Hello", "hi", first_in_thread=True) == "hi"           # generic subject
    assert compose_turn_text("Question", "", first_in_thread=True) == ""
    assert compose_turn_text("Re: Refund", "2", first_in_thread=True) == "2"        # a reply
    assert compose_turn_text("Charged twice", "yes", first_in_thread=False) == "yes"  # later turn
    assert compose_turn_text("charged twice", "I was charged twice", first_in_thread=True) == "I was charged twice"


def test_truncate_at_word_boundary():
    text = "word " * 2000
    cut, shortened = truncate(text, 5000)
    assert shortened and len(cut) <= 5000 and cut.endswith("word")
    assert truncate("short", 5000) == ("short", False)


@pytest.mark.parametrize("text, expected", [
    ("Hi, I was charged twice for my order 100000005", "I was charged twice for my order 100000005"),
    ("Hello,\n\nI was charged twice.", "I was charged twice."),
    ("Dear Sir or Madam,\nplease cancel my subscription.", "please cancel my subscription."),
    ("Hi there! Where is my license key?", "Where is my license key?"),
    ("Good morning team,\nrefund please", "refund please"),
    ("Hi, 2\n\nThanks,\nErin", "2"),
    ("Hi", "Hi"),                       # only a greeting: the bot should greet back
    ("Hello!", "Hello!"),
    ("Hi I was charged twice", "Hi I was charged twice"),  # no punctuation: not sure, keep
    ("Hey support, I need help", "I need help"),
    ("Hello.world is a product I bought", "Hello.world is a product I bought"),
])
def test_leading_salutation_is_stripped(text, expected):
    assert clean_body(text) == expected
