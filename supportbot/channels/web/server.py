"""The support page server (`supportbot web`, port 8080 by default).

Serves a fixed set of files from ``static/`` and nothing else (no directory listing, no path
from the request ever touches the file system):

  /                    the demo support page (index.html, Rasa URL filled in)
  /widget.js           the embeddable chat widget (loads the next two from its own origin)
  /widget.css          its styles
  /socket.io.min.js    the vendored socket.io client (socket.io-client 4.x, MIT)
  /support.css, /favicon.svg   the support page's own assets
  /healthz             {"status": "ok"}

Every response carries a Content-Security-Policy without 'unsafe-inline' or 'unsafe-eval':
the page may only run scripts from this origin, and may only connect to this origin and the
Rasa server. The widget assets are served with ``Access-Control-Allow-Origin: *`` so any site
can embed them.
"""
from __future__ import annotations

import hashlib
import html
import logging
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from aiohttp import web

logger = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent / "static"

# url path -> (file name in static/, content type, embeddable by other sites)
ASSETS: dict[str, tuple[str, str, bool]] = {
    "/widget.js": ("widget.js", "text/javascript; charset=utf-8", True),
    "/widget.css": ("widget.css", "text/css; charset=utf-8", True),
    "/socket.io.min.js": ("socket.io.min.js", "text/javascript; charset=utf-8", True),
    "/support.css": ("support.css", "text/css; charset=utf-8", False),
    "/favicon.svg": ("favicon.svg", "image/svg+xml", False),
}
INDEX_FILE = "index.html"
RASA_URL_PLACEHOLDER = "{{rasa_url}}"
RASA_URL_KEY = web.AppKey("rasa_url", str)
ASSET_MAX_AGE = 300  # seconds; short, so a deploy reaches every embedding site quickly


class InvalidRasaUrl(ValueError):
    user_facing = True


def rasa_origins(rasa_url: str) -> list[str]:
    """The CSP sources of the Rasa server: its http(s) origin and the matching ws(s) origin."""
    parts = urlsplit(rasa_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidRasaUrl(f"the Rasa URL must be an http(s) URL, got {rasa_url!r}")
    netloc = parts.netloc.rsplit("@", 1)[-1]  # never put credentials in a header
    ws_scheme = "wss" if parts.scheme == "https" else "ws"
    return [f"{parts.scheme}://{netloc}", f"{ws_scheme}://{netloc}"]


def content_security_policy(rasa_url: str) -> str:
    http_origin, ws_origin = rasa_origins(rasa_url)
    connect = " ".join(["'self'", http_origin, ws_origin])
    return "; ".join(
        [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            f"img-src 'self' data: https: {http_origin}",
            f"connect-src {connect}",
            "font-src 'self'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
            "object-src 'none'",
        ]
    )


@dataclass(frozen=True)
class _File:
    body: bytes
    content_type: str
    etag: str
    embeddable: bool


def _etag(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def render_index(template: str, rasa_url: str) -> str:
    return template.replace(RASA_URL_PLACEHOLDER, html.escape(rasa_url, quote=True))


def create_app(rasa_url: str, static_dir: Path = STATIC_DIR) -> web.Application:
    """The aiohttp application serving the support page for a browser-facing Rasa URL."""
    csp = content_security_policy(rasa_url)
    files: dict[str, _File] = {}
    for path, (name, content_type, embeddable) in ASSETS.items():
        body = (static_dir / name).read_bytes()
        files[path] = _File(body, content_type, _etag(body), embeddable)
    index = render_index((static_dir / INDEX_FILE).read_text(encoding="utf-8"), rasa_url)
    index_body = index.encode("utf-8")
    files["/"] = _File(index_body, "text/html; charset=utf-8", _etag(index_body), False)

    def _respond(request: web.Request, item: _File) -> web.Response:
        headers = {"ETag": item.etag}
        if item.embeddable:
            headers["Access-Control-Allow-Origin"] = "*"
            headers["Cache-Control"] = f"public, max-age={ASSET_MAX_AGE}"
            # embedding sites load these with <script>/<link> from another origin
            headers["Cross-Origin-Resource-Policy"] = "cross-origin"
        else:
            headers["Cache-Control"] = "no-cache"
        if item.etag in request.headers.get("If-None-Match", ""):
            return web.Response(status=304, headers=headers)
        return web.Response(body=item.body, headers={**headers, "Content-Type": item.content_type})

    async def serve(request: web.Request) -> web.Response:
        return _respond(request, files[request.path])

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    @web.middleware
    async def security_headers(request: web.Request, handler):
        try:
            resp = await handler(request)
        except web.HTTPException as exc:
            resp = exc
        resp.headers.setdefault("Content-Security-Policy", csp)
        resp.headers.setdefault("X-Content-Type-Options", "nosniff")
        resp.headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
        if "Access-Control-Allow-Origin" not in resp.headers:
            resp.headers.setdefault("X-Frame-Options", "DENY")
        if isinstance(resp, web.HTTPException):
            raise resp
        return resp

    app = web.Application(middlewares=[security_headers])
    app.router.add_get("/", serve)
    app.router.add_get("/index.html", _alias(files["/"], _respond))
    for path in ASSETS:
        app.router.add_get(path, serve)
    app.router.add_get("/healthz", healthz)
    app[RASA_URL_KEY] = rasa_url
    return app


def _alias(item: _File, respond):
    async def handler(request: web.Request) -> web.Response:
        return respond(request, item)

    return handler


def run(host: str, port: int, rasa_url: str) -> None:
    """Serve until interrupted (used by `supportbot web`)."""
    app = create_app(rasa_url)
    logger.info("support page on http://%s:%s/ (Rasa at %s)", host, port, rasa_url)
    web.run_app(app, host=host, port=port, print=None)
