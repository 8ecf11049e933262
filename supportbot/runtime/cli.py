"""`supportbot run`: the assistant's processes as one supervised group (what `make run` starts)."""
from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

from supportbot.runtime.supervisor import NotReady, ProcessSpec, Supervisor
from supportbot.settings import PROJECT_ROOT, Settings


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


def build_specs(settings: Settings, model: str, with_channels: bool = True) -> list[ProcessSpec]:
    root = str(PROJECT_ROOT)
    rasa_argv = [_bin("rasa"), "run", "--model", model, "--endpoints", "endpoints.yml",
                 "--credentials", "credentials.yml", "--port", str(settings.rasa_port),
                 "--cors", "*"]
    token = os.environ.get("SUPPORTBOT_RASA_TOKEN")
    if token:
        rasa_argv += ["--enable-api", "--auth-token", token]
    specs = [
        ProcessSpec("actions", [_bin("rasa"), "run", "actions", "--actions", "actions",
                                "--port", str(settings.action_port)], cwd=root,
                    ready_check=lambda: _url_ok(f"http://127.0.0.1:{settings.action_port}/health")),
        ProcessSpec("rasa", rasa_argv, cwd=root,
                    ready_check=lambda: _url_ok(f"http://127.0.0.1:{settings.rasa_port}/")),
    ]
    if with_channels and importlib.util.find_spec("supportbot.channels.web.cli"):
        specs.append(ProcessSpec("web", [_bin("supportbot"), "web", "--port", str(settings.web_port)],
                                 cwd=root,
                                 ready_check=lambda: _url_ok(f"http://127.0.0.1:{settings.web_port}/healthz")))
    if with_channels and importlib.util.find_spec("supportbot.channels.email_bridge.cli"):
        specs.append(ProcessSpec("email", [_bin("supportbot"), "email-bridge", "serve"], cwd=root))
    return specs


def _run(args) -> int:
    settings = Settings.from_env()
    model = args.model
    if not Path(PROJECT_ROOT / model).exists():
        print(f"supportbot: no trained model at {model}: run `make train` first", file=sys.stderr)
        return 1
    supervisor = Supervisor(build_specs(settings, model, with_channels=not args.no_channels))
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
            "-H 'Content-Type: application/json' -d '{\"sender\": \"me\", \"message\": \"hi\"}'\n"
            f"  support page + chat widget: http://127.0.0.1:{settings.web_port}/\n"
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
