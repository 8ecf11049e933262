"""supportbot.mail: random Message-IDs, and the spool that keeps the core's mail (one-time codes,
redeliveries) while the relay is down. A real SMTP relay (aiosmtpd) is stopped and started."""
from __future__ import annotations

import os
import re
import threading
import time

import pytest
from email_helpers import SmtpSink, free_port, wait_until

from supportbot.mail import MailDeliveryError, MailSpool, SmtpMailer, SpoolingMailer, build_message, new_message_id
from supportbot.privacy import mask_card_numbers

SUPPORT = "Support <support@reseller.example>"


def _message(i: int):
    return build_message(f"user{i}@example.com", f"message {i}", f"body {i}", sender=SUPPORT)


def test_message_ids_are_random_secrets_and_never_card_like():
    ids = {new_message_id(SUPPORT) for _ in range(2000)}
    assert len(ids) == 2000
    for mid in ids:
        assert re.fullmatch(r"<[A-Za-z0-9_-]{32}@reseller\.example>", mid), mid
        assert mask_card_numbers(mid) == mid
    assert re.fullmatch(r"<[A-Za-z0-9_-]{32}@reseller\.example>", str(_message(1)["Message-ID"]))


def test_the_relay_up_sends_directly_and_spools_nothing(tmp_path):
    sink = SmtpSink().start()
    try:
        mailer = SpoolingMailer(SmtpMailer("127.0.0.1", sink.port, timeout=5), MailSpool(tmp_path / "spool"))
        message = _message(1)
        assert mailer.send(message) == str(message["Message-ID"])
        assert sink.wait_for(1)[0]["Subject"] == "message 1"
        assert mailer.spool.pending() == []
    finally:
        sink.stop()


def test_relay_down_messages_are_kept_and_sent_in_order_when_it_returns(tmp_path):
    port = free_port()
    spool = MailSpool(tmp_path / "spool")
    mailer = SpoolingMailer(SmtpMailer("127.0.0.1", port, timeout=5), spool, retry_interval=0.2, max_interval=0.5)
    for i in range(3):
        mailer.send(_message(i))  # never raises: spooled

    def three_kept_for_this_user_only() -> bool:
        # the retry thread claims a file for a moment while it tries the relay: look between tries
        try:
            kept = spool.pending()
            return len(kept) == 3 and all(oct(os.stat(p).st_mode)[-3:] == "600" for p in kept)  # codes inside
        except OSError:
            return False

    wait_until(three_kept_for_this_user_only)
    sink = SmtpSink(port=port).start()
    try:
        messages = sink.wait_for(3, timeout=10)  # the retry thread, with back-off
        assert [m["Subject"] for m in messages] == ["message 0", "message 1", "message 2"]
        wait_until(lambda: spool.pending() == [])
        mailer.send(_message(3))
        assert sink.wait_for(4)[3]["Subject"] == "message 3" and len(sink.messages) == 4
    finally:
        sink.stop()


def test_two_processes_flushing_one_spool_never_send_a_message_twice(tmp_path):
    sink = SmtpSink().start()
    try:
        first = MailSpool(tmp_path / "spool")
        for i in range(20):
            first.put(_message(i))
        second = MailSpool(tmp_path / "spool")
        relay = SmtpMailer("127.0.0.1", sink.port, timeout=5)
        threads = [threading.Thread(target=s.flush, args=(relay,)) for s in (first, second)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        time.sleep(0.2)
        assert sorted(m["Subject"] for m in sink.messages) == sorted(f"message {i}" for i in range(20))
        assert first.pending() == []
    finally:
        sink.stop()


def test_a_claim_left_by_a_dead_process_is_released(tmp_path):
    spool = MailSpool(tmp_path / "spool", stale_after=60)
    path = spool.put(_message(1))
    claimed = path.with_name(path.name + ".sending-999-abcdef")
    path.rename(claimed)
    assert spool.pending() == []  # someone is sending it
    old = time.time() - 120
    os.utime(claimed, (old, old))
    assert [p.name for p in spool.pending()] == [path.name]


def test_an_unwritable_spool_is_a_delivery_error(tmp_path):
    (tmp_path / "spool").write_text("a file, not a folder")
    mailer = SpoolingMailer(SmtpMailer("127.0.0.1", free_port(), timeout=2), MailSpool(tmp_path / "spool"))
    with pytest.raises(MailDeliveryError):
        mailer.send(_message(1))
