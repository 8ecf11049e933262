"""Hardening issue: card numbers in mail headers other than the subject and in text attachments
kept for humans were stored in clear; so were numbers written with dots, double spaces, tabs,
newlines, slashes or no-break spaces.

A mail carrying a different card number in every place a person or a mail client can put one
goes through the bridge's real SMTP listener; afterwards no column of any bridge table, no
call to Rasa, no log line and no sent mail holds any of those numbers (checked on the digits
alone: whatever separators were used, only the last 4 may remain).
"""
from __future__ import annotations

import logging
import re
from email.header import decode_header, make_header
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import compat32, default as default_policy

import pytest

from supportbot.channels.email_bridge import store
from tests.unit.email_bridge.email_helpers import SUPPORT, EmailWorld, send_smtp, unique_id, wait_until


def luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


CARDS = {  # where -> (digits, as written)
    "subject": ("4111111111111111", "4111.1111.1111.1111"),
    "from_name": ("5555555555554444", "5555  5555  5555  4444"),
    "x_header_tab": ("378282246310005", "3782\t822463\t10005"),
    "encoded_word_nbsp": ("6011111111111117", "6011\u00a01111\u00a01111\u00a01117"),
    "folded_header": ("4012888888881881", "4012 8888 8888 1881"),
    "body_slashes": ("5105105105105100", "5105/1051/0510/5100"),
    "text_attachment_newlines": ("3530111333300000", "3530\n1113\n3330\n0000"),
    "csv_as_octet_stream": ("6011000990139424", "6011-0009-9013-9424"),
    "json_attachment": ("371449635398431", "371449635398431"),
    "attached_mail_subject": ("30569309025904", "3056 9309 0259 04"),
    "attached_mail_body": ("3566002020360505", "3566 0020 2036 0505"),
    "attachment_filename": ("4222222222222", "4222222222222"),
}


def _attack_mail() -> bytes:
    for digits, _written in CARDS.values():
        assert luhn(digits), digits
    c = {k: v[1] for k, v in CARDS.items()}
    msg = EmailMessage()
    msg["From"] = f'"Erin {c["from_name"]}" <erin@example.com>'
    msg["To"] = SUPPORT
    msg["Subject"] = f"card {c['subject']} charged twice"
    msg["Message-ID"] = unique_id()
    msg["X-Note"] = f"card {c['x_header_tab']}"
    msg["Comments"] = str(make_header([(f"paid with {c['encoded_word_nbsp']}".encode(), "utf-8")]))
    msg.set_content(f"Hello, I was charged twice on my card {c['body_slashes']}, order 100000005.\n")
    msg.add_attachment(f"my notes\ncard:\n{c['text_attachment_newlines']}\n", filename="notes.txt")
    msg.add_attachment(f"date;card\n2024-06-01;{c['csv_as_octet_stream']}\n".encode(),
                       maintype="application", subtype="octet-stream", filename="cards.csv")
    msg.add_attachment(f'{{"card": "{c["json_attachment"]}"}}'.encode(), maintype="application",
                       subtype="json", filename="card.json")
    inner = EmailMessage()
    inner["From"] = "bank@example.net"
    inner["Subject"] = f"Your card {c['attached_mail_subject']}"
    inner.set_content(f"Statement for {c['attached_mail_body']}\n")
    msg.add_attachment(inner)
    msg.add_attachment(b"%PDF-1.4", maintype="application", subtype="pdf",
                       filename=f"receipt {c['attachment_filename']}.pdf")
    raw = msg.as_bytes(policy=default_policy.clone(linesep="\r\n"))
    # a folded header: the number continues on the next line
    head, body = raw.split(b"\r\n\r\n", 1)
    folded = b"Keywords: card 4012 8888\r\n 8888 1881"
    return head + b"\r\n" + folded + b"\r\n\r\n" + body


def _texts_of_raw(raw: bytes) -> list[str]:
    """Every header (decoded) and every decoded payload of a stored message, and the raw bytes."""
    texts = [raw.decode("latin-1")]
    for pol in (compat32, default_policy):
        message = BytesParser(policy=pol).parsebytes(raw)
        for part in message.walk():
            for name, value in part.raw_items():
                texts.append(f"{name}: " + str(make_header(decode_header(" ".join(str(value).split())))))
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                texts.append(payload.decode("utf-8", "replace"))
    return texts


def _leaks(texts: list[str]) -> dict[str, str]:
    found = {}
    for where, (digits, _written) in CARDS.items():
        for text in texts:
            if digits in re.sub(r"\D", "", text):
                found[where] = text[:200]
    return found


@pytest.fixture
def world(tmp_path):
    w = EmailWorld(tmp_path)
    yield w
    w.close()


def test_no_card_number_survives_in_any_header_attachment_column_log_or_reply(world, caplog):
    caplog.set_level(logging.DEBUG)  # every level of our loggers (aiosmtpd's own "mail.log" debug
    # lines echo the SMTP session; `supportbot email-bridge serve` sets that logger to WARNING)
    send_smtp(world.port, _attack_mail(), mail_from="erin@example.com")
    wait_until(lambda: [r["status"] for r in world.rows(store.inbound)] == ["replied"])
    world.sink.wait_for(1)

    texts: list[str] = []
    for table in store.TABLES:
        for row in world.rows(table):
            for value in row.values():
                if isinstance(value, bytes):
                    texts += _texts_of_raw(value)
                elif isinstance(value, str):
                    texts.append(value)
    assert _leaks(texts) == {}, "stored in clear"
    assert _leaks([str(call) for call in world.rasa.calls]) == {}, "sent to Rasa"
    assert _leaks([f"{r.name}: {r.getMessage()}" for r in caplog.records if r.name != "mail.log"]) == {}, "logged"
    assert _leaks([t for m in world.sink.messages for t in _texts_of_raw(bytes(m))]) == {}, "mailed"
    # what a person reads later is still there, masked: last 4 digits kept
    [inbound] = world.rows(store.inbound)
    stored = "\n".join(_texts_of_raw(inbound["raw"]))
    for where in ("subject", "text_attachment_newlines", "csv_as_octet_stream", "attached_mail_body"):
        assert "**** **** **** " + CARDS[where][0][-4:] in stored, where
    assert inbound["subject"] == "card **** **** **** 1111 charged twice"
    assert "cards.csv" in stored and "%PDF-1.4" in stored  # attachments kept, binary untouched


def test_a_card_number_as_sender_address_or_message_id_is_not_stored(world):
    """Even the addresses and ids are masked: such a mail has no usable sender and is held."""
    card = "5019717010103742"
    assert luhn(card)
    msg = EmailMessage()
    msg["From"] = f"{card}@example.com"
    msg["To"] = SUPPORT
    msg["Subject"] = "hello"
    msg["Message-ID"] = f"<{card}@example.com>"
    msg.set_content("hello")
    send_smtp(world.port, msg, mail_from=f"{card}@example.com")
    wait_until(lambda: [r["status"] for r in world.rows(store.inbound)] in (["held"], ["replied"]))
    texts = [str(v) if not isinstance(v, bytes) else v.decode("latin-1")
             for table in store.TABLES for row in world.rows(table) for v in row.values()]
    assert not any(card in re.sub(r"\D", "", t) for t in texts)
    # the same mail again is still recognised as the same message (the id became a stable token)
    send_smtp(world.port, msg, mail_from=f"{card}@example.com")
    assert len(world.rows(store.inbound)) == 1
