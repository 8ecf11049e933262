"""The action server, authenticated: rasa-sdk's app, callable only with the shared secret.

rasa-sdk 3.6 (`rasa run actions`) listens on every interface and runs whatever tracker any
caller POSTs to `/webhook`. This entry point builds the same Sanic app
(`rasa_sdk.endpoint.create_app`) and adds a request middleware: every path but `/health` needs
the secret of `SUPPORTBOT_ACTION_TOKEN` as `Authorization: Bearer <secret>` (what Rasa sends
when the action endpoint has `headers: {Authorization: "Bearer <secret>"}`) or as the `token`
query parameter (Rasa's `token:` endpoint option), compared in constant time; anything else
gets 401 before the body is read as a tracker, and a POST whose body is not
`Content-Type: application/json` (what Rasa sends; a cross-site form or `text/plain` post
from a browser cannot be) gets 415. It listens on `SUPPORTBOT_ACTION_HOST`
(default 127.0.0.1) and refuses to start without a secret.

    SUPPORTBOT_ACTION_TOKEN=... python -m supportbot.runtime.action_server --port 5055

`supportbot run` starts it this way with a secret generated per start (unless the variable is
set) and writes the same secret into the endpoints file it gives Rasa (runtime/cli.py).
"""
from __future__ import annotations

import argparse
import hmac
import logging
import logging.config
import os
import sys
from collections.abc import Sequence
from typing import Any

from supportbot.settings import Settings

TOKEN_ENV = "SUPPORTBOT_ACTION_TOKEN"
HOST_ENV = "SUPPORTBOT_ACTION_HOST"
#: the only path callable without the secret (the supervisor's ready check); it says "ok"
PUBLIC_PATHS = frozenset({"/health"})
MIN_TOKEN_CHARS = 16

log = logging.getLogger(__name__)


def presented_token(headers: Any, args: Any) -> str:
    """The secret a request presents: `Authorization: Bearer <secret>`, else `?token=`."""
    scheme, _, value = str(headers.get("authorization") or "").partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    token = args.get("token") if args is not None else None
    return str(token or "")


BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


def json_content_type(headers: Any) -> bool:
    """True for `Content-Type: application/json` (parameters such as charset allowed)."""
    media_type = str(headers.get("content-type") or "").split(";", 1)[0].strip().lower()
    return media_type == "application/json"


def token_matches(presented: str, expected: str) -> bool:
    """Constant-time comparison; an empty secret never matches."""
    if not presented or not expected:
        return False
    return hmac.compare_digest(presented.encode("utf-8"), expected.encode("utf-8"))


def create_app(token: str, actions_package: str = "actions") -> Any:
    """rasa-sdk's action server app with the secret required (no CORS: browsers never call it)."""
    if not token or len(token) < MIN_TOKEN_CHARS:
        raise ValueError(f"the action server needs a secret of at least {MIN_TOKEN_CHARS} characters "
                         f"({TOKEN_ENV})")
    from rasa_sdk.endpoint import create_app as create_sdk_app
    from sanic import response

    app = create_sdk_app(actions_package, cors_origins="")

    async def require_token(request: Any) -> Any:
        if request.path in PUBLIC_PATHS:
            return None
        if not token_matches(presented_token(request.headers, request.args), token):
            log.warning("refused an action-server call to %s from %s: no valid secret",
                        request.path, request.ip)
            return response.json({"error": "unauthorized"}, status=401,
                                 headers={"WWW-Authenticate": "Bearer"})
        if request.method in BODY_METHODS and not json_content_type(request.headers):
            # Rasa sends application/json; a browser's cross-site "simple" request cannot
            return response.json({"error": "the body must be application/json"}, status=415)
        return None

    # the app's first request middleware: nothing else runs for a caller without the secret
    app.register_middleware(require_token, "request")
    return app


def _parser() -> argparse.ArgumentParser:
    settings = Settings.from_env()
    parser = argparse.ArgumentParser(prog="python -m supportbot.runtime.action_server",
                                     description="the authenticated rasa-sdk action server")
    parser.add_argument("--host", default=settings.action_host,
                        help=f"interface to listen on (default: {HOST_ENV} or 127.0.0.1)")
    parser.add_argument("--port", type=int, default=settings.action_port,
                        help="port (default: SUPPORTBOT_ACTION_PORT or 5055)")
    parser.add_argument("--actions", default="actions", help="the actions package (default: actions)")
    parser.add_argument("--logging-config-file", default=None,
                        help="a logging dictConfig as JSON or YAML (e.g. the speed bench's debug trace)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    token = os.environ.get(TOKEN_ENV, "")
    if len(token) < MIN_TOKEN_CHARS:
        print(f"supportbot action server: set {TOKEN_ENV} to a secret of at least {MIN_TOKEN_CHARS} "
              "characters (the same one Rasa's endpoints send); `supportbot run` does it for you",
              file=sys.stderr)
        return 2
    from rasa_sdk import utils
    from rasa_sdk.plugin import plugin_manager

    if args.logging_config_file:
        import yaml

        with open(args.logging_config_file, encoding="utf-8") as handle:
            logging.config.dictConfig(yaml.safe_load(handle))
    else:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
        utils.update_sanic_log_level()
    app = create_app(token, args.actions)
    plugin_manager().hook.attach_sanic_app_extensions(app=app)
    log.info("action server on http://%s:%s (secret required)", args.host, args.port)
    app.run(args.host, args.port, workers=utils.number_of_sanic_workers(), access_log=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
