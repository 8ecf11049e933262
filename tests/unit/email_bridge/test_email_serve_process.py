"""`python -m supportbot.channels.email_bridge serve` as a real process, configured only by
environment variables: SMTP in, reply out through the relay (a real SMTP sink), SIGTERM stops it."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from email_helpers import make_mail, send_smtp, wait_until

ROOT = Path(__file__).resolve().parents[3]


def _port_open(port: int) -> bool:
    import socket
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def test_serve_refuses_an_unmigrated_database(tmp_path):
    env = {**os.environ, "SUPPORTBOT_DATABASE_URL": f"sqlite:///{tmp_path / 'empty.db'}",
           "SUPPORTBOT_VAR_DIR": str(tmp_path)}
    result = subprocess.run([sys.executable, "-m", "supportbot.channels.email_bridge", "serve"],
                            env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert "supportbot db upgrade" in result.stdout + result.stderr


def test_serve_process_end_to_end_over_smtp(tmp_path, smtp_sink, fake_rasa):
    from email_helpers import free_port

    port = free_port()
    env = {
        **os.environ,
        "SUPPORTBOT_DATABASE_URL": f"sqlite:///{tmp_path / 'bridge.db'}",
        "SUPPORTBOT_VAR_DIR": str(tmp_path),
        "SUPPORTBOT_EMAIL_BRIDGE_PORT": str(port),
        "SUPPORTBOT_EMAIL_BRIDGE_HOST": "127.0.0.1",
        "SUPPORTBOT_RASA_URL": fake_rasa.url,
        "SUPPORTBOT_REST_TOKEN": "test-rest-token",  # fake_rasa answers 401 without it
        "SUPPORTBOT_SMTP_HOST": "127.0.0.1",
        "SUPPORTBOT_SMTP_PORT": str(smtp_sink.port),
        "SUPPORTBOT_MAIL_FROM": "Reseller Support <help@reseller.example>",
    }
    subprocess.run([sys.executable, "-m", "supportbot.cli", "db", "upgrade"], env=env, cwd=ROOT, check=True)
    log = open(tmp_path / "bridge.log", "w+")
    process = subprocess.Popen([sys.executable, "-m", "supportbot.channels.email_bridge", "serve"],
                               env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: _port_open(port) or process.poll() is not None, timeout=30)
        assert process.poll() is None, (tmp_path / "bridge.log").read_text()
        mail = make_mail("I was charged twice for order 100000005, card 4111 1111 1111 1111", subject="Question")
        send_smtp(port, mail, to="help@reseller.example")
        reply = smtp_sink.wait_for(1, timeout=20)[0]
        assert reply["From"] == "Reseller Support <help@reseller.example>"
        assert reply["In-Reply-To"] == mail["Message-ID"]
        assert fake_rasa.calls[0]["message"].endswith("card **** **** **** 1111")
        # a mail from our own (configured) address is never answered
        send_smtp(port, make_mail("loop?", sender="help@reseller.example"), mail_from="help@reseller.example")
        time.sleep(1.0)
        assert len(smtp_sink.messages) == 1
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=30)
    output = (tmp_path / "bridge.log").read_text()
    assert code == 0, output
    assert f"email bridge listening on 127.0.0.1:{port}" in output
    processed = [line for line in output.splitlines() if " email in=" in line]
    assert len(processed) == 2 and "status=replied" in processed[0] and "status=ignored" in processed[1]
    assert "4111" not in output and "charged twice" not in output
