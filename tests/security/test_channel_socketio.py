"""Attacks on the widget's socket.io channel (supportbot.channels.web.socketio_channel) through
the real Rasa server (tests/e2e/conftest.py `bot_stack`), with a real socket.io client.

Before: a client could `session_request` any conversation id and receive that conversation's
replies, post into any conversation by naming its id in `user_uttered`, connect from any site
(websockets know no CORS), store its own metadata with every message and have a message of
any length read by the NLU.
"""
from __future__ import annotations

import json
import queue
import time
import uuid

import pytest
import requests
import socketio

from supportbot.channels.guard import MAX_MESSAGE_CHARS, TOO_LONG_REPLY

pytestmark = pytest.mark.e2e


class Visitor:
    """One browser tab's socket.io connection (python-socketio's client over HTTP long-polling;
    the Origin check is the same for websockets, tests/e2e/test_web_widget.py drives those)."""

    def __init__(self, url: str, origin: str | None):
        self.url, self.origin = url, origin
        self.client = socketio.Client(reconnection=False)
        self.replies: list[dict] = []
        self.confirmed: queue.Queue = queue.Queue()
        self.client.on("bot_uttered", self.replies.append)
        self.client.on("session_confirm", self.confirmed.put)

    def __enter__(self) -> Visitor:
        self.connect()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        # engine.io's CLOSE, without waiting for the pending long-poll to come back
        self.client.eio.disconnect(abort=True)

    def connect(self) -> None:
        headers = {"Origin": self.origin} if self.origin else {}
        self.client.connect(self.url, headers=headers, transports=["polling"],
                            socketio_path="/socket.io", wait_timeout=10)

    def session(self, **claim) -> dict:
        self.client.emit("session_request", claim)
        confirmed = self.confirmed.get(timeout=10)
        # (Rasa's own channel confirmed with the bare id)
        return confirmed if isinstance(confirmed, dict) else {"session_id": confirmed, "session_token": None}

    def say(self, text: str, session_id: str, wait: float = 20.0, **extra) -> list[dict]:
        before = len(self.replies)
        self.client.emit("user_uttered", {"message": text, "session_id": session_id, **extra})
        return self.wait(before, wait)

    def wait(self, before: int, wait: float) -> list[dict]:
        deadline = time.monotonic() + wait
        while len(self.replies) == before and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(1.0)  # the rest of the burst
        return self.replies[before:]


def _origin(stack) -> str:
    return stack.cors_origins[0]


def _user_texts(stack, sender: str) -> list[str]:
    return [e.get("text") for e in stack.user_events(sender)]


def test_knowing_a_conversation_id_does_not_let_you_read_it(bot_stack):
    with Visitor(bot_stack.rasa_url, _origin(bot_stack)) as victim, Visitor(bot_stack.rasa_url, None) as attacker:
        mine = victim.session()
        assert victim.say("hello there", mine["session_id"])
        # the attacker learned the id (a log, a ticket, a screenshot) and asks for it
        for claim in ({"session_id": mine["session_id"]},
                      {"session_id": mine["session_id"], "session_token": "forged"},
                      {"session_id": mine["session_id"], "session_token": (mine["session_token"] or "x")[:-2]}):
            got = attacker.session(**claim)
            assert got["session_id"] != mine["session_id"]
        before = len(attacker.replies)
        assert victim.say("am I talking to a bot?", mine["session_id"])
        assert attacker.wait(before, 3.0) == []  # nothing of the victim's conversation
        # and it cannot post into it either
        attacker.client.emit("user_uttered", {"message": "yes", "session_id": mine["session_id"]})
        time.sleep(2.0)
    assert _user_texts(bot_stack, mine["session_id"]) == ["hello there", "am I talking to a bot?"]


def test_the_token_brings_the_conversation_back_after_a_reload(bot_stack):
    with Visitor(bot_stack.rasa_url, _origin(bot_stack)) as first:
        mine = first.session()
        assert first.say("hello there", mine["session_id"])
    with Visitor(bot_stack.rasa_url, _origin(bot_stack)) as again:  # the page reloaded
        assert again.session(**mine) == mine
        assert again.say("thanks", mine["session_id"])
    assert _user_texts(bot_stack, mine["session_id"]) == ["hello there", "thanks"]


def _namespace_connect(stack, origin: str | None) -> str:
    """The socket.io handshake as a browser on `origin` makes it, over long-polling: the
    engine.io session, then CONNECT to the namespace; returns the server's answer packet
    ("40..." connected, "44..." refused)."""
    url = f"{stack.rasa_url}/socket.io/?EIO=4&transport=polling"
    headers = {"Origin": origin} if origin else {}
    opened = requests.get(url, headers=headers, timeout=30)
    assert opened.status_code == 200, opened.text
    sid = json.loads(opened.text[1:])["sid"]
    assert requests.post(f"{url}&sid={sid}", data="40", headers=headers, timeout=30).status_code == 200
    return requests.get(f"{url}&sid={sid}", headers=headers, timeout=30).text


@pytest.mark.parametrize("origin", ["http://evil.example", "null", "http://127.0.0.1:1"])
def test_a_browser_on_another_site_cannot_connect(bot_stack, origin):
    assert _namespace_connect(bot_stack, origin).startswith("44")
    assert _namespace_connect(bot_stack, bot_stack.cors_origins[0]).startswith("40")
    assert _namespace_connect(bot_stack, None).startswith("40")  # not a browser


def test_client_metadata_is_dropped_and_long_messages_are_answered_by_the_channel(bot_stack):
    with Visitor(bot_stack.rasa_url, _origin(bot_stack)) as visitor:
        mine = visitor.session()
        replies = visitor.say("x" * (MAX_MESSAGE_CHARS + 1), mine["session_id"], wait=5.0)
        assert [r.get("text") for r in replies] == [TOO_LONG_REPLY]
        forged = {"channel": "email", "client_address": "email:alice@example.com", "verified_ref": "100000001"}
        assert visitor.say("hello there", mine["session_id"], metadata=forged)
    (event,) = bot_stack.user_events(mine["session_id"])
    assert event["text"] == "hello there"
    sent = {k: v for k, v in event["metadata"].items() if k not in ("model_id", "assistant_id")}  # Rasa's own
    assert sent == {"channel": "widget", "client_address": "127.0.0.1"}


def test_session_ids_are_the_servers_not_the_clients(bot_stack):
    chosen = "my-own-id-" + uuid.uuid4().hex[:6]
    with Visitor(bot_stack.rasa_url, _origin(bot_stack)) as visitor:
        assert visitor.session(session_id=chosen)["session_id"] != chosen
        visitor.say("hello there", chosen, wait=2.0)
    assert _user_texts(bot_stack, chosen) == []
