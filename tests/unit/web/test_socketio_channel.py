"""MaskingSocketIOInput: card numbers are masked before Rasa's UserMessage exists."""
from __future__ import annotations

import asyncio
import json

import pytest
from rasa.core.channels.channel import UserMessage
from rasa.core.channels.socketio import SocketIOInput

from supportbot.channels.web.socketio_channel import (
    MAX_MESSAGE_CHARS,
    MaskingSocketIOInput,
    MaskingSocketIOOutput,
    mask_value,
    masked_text,
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

    async def emit(self, event, data=None, room=None, namespace=None, **kwargs):
        self.emitted.append((event, data, room, namespace))


def make_channel(**credentials):
    channel = MaskingSocketIOInput.from_credentials({**CREDENTIALS, **credentials})
    received: list[UserMessage] = []

    async def on_new_message(message: UserMessage) -> None:
        received.append(message)

    channel.blueprint(on_new_message)
    return channel, received


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
    asyncio.run(handler(channel, "user_uttered")(
        "sid1", {"message": f"my card is {VISA}, refund it", "session_id": "abc123"}))
    assert len(received) == 1
    message = received[0]
    assert message.text == f"my card is {MASKED}, refund it"
    assert message.sender_id == "abc123"
    assert message.input_channel == "socketio"
    assert isinstance(message.output_channel, MaskingSocketIOOutput)


@pytest.mark.parametrize(
    "text",
    ["4111111111111111", "4111-1111-1111-1111", "5500 0000 0000 0004", "card:378282246310005.", "6011111111111117"],
)
def test_every_luhn_valid_form_is_masked(text):
    channel, received = make_channel()
    asyncio.run(handler(channel, "user_uttered")("sid1", {"message": text, "session_id": "s1"}))
    digits = "".join(ch for ch in text if ch.isdigit())
    assert digits not in received[0].text.replace(" ", "").replace("-", "")
    assert received[0].text.count("****") == 3


def test_order_references_and_non_luhn_numbers_are_left_alone():
    channel, received = make_channel()
    text = "order 100000001, phone 4111 1111 1111 1112, amount 49.00"
    asyncio.run(handler(channel, "user_uttered")("sid1", {"message": text, "session_id": "s1"}))
    assert received[0].text == text


def test_metadata_strings_are_masked_too():
    channel, received = make_channel()
    metadata = {"note": VISA, "nested": [{"v": f"x {VISA}"}], "n": 3}
    asyncio.run(handler(channel, "user_uttered")("sid1", {"message": "hi", "session_id": "s1", "metadata": metadata}))
    assert received[0].metadata == {"note": MASKED, "nested": [{"v": f"x {MASKED}"}], "n": 3}


def test_metadata_as_json_string_and_garbage():
    channel, received = make_channel()
    send = handler(channel, "user_uttered")
    asyncio.run(send("sid1", {"message": "a", "session_id": "s1", "metadata": json.dumps({"c": VISA})}))
    asyncio.run(send("sid1", {"message": "b", "session_id": "s1", "metadata": "{not json"}))
    asyncio.run(send("sid1", {"message": "c", "session_id": "s1", "metadata": [1, 2]}))
    assert [m.metadata for m in received] == [{"c": MASKED}, {}, {}]


def test_messages_without_session_id_are_ignored_with_persistence():
    channel, received = make_channel()
    with pytest.warns(UserWarning, match="session_id"):
        asyncio.run(handler(channel, "user_uttered")("sid1", {"message": "hello"}))
    assert received == []


def test_without_persistence_the_socket_id_is_the_sender():
    channel, received = make_channel(session_persistence=False)
    asyncio.run(handler(channel, "user_uttered")("sid9", {"message": VISA}))
    assert received[0].sender_id == "sid9" and received[0].text == MASKED


@pytest.mark.parametrize("data", [None, "text", ["a"], {"message": 42, "session_id": "s1"},
                                  {"message": "x", "session_id": "a b/c"}])
def test_malformed_events_are_ignored_not_raised(data):
    channel, received = make_channel()
    asyncio.run(handler(channel, "user_uttered")("sid1", data))
    assert received == []


def test_overlong_messages_are_cut():
    channel, received = make_channel()
    asyncio.run(handler(channel, "user_uttered")(
        "sid1", {"message": "a" * (MAX_MESSAGE_CHARS + 50), "session_id": "s1"}))
    assert len(received[0].text) == MAX_MESSAGE_CHARS


@pytest.mark.parametrize("keep", [16, 12, 8, 4])
def test_a_card_number_across_the_length_limit_is_masked_before_the_cut(keep):
    channel, received = make_channel()
    text = "a" * (MAX_MESSAGE_CHARS - keep) + "4111111111111111"
    asyncio.run(handler(channel, "user_uttered")("sid1", {"message": text, "session_id": "s1"}))
    assert "1111" not in received[0].text


def test_session_request_joins_the_room_and_confirms_the_stored_id():
    channel, _ = make_channel()
    fake = FakeSio()
    channel.sio.enter_room, channel.sio.emit = fake.enter_room, fake.emit
    asyncio.run(handler(channel, "session_request")("sid1", {"session_id": "stored-id"}))
    assert fake.rooms == [("sid1", "stored-id", None)]
    assert fake.emitted == [("session_confirm", "stored-id", "sid1", None)]


@pytest.mark.parametrize("data", [None, {}, {"session_id": None}, {"session_id": "bad id!"},
                                  {"session_id": "x" * 200}, "str"])
def test_session_request_without_a_usable_id_gets_a_new_one(data):
    channel, _ = make_channel()
    fake = FakeSio()
    channel.sio.enter_room, channel.sio.emit = fake.enter_room, fake.emit
    asyncio.run(handler(channel, "session_request")("sid1", data))
    (event, new_id, room, _), = fake.emitted
    assert event == "session_confirm" and room == "sid1"
    assert valid_session_id(new_id) and len(new_id) == 32
    assert fake.rooms == [("sid1", new_id, None)]


def test_namespace_is_used_for_handlers_and_output():
    channel, received = make_channel(namespace="/chat")
    asyncio.run(handler(channel, "user_uttered", "/chat")("sid1", {"message": "hi", "session_id": "s1"}))
    out = received[0].output_channel
    fake = FakeSio()
    out.sio = fake
    asyncio.run(out.send_text_message("s1", "hello"))
    assert fake.emitted == [("bot_uttered", {"text": "hello"}, "s1", "/chat")]


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
    assert masked_text({"message": VISA}) == MASKED
    assert masked_text({"message": None}) == ""
    assert masked_text({}) == ""
    assert masked_text({"message": 3}) is None
    assert mask_value({VISA: [VISA, 1, None, (VISA,)]}) == {MASKED: [MASKED, 1, None, [MASKED]]}
    deep = {"a": {"a": {"a": {"a": {"a": {"a": {"a": {"a": {"a": VISA}}}}}}}}}
    assert VISA not in json.dumps(mask_value(deep))
    assert valid_session_id("0f3c9d2a") and valid_session_id("user-1:abc")
    assert not valid_session_id("") and not valid_session_id(None) and not valid_session_id("a" * 129)
