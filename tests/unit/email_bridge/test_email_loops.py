"""Mail loops: auto-replies, bounces, lists and our own mail never get a reply."""
from __future__ import annotations

import pytest
from email_helpers import make_mail

from supportbot.channels.email_bridge.loops import auto_reply_reason
from supportbot.channels.email_bridge.parsing import parse_email

OWN = frozenset({"support@reseller.example"})


def reason(envelope_from="erin@example.com", **kwargs):
    return auto_reply_reason(parse_email(bytes(make_mail("hi", **kwargs))), envelope_from, OWN)


def test_a_normal_customer_mail_may_be_answered():
    assert reason() is None
    assert reason(headers={"Auto-Submitted": "no"}) is None


@pytest.mark.parametrize("kwargs, expected", [
    ({"headers": {"Auto-Submitted": "auto-replied"}}, "auto_submitted"),
    ({"headers": {"Auto-Submitted": "auto-generated; type=vacation"}}, "auto_submitted"),
    ({"headers": {"Precedence": "bulk"}}, "precedence_bulk"),
    ({"headers": {"Precedence": "junk"}}, "precedence_junk"),
    ({"headers": {"X-Autoreply": "yes"}}, "auto_reply"),
    ({"headers": {"List-Id": "<news.shop.example>"}}, "mailing_list"),
    ({"sender": "MAILER-DAEMON@mx.example.com"}, "mailer_daemon"),
    ({"sender": "postmaster@example.com"}, "mailer_daemon"),
    ({"sender": "no-reply@shop.example"}, "no_reply_sender"),
    ({"sender": "Support <support@reseller.example>"}, "own_address"),
    ({"headers": {"Reply-To": "support@reseller.example"}}, "own_address"),
    ({"headers": {"X-Supportbot-Conversation": "email-123"}}, "own_address"),
    ({"subject": "Automatic reply: Refund"}, "auto_reply_subject"),
    ({"subject": "Out of Office: back Monday"}, "auto_reply_subject"),
    ({"subject": "Undeliverable: Re: Refund"}, "auto_reply_subject"),
])
def test_never_answered(kwargs, expected):
    assert reason(**kwargs) == expected


def test_null_envelope_sender_is_a_bounce():
    assert reason(envelope_from="") == "bounce"
