"""The support page server: which files, which content types, which headers."""
from __future__ import annotations

import asyncio
import re

import pytest
from aiohttp.test_utils import TestClient, TestServer

from supportbot.channels.web import cli as web_cli
from supportbot.channels.web.server import (
    ASSETS,
    STATIC_DIR,
    InvalidRasaUrl,
    content_security_policy,
    create_app,
    rasa_origins,
    render_index,
)

RASA = "http://bot.example:5005"


def fetch(path: str, rasa_url: str = RASA, method: str = "GET", headers: dict | None = None):
    async def go():
        async with TestClient(TestServer(create_app(rasa_url))) as client:
            resp = await client.request(method, path, headers=headers or {})
            return resp.status, resp.headers, await resp.read()

    return asyncio.run(go())


def csp_directives(header: str) -> dict[str, list[str]]:
    out = {}
    for part in header.split(";"):
        words = part.split()
        if words:
            out[words[0]] = words[1:]
    return out


@pytest.mark.parametrize(
    "path, content_type",
    [
        ("/widget.js", "text/javascript"),
        ("/widget.css", "text/css"),
        ("/socket.io.min.js", "text/javascript"),
        ("/support.css", "text/css"),
        ("/favicon.svg", "image/svg+xml"),
        ("/", "text/html"),
        ("/index.html", "text/html"),
    ],
)
def test_serves_each_file_with_its_content_type(path, content_type):
    status, headers, body = fetch(path)
    assert status == 200
    assert headers["Content-Type"].split(";")[0] == content_type
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert body


def test_widget_js_is_the_file_in_static():
    status, _, body = fetch("/widget.js")
    assert status == 200
    assert body == (STATIC_DIR / "widget.js").read_bytes()


def test_head_request_has_no_body():
    status, headers, body = fetch("/widget.js", method="HEAD")
    assert status == 200 and body == b""
    assert headers["Content-Type"].startswith("text/javascript")


def test_widget_assets_are_embeddable_from_any_origin_and_cached_briefly():
    for path in ("/widget.js", "/widget.css", "/socket.io.min.js"):
        _, headers, _ = fetch(path)
        assert headers["Access-Control-Allow-Origin"] == "*"
        assert headers["Cross-Origin-Resource-Policy"] == "cross-origin"
        assert re.fullmatch(r"public, max-age=\d+", headers["Cache-Control"])


def test_page_is_not_cached_and_not_frameable():
    _, headers, _ = fetch("/")
    assert headers["Cache-Control"] == "no-cache"
    assert headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]


def test_csp_forbids_inline_and_foreign_scripts():
    _, headers, _ = fetch("/")
    csp = csp_directives(headers["Content-Security-Policy"])
    assert csp["default-src"] == ["'none'"]
    assert csp["script-src"] == ["'self'"]  # no 'unsafe-inline', no 'unsafe-eval', no hosts
    assert csp["style-src"] == ["'self'"]
    assert csp["object-src"] == ["'none'"]
    assert csp["base-uri"] == ["'none'"]
    for directive in csp.values():
        assert "'unsafe-inline'" not in directive and "'unsafe-eval'" not in directive


def test_csp_lets_the_page_connect_to_rasa_over_http_and_websocket():
    _, headers, _ = fetch("/")
    connect = csp_directives(headers["Content-Security-Policy"])["connect-src"]
    assert connect == ["'self'", "http://bot.example:5005", "ws://bot.example:5005"]


def test_csp_for_https_rasa_uses_wss_and_never_leaks_credentials():
    csp = csp_directives(content_security_policy("https://user:pw@bot.example/prefix"))
    assert csp["connect-src"] == ["'self'", "https://bot.example", "wss://bot.example"]
    assert "pw" not in " ".join(sum(csp.values(), []))


def test_every_response_has_the_csp_header_even_errors():
    status, headers, _ = fetch("/nope")
    assert status == 404
    assert "script-src 'self'" in headers["Content-Security-Policy"]


@pytest.mark.parametrize("path", ["/../settings.py", "/static/widget.js", "/server.py", "/widget.js.map",
                                  "/.git/config"])
def test_nothing_outside_the_fixed_list_is_served(path):
    status, _, _ = fetch(path)
    assert status == 404


def test_only_get_and_head():
    status, _, _ = fetch("/widget.js", method="POST")
    assert status == 405


def test_etag_revalidation():
    _, headers, _ = fetch("/widget.js")
    status, headers2, body = fetch("/widget.js", headers={"If-None-Match": headers["ETag"]})
    assert status == 304 and body == b""
    assert headers2["ETag"] == headers["ETag"]


def test_healthz():
    status, headers, body = fetch("/healthz")
    assert status == 200 and headers["Content-Type"].startswith("application/json")
    assert body == b'{"status": "ok"}'


def test_support_page_embeds_the_widget_with_one_script_tag_and_no_inline_script():
    _, _, body = fetch("/", rasa_url="http://127.0.0.1:5005")
    page = body.decode()
    scripts = re.findall(r"<script\b[^>]*>(.*?)</script>", page, flags=re.S)
    assert scripts == [""]  # exactly one, with no inline code
    tag = re.search(r"<script\b[^>]*>", page).group(0)
    assert 'src="/widget.js"' in tag
    assert 'data-rasa-url="http://127.0.0.1:5005"' in tag
    tags = re.findall(r"<[a-zA-Z][^>]*>", page)
    assert not [t for t in tags if re.search(r"\son[a-z]+\s*=", t)]  # no inline event handlers
    assert "style=" not in page


def test_rasa_url_is_attribute_escaped():
    html = render_index('<script data-rasa-url="{{rasa_url}}"></script>', 'http://x/"><script>alert(1)</script>')
    assert "<script>alert" not in html
    assert "&quot;&gt;&lt;script&gt;" in html


@pytest.mark.parametrize("bad", ["javascript:alert(1)", "ftp://bot.example", "bot.example:5005", ""])
def test_rejects_a_rasa_url_that_is_not_http(bad):
    with pytest.raises(InvalidRasaUrl):
        rasa_origins(bad)


def test_every_listed_asset_exists():
    for name, _, _ in ASSETS.values():
        assert (STATIC_DIR / name).is_file(), name


class _Subparsers:
    def __init__(self):
        import argparse

        self.parser = argparse.ArgumentParser(prog="supportbot")
        self.sub = self.parser.add_subparsers(dest="command")


def test_cli_registers_web_with_settings_defaults(monkeypatch):
    calls = []
    monkeypatch.setenv("SUPPORTBOT_WEB_PORT", "8181")
    monkeypatch.setenv("SUPPORTBOT_RASA_URL", "http://rasa.internal:5005")
    monkeypatch.delenv(web_cli.PUBLIC_RASA_URL_ENV, raising=False)
    monkeypatch.setattr(
        "supportbot.channels.web.server.run", lambda host, port, rasa_url: calls.append((host, port, rasa_url))
    )
    p = _Subparsers()
    web_cli.register(p.sub)
    args = p.parser.parse_args(["web"])
    assert args.handler(args) == 0
    assert calls == [("127.0.0.1", 8181, "http://rasa.internal:5005")]  # this machine only
    monkeypatch.setenv("SUPPORTBOT_WEB_HOST", "0.0.0.0")
    args = p.parser.parse_args(["web"])
    assert args.handler(args) == 0
    assert calls[-1] == ("0.0.0.0", 8181, "http://rasa.internal:5005")


def test_cli_public_rasa_url_env_and_flags(monkeypatch):
    calls = []
    monkeypatch.setenv(web_cli.PUBLIC_RASA_URL_ENV, "https://bot.example")
    monkeypatch.setattr(
        "supportbot.channels.web.server.run", lambda host, port, rasa_url: calls.append((host, port, rasa_url))
    )
    p = _Subparsers()
    web_cli.register(p.sub)
    args = p.parser.parse_args(["web"])
    args.handler(args)
    args = p.parser.parse_args(["web", "--host", "127.0.0.1", "--port", "9000", "--rasa-url", "http://h:1"])
    args.handler(args)
    assert calls[0][2] == "https://bot.example"
    assert calls[1] == ("127.0.0.1", 9000, "http://h:1")


def test_cli_bad_rasa_url_is_a_user_facing_error(monkeypatch):
    p = _Subparsers()
    web_cli.register(p.sub)
    args = p.parser.parse_args(["web", "--rasa-url", "nonsense"])
    with pytest.raises(InvalidRasaUrl) as exc:
        args.handler(args)
    assert exc.value.user_facing


def test_dispatcher_knows_the_web_command():
    from supportbot.cli import build_parser

    args = build_parser().parse_args(["web", "--port", "1234"])
    assert args.port == 1234 and callable(args.handler)
