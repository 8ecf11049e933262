"""supportbot.channels.masking: the REST channel's token check and body parsing (the HTTP
behaviour through the real Rasa server is in tests/security/test_channel_rest.py)."""
from __future__ import annotations

import json

import pytest

from supportbot.channels.masking import REST_TOKEN_ENV, BadRequest, MaskingRestInput, parse_body, token_matches


def test_token_matches():
    assert token_matches("s3cret-token", "s3cret-token")
    assert not token_matches("s3cret-toke", "s3cret-token")
    assert not token_matches("", "s3cret-token")
    assert not token_matches("anything", None) and not token_matches("anything", "")
    assert not token_matches("", "")


def test_the_token_comes_from_the_environment_when_asked(monkeypatch):
    monkeypatch.delenv(REST_TOKEN_ENV, raising=False)
    channel = MaskingRestInput.from_credentials(None)
    assert channel.token is None  # unset: every call is refused
    monkeypatch.setenv(REST_TOKEN_ENV, "from-env")
    assert channel.token == "from-env"
    assert MaskingRestInput(token="given").token == "given"
    assert MaskingRestInput.name() == "rest"


def test_rasa_loads_it_from_credentials_by_class_path():
    from rasa.core.run import _create_single_channel

    assert isinstance(_create_single_channel("supportbot.channels.masking.MaskingRestInput", None),
                      MaskingRestInput)


def test_a_good_body():
    turn = parse_body(json.dumps({"sender": "email-1f2e", "message": "hi", "metadata": {"channel": "email"}}).encode())
    assert (turn.sender, turn.text, turn.metadata) == ("email-1f2e", "hi", {"channel": "email"})
    assert parse_body(b'{"sender": "a", "message": ""}').text == ""


@pytest.mark.parametrize("body,status,words", [
    (b"", 400, "empty"), (b"  \n", 400, "empty"), (b"[]", 400, "object"), (b"3", 400, "object"),
    (b"{", 400, "JSON"), (b"\xff\xfe", 400, "JSON"), (b"[" * 50000 + b"]" * 50000, 400, "JSON"),
    (b'{"message": "hi"}', 400, "sender"), (b'{"sender": "", "message": "hi"}', 400, "sender"),
    (b'{"sender": ["a"], "message": "hi"}', 400, "sender"), (b'{"sender": "a/b", "message": "hi"}', 400, "sender"),
    (b'{"sender": "a", "message": 1}', 400, "message"), (b'{"sender": "a", "message": null}', 400, "message"),
    (b'{"sender": "a", "message": "hi", "metadata": "x"}', 400, "metadata"),
    (b'{"sender": "a", "message": "' + b"a" * (3 * 1024 * 1024) + b'"}', 413, "larger"),
])
def test_bad_bodies(body, status, words):
    with pytest.raises(BadRequest) as caught:
        parse_body(body)
    assert caught.value.status == status and words.lower() in str(caught.value).lower()
