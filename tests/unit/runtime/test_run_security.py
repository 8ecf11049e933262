"""What `supportbot run` starts, and how: every process on 127.0.0.1 unless configured, the
action server through our authenticated entry point with a secret that Rasa gets in its
endpoints file (supportbot/runtime/cli.py, supportbot/runtime/action_server.py). The real
server is attacked in tests/security/."""
from __future__ import annotations

import stat
import sys

import pytest

from supportbot.runtime import action_server
from supportbot.runtime.cli import action_token, build_specs, write_runtime_endpoints
from supportbot.settings import Settings


def _settings(tmp_path, monkeypatch, **env):
    for name in ("SUPPORTBOT_RASA_HOST", "SUPPORTBOT_ACTION_HOST", "SUPPORTBOT_WEB_HOST",
                 "SUPPORTBOT_ACTION_TOKEN", "SUPPORTBOT_RASA_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SUPPORTBOT_VAR_DIR", str(tmp_path))
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return Settings.from_env()


def _argv(specs, name):
    return list(next(s for s in specs if s.name == name).argv)


def _after(argv, flag):
    return argv[argv.index(flag) + 1]


def test_every_process_listens_on_this_machine_only_by_default(tmp_path, monkeypatch):
    settings = _settings(tmp_path, monkeypatch)
    specs = build_specs(settings, "models/m.tar.gz", token="t" * 32, endpoints=tmp_path / "e.yml")
    actions, rasa, web = _argv(specs, "actions"), _argv(specs, "rasa"), _argv(specs, "web")
    assert _after(actions, "--host") == "127.0.0.1"
    assert _after(rasa, "-i") == "127.0.0.1"
    assert _after(web, "--host") == "127.0.0.1"
    # the email bridge's own default (channels/email_bridge/config.py) is 127.0.0.1 as well
    from supportbot.channels.email_bridge.config import BridgeConfig

    monkeypatch.delenv("SUPPORTBOT_EMAIL_BRIDGE_HOST", raising=False)
    assert BridgeConfig.from_settings(settings).host == "127.0.0.1"


def test_the_interfaces_are_configurable(tmp_path, monkeypatch):
    settings = _settings(tmp_path, monkeypatch, SUPPORTBOT_RASA_HOST="0.0.0.0",
                         SUPPORTBOT_ACTION_HOST="10.0.0.5", SUPPORTBOT_WEB_HOST="0.0.0.0")
    specs = build_specs(settings, "m", token="t" * 32)
    assert _after(_argv(specs, "actions"), "--host") == "10.0.0.5"
    assert _after(_argv(specs, "rasa"), "-i") == "0.0.0.0"
    assert _after(_argv(specs, "web"), "--host") == "0.0.0.0"


def test_the_action_server_is_ours_and_gets_the_secret(tmp_path, monkeypatch):
    settings = _settings(tmp_path, monkeypatch)
    specs = build_specs(settings, "m", token="s3cret-" * 5, endpoints=tmp_path / "run.yml")
    spec = next(s for s in specs if s.name == "actions")
    assert list(spec.argv[:3]) == [sys.executable, "-m", "supportbot.runtime.action_server"]
    assert "rasa" not in " ".join(spec.argv[1:])  # not rasa-sdk's unauthenticated server
    assert spec.env == {action_server.TOKEN_ENV: "s3cret-" * 5}
    assert _after(_argv(specs, "rasa"), "--endpoints") == str(tmp_path / "run.yml")
    # only the action server's environment carries it
    assert all(action_server.TOKEN_ENV not in s.env for s in specs if s.name != "actions")


def test_a_secret_per_start_unless_one_is_configured(tmp_path, monkeypatch):
    settings = _settings(tmp_path, monkeypatch)
    first, second = action_token(settings), action_token(settings)
    assert first != second and len(first) >= action_server.MIN_TOKEN_CHARS
    configured = _settings(tmp_path, monkeypatch, SUPPORTBOT_ACTION_TOKEN="x" * 40)
    assert action_token(configured) == "x" * 40


def test_rasa_gets_the_secret_in_an_endpoints_file_only_this_user_reads(tmp_path, monkeypatch):
    from rasa.utils.endpoints import read_endpoint_config

    settings = _settings(tmp_path, monkeypatch, SUPPORTBOT_ACTION_PORT="6123")
    source = tmp_path / "endpoints.yml"
    source.write_text('action_endpoint:\n  url: "http://127.0.0.1:5055/webhook"\n'
                      "tracker_store:\n  type: SQL\n  dialect: sqlite\n  db: var/x.db\n"
                      "  password: ${SB_TEST_DB_PASSWORD}\n")
    path = write_runtime_endpoints(settings, "the-secret-" * 3, source=source)
    assert path == tmp_path / "run" / "endpoints.yml"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    # the rest of endpoints.yml is kept, its ${...} still expanded by Rasa
    monkeypatch.setenv("SB_TEST_DB_PASSWORD", "pw")
    endpoint = read_endpoint_config(str(path), "action_endpoint")  # as Rasa reads it
    assert endpoint.url == "http://127.0.0.1:6123/webhook"
    assert endpoint.headers == {"Authorization": "Bearer " + "the-secret-" * 3}
    store = read_endpoint_config(str(path), "tracker_store")
    # an SQLite tracker store writes into the core's database file, wherever the settings put it
    # (the review console indexes `events` there); before, `db: var/x.db` was kept relative
    core_file = str((tmp_path / "supportbot.db").resolve())
    assert (store.type, store.kwargs["db"], store.kwargs["password"]) == ("SQL", core_file, "pw")


def test_a_core_on_postgresql_leaves_the_tracker_store_as_configured(tmp_path, monkeypatch):
    import yaml

    settings = _settings(tmp_path, monkeypatch,
                         SUPPORTBOT_DATABASE_URL="postgresql+psycopg2://postgres@127.0.0.1/supportbot")
    source = tmp_path / "endpoints.yml"
    source.write_text("tracker_store:\n  type: SQL\n  dialect: sqlite\n  db: var/x.db\n")
    written = yaml.safe_load(write_runtime_endpoints(settings, "s" * 32, source=source).read_text())
    assert written["tracker_store"]["db"] == "var/x.db"


@pytest.mark.parametrize("headers, args, presented", [
    ({"authorization": "Bearer abc"}, {}, "abc"),
    ({"authorization": "bearer  abc "}, {}, "abc"),
    ({"authorization": "Basic abc"}, {"token": "q"}, "q"),
    ({}, {"token": "q"}, "q"),
    ({}, {}, ""),
])
def test_the_presented_secret(headers, args, presented):
    assert action_server.presented_token(headers, args) == presented


def test_secrets_are_compared_whole_and_empty_never_matches():
    assert action_server.token_matches("a" * 20, "a" * 20)
    assert not action_server.token_matches("a" * 19, "a" * 20)
    assert not action_server.token_matches("", "")
    assert not action_server.token_matches("x", "")


def test_no_server_without_a_real_secret(monkeypatch, capsys):
    with pytest.raises(ValueError):
        action_server.create_app("short")
    monkeypatch.delenv(action_server.TOKEN_ENV, raising=False)
    assert action_server.main(["--port", "1"]) == 2
    assert action_server.TOKEN_ENV in capsys.readouterr().err
