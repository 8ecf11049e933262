"""MIME parsing: text/plain preferred, HTML-only converted, charsets, attachments, masking."""
from __future__ import annotations

import re
from email.message import EmailMessage
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText

import pytest

from supportbot.channels.email_bridge.parsing import (
    UnparseableEmail,
    decode_bytes,
    html_to_text,
    mask_raw_message,
    message_id_of,
    parse_email,
)

HEAD = (b"From: Erin Doe <Erin@Example.COM>\r\nTo: support@reseller.example\r\n"
        b"Subject: Charged twice\r\nMessage-ID: <m1@example.com>\r\nMIME-Version: 1.0\r\n")


def test_plain_utf8_message_headers_and_body():
    raw = HEAD + (b"Content-Type: text/plain; charset=utf-8\r\n\r\n"
                  b"Hi, I was charged twice \xe2\x80\x93 order 100000005.\r\n")
    parsed = parse_email(raw)
    assert parsed.message_id == "<m1@example.com>" and not parsed.message_id_synthesized
    assert parsed.from_address == "erin@example.com" and parsed.from_name == "Erin Doe"
    assert parsed.subject == "Charged twice"
    assert parsed.text.strip() == "Hi, I was charged twice – order 100000005."
    assert parsed.body_source == "plain" and parsed.attachments == []


def test_plain_is_preferred_over_html_in_alternative():
    msg = EmailMessage()
    msg["From"], msg["Subject"], msg["Message-ID"] = "erin@example.com", "x", "<m2@example.com>"
    msg.set_content("the plain version")
    msg.add_alternative("<p>the <b>HTML</b> version</p>", subtype="html")
    parsed = parse_email(bytes(msg))
    assert parsed.text.strip() == "the plain version" and parsed.body_source == "plain"


def test_html_only_mail_is_converted_with_html_parser():
    html = ("<html><head><style>p {color: red}</style><script>alert(1)</script></head><body>"
            "<p>Hello,</p><p>I was <b>charged</b>&nbsp;twice for order&nbsp;100000005 &amp; need help.<br>"
            "Thanks</p><ul><li>first</li><li>second</li></ul>"
            "<div class=\"gmail_quote\">On Mon, 1 Jan 2024 Support wrote:<blockquote>old text</blockquote></div>"
            "</body></html>")
    msg = EmailMessage()
    msg["From"], msg["Subject"], msg["Message-ID"] = "erin@example.com", "x", "<m3@example.com>"
    msg.set_content(html, subtype="html")
    parsed = parse_email(bytes(msg))
    assert parsed.body_source == "html"
    assert "I was charged twice for order 100000005 & need help." in parsed.text
    assert "alert" not in parsed.text and "color" not in parsed.text
    assert "- first\n- second" in parsed.text
    assert "> old text" in parsed.text  # quoted parts are marked so cleaning removes them


def test_html_blockquote_nesting_and_links():
    text = html_to_text('<div>See <a href="https://x.example/a">my screenshot</a></div>'
                        "<blockquote>level 1<blockquote>level 2</blockquote></blockquote><p>after</p>")
    assert "See my screenshot" in text
    assert "> level 1" in text and "> > level 2" in text
    assert text.rstrip().endswith("after")


def test_empty_plain_part_falls_back_to_html():
    msg = EmailMessage()
    msg["From"], msg["Subject"], msg["Message-ID"] = "erin@example.com", "x", "<m4@example.com>"
    msg.set_content("   \n")
    msg.add_alternative("<p>real content</p>", subtype="html")
    assert parse_email(bytes(msg)).text.strip() == "real content"


def test_latin1_quoted_printable_body_and_encoded_subject():
    raw = (b"From: =?iso-8859-1?q?J=FCrgen_M=FCller?= <jm@example.de>\r\nSubject: =?iso-8859-1?q?R=FCckerstattung?=\r\n"
           b"Message-ID: <m5@example.de>\r\nContent-Type: text/plain; charset=iso-8859-1\r\n"
           b"Content-Transfer-Encoding: quoted-printable\r\n\r\nIch m=F6chte eine R=FCckerstattung, bitte.\r\n")
    parsed = parse_email(raw)
    assert parsed.subject == "Rückerstattung"
    assert parsed.from_name == "Jürgen Müller"
    assert parsed.text.strip() == "Ich möchte eine Rückerstattung, bitte."


def test_latin1_label_decodes_windows_1252_quotes_and_base64_utf8():
    assert decode_bytes(b"\x93quoted\x94 \x80", "iso-8859-1") == "“quoted” €"
    msg = EmailMessage()
    msg["From"], msg["Subject"], msg["Message-ID"] = "a@example.com", "x", "<m6@example.com>"
    msg.set_content("Grüße aus Köln – 5 €", charset="utf-8", cte="base64")
    assert parse_email(bytes(msg)).text.strip() == "Grüße aus Köln – 5 €"


def test_wrong_or_unknown_charset_falls_back():
    raw = HEAD + b"Content-Type: text/plain; charset=us-ascii\r\n\r\nCaf\xc3\xa9 cr\xc3\xa8me\r\n"
    assert parse_email(raw).text.strip() == "Café crème"
    raw = HEAD + b"Content-Type: text/plain; charset=x-made-up\r\n\r\nna\xefve\r\n"
    assert parse_email(raw).text.strip() == "naïve"


def test_multipart_with_attachments_lists_names_but_never_reads_them():
    msg = EmailMessage()
    msg["From"], msg["Subject"], msg["Message-ID"] = "erin@example.com", "x", "<m7@example.com>"
    msg.set_content("Please see the attached invoice.")
    msg.add_attachment(b"%PDF-1.4 4111111111111111", maintype="application", subtype="pdf", filename="invoice.pdf")
    msg.add_attachment(b"\x89PNG", maintype="image", subtype="png", filename="Screenshot 2024-05-01.png")
    inner = EmailMessage()
    inner["Subject"] = "Your order 100000005"
    inner.set_content("order confirmation")
    msg.add_attachment(inner)
    parsed = parse_email(bytes(msg))
    assert parsed.text.strip() == "Please see the attached invoice."
    assert parsed.attachments == [
        "invoice.pdf", "Screenshot 2024-05-01.png", "an attached email (Your order 100000005)"]


def test_inline_signature_image_is_not_an_attachment():
    related = MIMEMultipart("related")
    related.attach(MIMEText('<p>Hi</p><img src="cid:logo">', "html"))
    from email.mime.image import MIMEImage
    image = MIMEImage(b"GIF89a", "gif")
    image.add_header("Content-ID", "<logo>")
    image.add_header("Content-Disposition", "inline", filename="image001.gif")
    related.attach(image)
    related["From"], related["Subject"], related["Message-ID"] = "erin@example.com", "x", "<m8@example.com>"
    parsed = parse_email(related.as_bytes())
    assert parsed.text.strip() == "Hi" and parsed.attachments == []


def test_thread_headers():
    raw = (HEAD + b"In-Reply-To: <r2@reseller.example>\r\nReferences: <r0@x> <r1@reseller.example>\r\n"
           b"  <r2@reseller.example>\r\n\r\nok\r\n")
    parsed = parse_email(raw)
    assert parsed.in_reply_to == ["<r2@reseller.example>"]
    assert parsed.references == ["<r0@x>", "<r1@reseller.example>", "<r2@reseller.example>"]
    assert parsed.thread_ids == ["<r2@reseller.example>", "<r1@reseller.example>", "<r0@x>"]


def test_missing_message_id_is_synthesized_stably_across_redeliveries():
    raw = b"From: erin@example.com\r\nSubject: hi\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\n\r\nbody\r\n"
    redelivered = b"Received: from mx2 by mx3; Mon, 1 Jan 2024 10:05:00 +0000\r\n" + raw
    parsed = parse_email(raw)
    assert parsed.message_id_synthesized and parsed.message_id.endswith(".invalid>")
    assert message_id_of(raw) == message_id_of(redelivered) == parsed.message_id
    assert message_id_of(raw.replace(b"body", b"other")) != parsed.message_id


def test_broken_multipart_is_unparseable():
    raw = HEAD + b'Content-Type: multipart/mixed; boundary="zzz"\r\n\r\nno boundary ever appears here\r\n'
    with pytest.raises(UnparseableEmail):
        parse_email(raw)


def test_mask_raw_message_masks_plain_base64_subject_and_ids_as_stable_tokens():
    msg = EmailMessage()
    msg["From"], msg["Message-ID"] = "erin@example.com", "<4111111111111111.1@example.com>"
    msg["Subject"] = "card 4111 1111 1111 1111"
    msg["References"] = "<5555555555554444@reseller.example>"
    msg.set_content("my card is 5555-5555-5555-4444 thanks", charset="utf-8", cte="base64")
    raw = bytes(msg)
    masked = mask_raw_message(raw)
    parsed = parse_email(masked)
    assert "5555-5555-5555-4444" not in parsed.text and "**** **** **** 4444" in parsed.text
    assert parsed.subject == "card **** **** **** 1111"
    # ids with a Luhn-valid digit run become stable tokens (the same id, the same token: a
    # redelivery is still recognised); ours never hold one (supportbot.mail.new_message_id)
    assert re.fullmatch(r"<masked-[a-p]{32}@email-bridge\.invalid>", parsed.message_id)
    assert parse_email(mask_raw_message(raw)).message_id == parsed.message_id
    assert message_id_of(masked) == parsed.message_id
    assert len(parsed.references) == 1 and parsed.references[0].startswith("<masked-")
    assert b"4111111111111111" not in masked and b"5555555555554444" not in masked


def test_mask_raw_message_without_card_number_is_byte_exact():
    raw = HEAD + b"Content-Type: text/plain\r\n\r\norder 100000005, not a card: 1234 5678 9012 3456\r\n"
    assert mask_raw_message(raw) == raw


def test_masking_keeps_mime_structure_and_binary_attachments():
    # a boundary and a base64 line that happen to contain Luhn-valid digit runs: the boundary
    # (a mere separator) is replaced, the binary attachment is never touched
    boundary = "===============4111111111111111=="
    attachment_b64 = "NDExMTExMTExMTExMTExMQ==4111111111111111"
    raw = HEAD + (f'Content-Type: multipart/mixed; boundary="{boundary}"\r\n\r\n'
           f"--{boundary}\r\nContent-Type: text/plain\r\n\r\nmy card: 4111 1111 1111 1111\r\n"
           f"--{boundary}\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n"
           f'Content-Disposition: attachment; filename="a.bin"\r\n\r\n{attachment_b64}\r\n'
           f"--{boundary}--\r\n").encode()
    masked = mask_raw_message(raw)
    parsed = parse_email(masked)
    assert parsed.text.strip() == "my card: **** **** **** 1111"
    assert parsed.attachments == ["a.bin"]
    assert boundary.encode() not in masked and attachment_b64.encode() in masked
    # no card number anywhere but in the binary attachment: byte-exact
    clean = (raw.replace(b"my card: 4111 1111 1111 1111", b"no card here")
             .replace(boundary.encode(), b"===============plain=="))
    assert mask_raw_message(clean) == clean


def test_mask_fallback_for_mail_the_parser_rejects(monkeypatch):
    from supportbot.channels.email_bridge import parsing

    def broken(*args, **kwargs):
        raise RuntimeError("parser bug")

    monkeypatch.setattr(parsing.BytesParser, "parsebytes", broken)
    raw = (b"Message-ID: <4111111111111111@x>\r\n\r\ncard 4111-1111-1111-1111 here\r\n"
           b"--4111111111111111\r\n4111111111111111\r\n")
    masked = mask_raw_message(raw)
    # the header block is masked as a whole; boundary-like and base64-like body lines are kept
    assert masked == (b"Message-ID: <**** **** **** 1111@x>\r\n\r\ncard **** **** **** 1111 here\r\n"
                      b"--4111111111111111\r\n4111111111111111\r\n")


def test_format_flowed_soft_breaks_are_joined():
    raw = HEAD + (b"Content-Type: text/plain; charset=utf-8; format=flowed; delsp=no\r\n\r\n"
                  b"I was charged twice for my order \r\n100000005 last week.\r\n\r\n-- \r\nErin\r\n")
    assert parse_email(raw).text.startswith("I was charged twice for my order 100000005 last week.\n\n-- \nErin")


@pytest.mark.parametrize("markup", [
    "<p>my card is 4111 1111<br>1111 1111 thanks</p>",
    "<p>my card is <b>4111</b> <i>1111</i> 1111 1111</p>",
    "<p>my card is &#52;111 1111 1111 1111</p>",
])
def test_a_card_number_split_by_html_tags_or_entities_is_masked_in_the_stored_copy(markup):
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "anna@example.com", "support@reseller.example", "Card"
    msg.set_content(f"<html><body>{markup}</body></html>", subtype="html")
    masked = mask_raw_message(bytes(msg))
    parsed = parse_email(masked)
    assert "4111111111111111" not in re.sub(r"\D", "", parsed.text) and "**** **** **** 1111" in parsed.text
    assert parsed.body_source == "html" and "my card is" in parsed.text
