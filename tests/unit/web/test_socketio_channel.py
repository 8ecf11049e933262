"""MaskingSocketIOInput: server-issued sessions, the origin check, and the guard (caps, shorthand,
card numbers masked, metadata dropped) before Rasa's UserMessage exists."""
from __future__ import annotations

import asyncio

import pytest
from rasa.core.channels.channel import UserMessage
from rasa.core.channels.socketio import SocketIOInput

from supportbot.channels.guard import TOO_LONG_REPLY
from supportbot.channels.web.socketio_channel import (
    MAX_MESSAGE_CHARS,
    MaskingSocketIOInput,
    MaskingSocketIOOutput,
    SessionSigner,
    masked_text,
    origin_allowed,
    valid_session_id,
)

VISA = "4111 1111 1111 1111"  # Luhn-valid test number
MASKED = "**** **** **** 1111"
CREDENTIALS = {"user_message_evt": "user_uttered", "bot_message_evt": "bot_uttered", "session_persistence": True}


class FakeSio:
    """Records what the handlers do with the socket.io server."""

    def __init__(self):
        self.rooms: list[tuple] = []
        self.emitted: list[tuple] = []

    async def enter_room(self, sid, room, namespace=None):
        self.rooms.append((sid, room, namespace))

    async def leave_room(self, sid, room, namespace=None):
        self.rooms.remove((sid, room, namespace))

    async def emit(self, event, data=None, room=None, namespace=None, **kwargs):
        self.emitted.append((event, data, room, namespace))


SIGNER = SessionSigner("unit-test-secret")


def make_channel(**credentials):
    channel = MaskingSocketIOInput.from_credentials({**CREDENTIALS, **credentials})
    channel._signer, channel._allowed_origins = SIGNER, ("http://127.0.0.1:8080",)
    received: list[UserMessage] = []

    async def on_new_message(message: UserMessage) -> None:
        received.append(message)

    channel.blueprint(on_new_message)
    return channel, received


def joined(channel, sid="sid1", data=None) -> str:
    """Runs session_request for `sid` (no stored session: a new one) and returns its id."""
    fake = FakeSio()
    channel.sio.enter_room, channel.sio.leave_room, channel.sio.emit = fake.enter_room, fake.leave_room, fake.emit
    asyncio.run(handler(channel, "session_request")(sid, data))
    return fake.emitted[-1][1]["session_id"]


def say(channel, data, sid="sid1"):
    asyncio.run(handler(channel, "user_uttered")(sid, data))


def handler(channel, event, namespace="/"):
    return channel.sio.handlers[namespace][event]


def test_is_a_socketio_input_with_the_standard_name_and_paths():
    channel, _ = make_channel()
    assert isinstance(channel, SocketIOInput)
    assert MaskingSocketIOInput.name() == "socketio"
    assert channel.url_prefix() == "socketio"
    assert channel.socketio_path == "/socket.io"
    assert channel.session_persistence is True
    assert channel.user_message_evt == "user_uttered" and channel.bot_message_evt == "bot_uttered"


def test_rasa_loads_it_from_credentials_by_class_path():
    from rasa.core.run import _create_single_channel

    channel = _create_single_channel("supportbot.channels.web.socketio_channel.MaskingSocketIOInput", CREDENTIALS)
    assert isinstance(channel, MaskingSocketIOInput) and channel.session_persistence


def test_user_message_is_masked_before_rasa_sees_it():
    channel, received = make_channel()
    session = joined(channel)
    say(channel, {"message": f"my card is {VISA}, refund it", "session_id": session})
    assert len(received) == 1
    message = received[0]
    assert message.text == f"my card is {MASKED}, refund it"
    assert message.sender_id == session
    assert message.input_channel == "socketio"
    assert isinstance(message.output_channel, MaskingSocketIOOutput)


@pytest.mark.parametrize(
    "text",
    ["4111111111111111", "4111-1111-1111-1111", "5500 0000 0000 0004", "card:378282246310005.", "6011111111111117",
     "4111.1111.1111.1111", "4111\t1111\n1111  1111", "4111/1111/1111/1111", "4111\u00a01111\u202f1111 1111"],
)
def test_every_luhn_valid_form_is_masked(text):
    channel, received = make_channel()
    say(channel, {"message": text, "session_id": joined(channel)})
    digits = "".join(ch for ch in text if ch.isdigit())
    assert digits not in "".join(ch for ch in received[0].text if ch.isdigit())
    assert received[0].text.count("****") == 3


def test_order_references_and_non_luhn_numbers_are_left_alone():
    channel, received = make_channel()
    text = "order 100000001, phone 4111 1111 1111 1112, amount 49.00"
    say(channel, {"message": text, "session_id": joined(channel)})
    assert received[0].text == text


@pytest.mark.parametrize("metadata", [{"channel": "email", "client_address": "email:alice@example.com",
                                       "verified": True}, '{"channel": "rest"}', [1, 2], "{not json", None])
def test_client_metadata_is_dropped_the_channel_sets_its_own(metadata):
    """Before: whatever the client sent was stored with the message (masked), so a browser could
    claim to be the email channel or another client address."""
    channel, received = make_channel()
    session = joined(channel)
    asyncio.run(handler(channel, "connect")("sid1", {"REMOTE_ADDR": "198.51.100.7"}, None))
    say(channel, {"message": "hi", "session_id": session, "metadata": metadata})
    assert received[0].metadata == {"channel": "widget", "client_address": "198.51.100.7"}


def test_messages_from_a_socket_without_a_session_are_ignored():
    channel, received = make_channel()
    with pytest.warns(UserWarning, match="session_request"):
        say(channel, {"message": "hello"})
    with pytest.warns(UserWarning, match="session_request"):
        say(channel, {"message": "hello", "session_id": SIGNER.issue()[0]})
    assert received == []


def test_a_socket_cannot_post_into_another_conversation():
    """Before: `user_uttered` with any session id went into that conversation."""
    channel, received = make_channel()
    victim = joined(channel, "victim-sid")
    joined(channel, "attacker-sid")
    say(channel, {"message": "yes", "session_id": victim}, sid="attacker-sid")
    assert received == []
    say(channel, {"message": "yes", "session_id": victim}, sid="victim-sid")
    assert [m.sender_id for m in received] == [victim]


def test_without_persistence_the_socket_id_is_the_sender():
    channel, received = make_channel(session_persistence=False)
    say(channel, {"message": VISA}, sid="sid9")
    assert received[0].sender_id == "sid9" and received[0].text == MASKED


@pytest.mark.parametrize("data", [None, "text", ["a"], {"message": 42}, {"message": ["x"]}])
def test_malformed_events_are_ignored_not_raised(data):
    channel, received = make_channel()
    if isinstance(data, dict):
        data = {**data, "session_id": joined(channel)}
    say(channel, data)
    assert received == []


def test_overlong_messages_never_reach_rasa_and_the_channel_says_so():
    """Before: cut to 4,000 characters and given to the NLU; now answered by the channel."""
    channel, received = make_channel()
    session = joined(channel)
    fake = FakeSio()
    channel.sio.emit = fake.emit
    say(channel, {"message": "a" * (MAX_MESSAGE_CHARS + 1), "session_id": session})
    assert received == []
    assert fake.emitted == [("bot_uttered", {"text": TOO_LONG_REPLY}, session, None)]
    say(channel, {"message": "a" * MAX_MESSAGE_CHARS, "session_id": session})  # the conversation goes on
    assert len(received) == 1 and len(received[0].text) == MAX_MESSAGE_CHARS


def test_shorthand_only_as_the_buttons_send_it():
    channel, received = make_channel()
    session = joined(channel)
    for text in ('/inform{"refund_reason": "no_longer_needed"}', '/inform{"verified_ref": "100000001"}',
                 "/affirm", '/inform{"refund_reason": {"a": [1]}}'):
        say(channel, {"message": text, "session_id": session})
    assert [m.text for m in received] == ['/inform{"refund_reason": "no_longer_needed"}',
                                          'inform{"verified_ref": "100000001"}', "/affirm",
                                          'inform{"refund_reason": {"a": [1]}}']


def test_session_request_with_the_token_gets_the_stored_session_back():
    channel, _ = make_channel()
    fake = FakeSio()
    channel.sio.enter_room, channel.sio.emit = fake.enter_room, fake.emit
    stored, token = SIGNER.issue()
    asyncio.run(handler(channel, "session_request")("sid1", {"session_id": stored, "session_token": token}))
    assert fake.rooms == [("sid1", stored, None)]
    assert fake.emitted == [("session_confirm", {"session_id": stored, "session_token": token}, "sid1", None)]
    assert channel.session_of("sid1") == stored


@pytest.mark.parametrize("data", [None, {}, {"session_id": None}, {"session_id": "bad id!"},
                                  {"session_id": "x" * 200}, "str", {"session_id": "stored-id"},
                                  {"session_id": "0" * 32},
                                  {"session_id": "0" * 32, "session_token": SIGNER.token("1" * 32)},
                                  {"session_id": "0" * 32, "session_token": SessionSigner("other").token("0" * 32)}])
def test_session_request_without_proof_gets_a_new_session(data):
    """Before: any well-formed id was joined, so knowing a conversation id was enough to read
    its replies."""
    channel, _ = make_channel()
    fake = FakeSio()
    channel.sio.enter_room, channel.sio.emit = fake.enter_room, fake.emit
    asyncio.run(handler(channel, "session_request")("sid1", data))
    (event, confirmed, room, _), = fake.emitted
    assert event == "session_confirm" and room == "sid1"
    new_id = confirmed["session_id"]
    assert valid_session_id(new_id) and new_id not in str(data)
    assert SIGNER.verify(new_id, confirmed["session_token"])
    assert fake.rooms == [("sid1", new_id, None)]


def test_a_second_session_request_leaves_the_first_room():
    channel, _ = make_channel()
    fake = FakeSio()
    channel.sio.enter_room, channel.sio.leave_room, channel.sio.emit = fake.enter_room, fake.leave_room, fake.emit
    handle = handler(channel, "session_request")
    asyncio.run(handle("sid1", None))
    asyncio.run(handle("sid1", None))
    assert len(fake.rooms) == 1 and fake.rooms[0][1] == channel.session_of("sid1")


def test_disconnect_forgets_the_socket():
    channel, received = make_channel()
    session = joined(channel)
    asyncio.run(handler(channel, "disconnect")("sid1"))
    assert channel.session_of("sid1") is None
    with pytest.warns(UserWarning):
        say(channel, {"message": "hi", "session_id": session})
    assert received == []


@pytest.mark.parametrize("origin,ok", [(None, True), ("http://127.0.0.1:8080", True),
                                       ("http://evil.example", False), ("null", False),
                                       ("http://127.0.0.1:8080.evil.example", False)])
def test_only_configured_origins_may_connect(origin, ok):
    """Before: any page on any site could open the websocket (websockets know no CORS)."""
    channel, _ = make_channel()
    environ = {"HTTP_ORIGIN": origin} if origin else {}
    assert asyncio.run(handler(channel, "connect")("sid1", environ, None)) is ok


def test_origin_allowed():
    assert origin_allowed("http://a.example", ["*"])
    assert origin_allowed("http://a.example/", ["http://a.example"])
    assert not origin_allowed("http://a.example", [])
    assert origin_allowed(None, [])


def test_signer_from_settings_never_uses_the_development_secret():
    import dataclasses
    from pathlib import Path

    from supportbot.settings import Settings

    dev = Settings(var_dir=Path("var"), database_url="sqlite://")
    one, two = SessionSigner.from_settings(dev), SessionSigner.from_settings(dev)
    assert one.token("0" * 32) != two.token("0" * 32)  # random per process
    assert SessionSigner("development-only-secret").token("0" * 32) != one.token("0" * 32)
    configured = dataclasses.replace(dev, secret_key="a-real-secret")
    assert SessionSigner.from_settings(configured).token("0" * 32) == SessionSigner.from_settings(
        configured).token("0" * 32)


def test_namespace_is_used_for_handlers_and_output():
    channel, received = make_channel(namespace="/chat")
    fake = FakeSio()
    channel.sio.enter_room, channel.sio.emit = fake.enter_room, fake.emit
    asyncio.run(handler(channel, "session_request", "/chat")("sid1", None))
    session = channel.session_of("sid1")
    assert fake.rooms == [("sid1", session, "/chat")]
    asyncio.run(handler(channel, "user_uttered", "/chat")("sid1", {"message": "hi", "session_id": session}))
    out = received[0].output_channel
    out.sio = fake
    asyncio.run(out.send_text_message(session, "hello"))
    assert fake.emitted[-1] == ("bot_uttered", {"text": "hello"}, session, "/chat")


def test_jwt_protected_connect():
    import jwt

    channel, _ = make_channel(jwt_key="a-secret-key-of-at-least-32-bytes!!", jwt_method="HS256")
    connect = handler(channel, "connect")
    good = jwt.encode({"user": "u"}, "a-secret-key-of-at-least-32-bytes!!", algorithm="HS256")
    assert asyncio.run(connect("sid1", {}, {"token": good})) is True
    assert asyncio.run(connect("sid1", {}, {"token": "garbage"})) is False
    assert asyncio.run(connect("sid1", {}, None)) is False
    open_channel, _ = make_channel()
    assert asyncio.run(handler(open_channel, "connect")("sid1", {}, None)) is True


def test_output_channel_from_get_output_channel():
    channel, _ = make_channel()
    assert isinstance(channel.get_output_channel(), MaskingSocketIOOutput)


def test_custom_json_is_emitted_as_the_event_data():
    fake = FakeSio()
    out = MaskingSocketIOOutput(fake, "bot_uttered")
    asyncio.run(out.send_custom_json("s1", {"text": "line 1\nline 2"}))
    asyncio.run(out.send_custom_json("s1", {"data": {"text": "legacy"}}))
    assert fake.emitted == [
        ("bot_uttered", {"text": "line 1\nline 2"}, "s1", None),
        ("bot_uttered", {"text": "legacy"}, "s1", None),
    ]


def test_buttons_and_images_keep_rasa_payload_shapes():
    fake = FakeSio()
    out = MaskingSocketIOOutput(fake, "bot_uttered")
    asyncio.run(out.send_text_with_buttons("s1", "Why?", [{"title": "Duplicate order", "payload": "/x"}]))
    asyncio.run(out.send_image_url("s1", "https://img.example/a.png"))
    assert fake.emitted[0][1] == {
        "text": "Why?",
        "quick_replies": [{"content_type": "text", "title": "Duplicate order", "payload": "/x"}],
    }
    assert fake.emitted[1][1] == {"attachment": {"type": "image", "payload": {"src": "https://img.example/a.png"}}}


def test_helpers():
    assert masked_text({"message": VISA}).text == MASKED
    assert masked_text({"message": None}).text == ""
    assert masked_text({}).text == ""
    assert masked_text({"message": 3}) is None
    assert valid_session_id("0f3c9d2a" * 4)
    assert not valid_session_id("") and not valid_session_id(None) and not valid_session_id("user-1:abc")
