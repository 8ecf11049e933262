"""`supportbot web`: serve the support page and the embeddable chat widget."""
from __future__ import annotations

import argparse
import logging
import os

from supportbot.settings import Settings

PUBLIC_RASA_URL_ENV = "SUPPORTBOT_WEB_RASA_URL"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "web",
        help="serve the support page and chat widget (port 8080)",
        description=(
            "Serve the demo support page and the embeddable widget (/widget.js). "
            "Browsers talk to Rasa's socket.io channel directly, at the Rasa URL given here."
        ),
    )
    parser.add_argument("--host", default=None,
                        help="interface to listen on (default: SUPPORTBOT_WEB_HOST or 127.0.0.1)")
    parser.add_argument(
        "--port", type=int, default=None, help="port (default: SUPPORTBOT_WEB_PORT or 8080)"
    )
    parser.add_argument(
        "--rasa-url",
        default=None,
        help=(
            "Rasa server URL as the visitor's browser reaches it (default: "
            f"{PUBLIC_RASA_URL_ENV}, else SUPPORTBOT_RASA_URL, else http://127.0.0.1:5005)"
        ),
    )
    parser.set_defaults(handler=_serve)


def _serve(args: argparse.Namespace) -> int:
    from supportbot.channels.web.server import rasa_origins, run

    settings = Settings.from_env()
    port = args.port if args.port is not None else settings.web_port
    host = args.host or settings.web_host
    rasa_url = args.rasa_url or os.environ.get(PUBLIC_RASA_URL_ENV) or settings.rasa_url
    rasa_origins(rasa_url)  # a clear error for a malformed URL, before anything starts
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    print(f"supportbot web: support page on http://{host}:{port}/ (widget talks to {rasa_url})", flush=True)
    run(host, port, rasa_url)
    return 0
