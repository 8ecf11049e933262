"""Cross-origin attacks: a page on any site talking to Rasa or the action server in its
visitors' browsers.

Before: `supportbot run` started Rasa with `--cors "*"`, and Sanic-CORS with credentials
reflects every Origin, so any site could read the REST webhook's and socket.io's answers; the
action server accepted a `text/plain` body (a "simple" request a browser sends cross-site
without asking). Now Rasa gets `--cors` with Settings.cors_origins only, and the action server
wants `application/json`.
"""
from __future__ import annotations

import pytest
import requests

from supportbot.runtime.cli import build_specs
from supportbot.settings import Settings
from tests.conftest import db_rows

EVIL = "http://evil.example"


def _rasa_argv(settings: Settings) -> list[str]:
    specs = build_specs(settings, "models/m.tar.gz", token="t" * 32, endpoints="e.yml", rest_secret="r" * 32)
    return list(next(s for s in specs if s.name == "rasa").argv)


def _cors_values(argv: list[str]) -> list[str]:
    if "--cors" not in argv:
        return []
    values = []
    for value in argv[argv.index("--cors") + 1:]:
        if value.startswith("--"):
            break
        values.append(value)
    return values


def test_supportbot_run_gives_rasa_the_configured_origins_only(tmp_path, monkeypatch):
    monkeypatch.setenv("SUPPORTBOT_VAR_DIR", str(tmp_path))
    for name in ("SUPPORTBOT_CORS_ORIGINS", "SUPPORTBOT_WEB_PORT", "SUPPORTBOT_RASA_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    assert _cors_values(_rasa_argv(Settings.from_env())) == ["http://127.0.0.1:8080", "http://localhost:8080"]
    monkeypatch.setenv("SUPPORTBOT_CORS_ORIGINS", "https://shop.example, https://help.example")
    assert _cors_values(_rasa_argv(Settings.from_env())) == ["https://shop.example", "https://help.example"]
    monkeypatch.setenv("SUPPORTBOT_CORS_ORIGINS", "")
    assert "*" not in _rasa_argv(Settings.from_env())


def _preflight(url: str, origin: str) -> requests.Response:
    return requests.options(url, timeout=30, headers={
        "Origin": origin, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type, authorization"})


@pytest.mark.e2e
def test_the_rest_webhook_answers_configured_origins_only(bot_stack):
    allowed = bot_stack.cors_origins[0]
    for response in (_preflight(bot_stack.webhook_url, EVIL),
                     bot_stack.post({"sender": bot_stack.new_sender("cors"), "message": "hi"},
                                    headers={"Origin": EVIL})):
        assert response.headers.get("Access-Control-Allow-Origin") in (None, ""), dict(response.headers)
    ok = _preflight(bot_stack.webhook_url, allowed)
    assert ok.headers.get("Access-Control-Allow-Origin") == allowed


@pytest.mark.e2e
def test_socketio_long_polling_answers_configured_origins_only(bot_stack):
    url = f"{bot_stack.rasa_url}/socket.io/?EIO=4&transport=polling"
    evil = requests.get(url, headers={"Origin": EVIL}, timeout=30)
    assert evil.headers.get("Access-Control-Allow-Origin") in (None, ""), dict(evil.headers)
    allowed = bot_stack.cors_origins[0]
    ok = requests.get(url, headers={"Origin": allowed}, timeout=30)
    assert ok.status_code == 200 and ok.headers.get("Access-Control-Allow-Origin") == allowed


# ---- the action server: application/json only ---------------------------------------------
@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded",
                                          "multipart/form-data; boundary=x", None])
def test_the_action_server_refuses_a_body_that_is_not_json(action_server, content_type):
    """With the secret (the worst case): a body a browser could send cross-site is refused
    before any action runs."""
    import json

    sender = action_server.sender("plain")
    body = json.dumps({"next_action": "action_hand_off", "sender_id": sender,
                       "tracker": {"sender_id": sender, "events": [], "slots": {}, "latest_message": {}}})
    headers = {"Authorization": f"Bearer {action_server.token}"}
    if content_type:
        headers["Content-Type"] = content_type
    response = requests.post(action_server.url + "/webhook", data=body.encode(), headers=headers, timeout=30)
    assert response.status_code == 415, response.text
    assert "application/json" in response.json()["error"]
    assert db_rows(action_server.database_url, "SELECT id FROM handoff_tickets WHERE conversation_id = :s",
                   s=sender) == []


def test_the_action_server_still_takes_json_from_rasa(action_server):
    sender = action_server.sender("json")
    response = action_server.run("action_stop_task", sender, intent="deny")
    assert response.status_code == 200
    response = requests.post(action_server.url + "/webhook", timeout=30,
                             headers={"Authorization": f"Bearer {action_server.token}",
                                      "Content-Type": "application/json; charset=utf-8"},
                             data=b'{"next_action": "action_stop_task", "sender_id": "x", '
                                  b'"tracker": {"sender_id": "x", "events": []}}')
    assert response.status_code == 200
