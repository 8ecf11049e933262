"""`supportbot run`: the assistant's processes as one supervised group (what `make run` starts).

Every process listens on 127.0.0.1 unless SUPPORTBOT_RASA_HOST / _ACTION_HOST / _WEB_HOST say
otherwise (the email bridge: SUPPORTBOT_EMAIL_BRIDGE_HOST). The action server
(supportbot/runtime/action_server.py) only answers callers with the shared secret: taken from
SUPPORTBOT_ACTION_TOKEN, or generated for this start, passed to the action server in its
environment and to Rasa in `var/run/endpoints.yml` (endpoints.yml plus the action endpoint
with the secret as an `Authorization` header; readable by this user only).

Rasa's REST channel is for internal callers only (the email bridge, scripts): they send
SUPPORTBOT_REST_TOKEN (`Authorization: Bearer ...`), generated per start when unset and given
to every child in its environment. Browsers may call Rasa only from SUPPORTBOT_CORS_ORIGINS.
"""
from __future__ import annotations

import importlib.util
import os
import secrets
import sys
from pathlib import Path
from typing import Any

from supportbot.runtime.action_server import TOKEN_ENV
from supportbot.runtime.supervisor import NotReady, ProcessSpec, Supervisor
from supportbot.settings import PROJECT_ROOT, REST_TOKEN_ENV, Settings


def _url_ok(url: str) -> bool:
    """True when `url` answers below 500. Connection refused, timeouts and 5xx answers mean
    "not ready yet" (NotReady with the reason); any other error (a malformed URL, ...) is
    raised for the supervisor to report."""
    import requests

    try:
        response = requests.get(url, timeout=2)
    except (requests.ConnectionError, requests.Timeout) as exc:
        raise NotReady(f"{url}: {type(exc).__name__}") from exc
    if response.status_code >= 500:
        raise NotReady(f"{url} answered HTTP {response.status_code}")
    return True


def _bin(name: str) -> str:
    return str(Path(sys.executable).with_name(name))


def connect_host(listen_host: str) -> str:
    """Where to reach a process listening on `listen_host` from this machine."""
    return "127.0.0.1" if listen_host in ("", "0.0.0.0", "::", "[::]") else listen_host


def action_token(settings: Settings) -> str:
    """The shared secret of Rasa and the action server: SUPPORTBOT_ACTION_TOKEN or a new one."""
    return settings.action_token or secrets.token_urlsafe(32)


def rest_token(settings: Settings) -> str:
    """The secret of Rasa's REST channel's internal callers: SUPPORTBOT_REST_TOKEN or a new one."""
    return settings.rest_token or secrets.token_urlsafe(32)


def write_runtime_endpoints(settings: Settings, token: str,
                            source: Path = PROJECT_ROOT / "endpoints.yml") -> Path:
    """`var/run/endpoints.yml`: `source` with the action endpoint at the configured address,
    sending the secret. Mode 0600 (the directory 0700): the secret is in it."""
    import yaml
    from sqlalchemy.engine import make_url

    config: dict[str, Any] = yaml.safe_load(source.read_text()) or {}
    endpoint = dict(config.get("action_endpoint") or {})
    endpoint["url"] = f"http://{connect_host(settings.action_host)}:{settings.action_port}/webhook"
    endpoint["headers"] = {**(endpoint.get("headers") or {}), "Authorization": f"Bearer {token}"}
    endpoint.pop("token", None)
    config["action_endpoint"] = endpoint
    store = config.get("tracker_store")
    if isinstance(store, dict) and store.get("dialect") == "sqlite":
        # conversations in the core's SQLite file (SUPPORTBOT_DATABASE_URL / _VAR_DIR), not
        # wherever endpoints.yml's relative `db` happens to point: the review console indexes
        # the tracker store's `events` table from the core's database
        database = make_url(settings.database_url)
        if database.get_backend_name() == "sqlite" and database.database:
            config["tracker_store"] = {**store, "db": str(Path(database.database).resolve())}
    directory = settings.var_dir / "run"
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    path = directory / "endpoints.yml"
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write("# written by `supportbot run` from endpoints.yml at each start: do not edit\n")
        yaml.safe_dump(config, handle, default_flow_style=False, sort_keys=False)
    os.chmod(path, 0o600)
    return path


def build_specs(settings: Settings, model: str, with_channels: bool = True, *,
                token: str, endpoints: Path | str = "endpoints.yml",
                rest_secret: str | None = None) -> list[ProcessSpec]:
    """The processes of `supportbot run`; `token` is the action server's secret and
    `endpoints` the file that gives it to Rasa (write_runtime_endpoints); `rest_secret`, the
    REST channel's, goes to Rasa and the channels' environment (REST_TOKEN_ENV)."""
    root = str(PROJECT_ROOT)
    rest_env = {REST_TOKEN_ENV: rest_secret} if rest_secret else {}
    rasa_argv = [_bin("rasa"), "run", "--model", model, "--endpoints", str(endpoints),
                 "--credentials", "credentials.yml", "-i", settings.rasa_host,
                 "--port", str(settings.rasa_port)]
    if settings.cors_origins:
        rasa_argv += ["--cors", *settings.cors_origins]
    api_token = os.environ.get("SUPPORTBOT_RASA_TOKEN")
    if api_token:
        rasa_argv += ["--enable-api", "--auth-token", api_token]
    actions = f"http://{connect_host(settings.action_host)}:{settings.action_port}/health"
    rasa = f"http://{connect_host(settings.rasa_host)}:{settings.rasa_port}/"
    web = f"http://{connect_host(settings.web_host)}:{settings.web_port}/healthz"
    specs = [
        ProcessSpec("actions", [sys.executable, "-m", "supportbot.runtime.action_server",
                                "--host", settings.action_host, "--port", str(settings.action_port)],
                    env={TOKEN_ENV: token}, cwd=root, ready_check=lambda: _url_ok(actions)),
        ProcessSpec("rasa", rasa_argv, env=dict(rest_env), cwd=root,
                    ready_check=lambda: _url_ok(rasa)),
    ]
    if with_channels and importlib.util.find_spec("supportbot.channels.web.cli"):
        specs.append(ProcessSpec("web", [_bin("supportbot"), "web", "--host", settings.web_host,
                                         "--port", str(settings.web_port)],
                                 env=dict(rest_env), cwd=root, ready_check=lambda: _url_ok(web)))
    if with_channels and importlib.util.find_spec("supportbot.channels.email_bridge.cli"):
        specs.append(ProcessSpec("email", [_bin("supportbot"), "email-bridge", "serve"],
                                 env=dict(rest_env), cwd=root))
    if importlib.util.find_spec("supportbot.console.cli"):
        console = f"http://{connect_host(settings.console_host)}:{settings.console_port}/healthz"
        specs.append(ProcessSpec("console", [_bin("supportbot"), "console", "--host",
                                             settings.console_host, "--port", str(settings.console_port)],
                                 cwd=root, ready_check=lambda: _url_ok(console)))
    return specs


def _run(args) -> int:
    settings = Settings.from_env()
    model = args.model
    if not Path(PROJECT_ROOT / model).exists():
        print(f"supportbot: no trained model at {model}: run `make train` first", file=sys.stderr)
        return 1
    token = action_token(settings)
    rest_secret = rest_token(settings)
    endpoints = write_runtime_endpoints(settings, token)
    supervisor = Supervisor(build_specs(settings, model, with_channels=not args.no_channels,
                                        token=token, endpoints=endpoints, rest_secret=rest_secret))
    supervisor.start()
    try:
        ready = supervisor.wait_ready()
    except KeyboardInterrupt:  # the children run in their own sessions: stop them too
        supervisor.say("interrupted while starting: stopping")
        supervisor.stop()
        return 130
    if not ready and "check failed" in supervisor.not_ready.values():
        supervisor.say("ERROR: a ready check is broken (see above): stopping everything")
        supervisor.stop()
        return 1
    if not ready and supervisor.not_ready:
        supervisor.say("the assistant is NOT ready: " + ", ".join(
            f"{name} ({why})" for name, why in supervisor.not_ready.items())
            + "; still supervising (Ctrl-C stops everything)")
    if ready:
        mail = (f"SMTP relay {settings.smtp_host}:{settings.smtp_port}" if settings.smtp_host
                else f"DEVELOPMENT outbox {settings.outbox_dir} (no SMTP relay configured)")
        supervisor.say(
            "the assistant is running:\n"
            f"  chat over HTTP:  curl -s -X POST http://127.0.0.1:{settings.rasa_port}/webhooks/rest/webhook "
            f"-H 'Authorization: Bearer {rest_secret}' "
            "-H 'Content-Type: application/json' -d '{\"sender\": \"me\", \"message\": \"hi\"}'\n"
            f"  support page + chat widget: http://127.0.0.1:{settings.web_port}/\n"
            + (f"  review console (leads):     http://127.0.0.1:{settings.console_port}/\n"
               if any(spec.name == "console" for spec in supervisor.specs) else "") +
            f"  email bridge (SMTP in):     127.0.0.1:{settings.email_bridge_port}\n"
            f"  outgoing mail:              {mail}\n"
            f"  database:                   {settings.database_url}\n"
            "  Ctrl-C stops everything.")
    return supervisor.run_forever()


def register(subparsers) -> None:
    parser = subparsers.add_parser("run", help="start Rasa, the action server and the channels")
    parser.add_argument("--model", default="models/supportbot.tar.gz")
    parser.add_argument("--no-channels", action="store_true",
                        help="only Rasa and the action server")
    parser.set_defaults(handler=_run)
