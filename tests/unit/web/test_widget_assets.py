"""Static checks of the widget's files: safe DOM APIs only, no CDN, the vendored client."""
from __future__ import annotations

import hashlib
import re

import pytest

from supportbot.channels.web.server import STATIC_DIR

WIDGET_JS = (STATIC_DIR / "widget.js").read_text(encoding="utf-8")
WIDGET_CSS = (STATIC_DIR / "widget.css").read_text(encoding="utf-8")
INDEX = (STATIC_DIR / "index.html").read_text(encoding="utf-8")
NOTICE = (STATIC_DIR / "socket.io.LICENSE.txt").read_text(encoding="utf-8")


def _code(js: str) -> str:
    """widget.js without comments (they may name the APIs the code avoids)."""
    js = re.sub(r"/\*.*?\*/", "", js, flags=re.S)
    return re.sub(r"^\s*//.*$|\s//\s.*$", "", js, flags=re.M)


@pytest.mark.parametrize(
    "api",
    ["innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function",
     "setAttribute(\"style\"", "createContextualFragment", "DOMParser", "srcdoc", "javascript:"],
)
def test_widget_never_uses_html_parsing_or_code_evaluation(api):
    assert api not in _code(WIDGET_JS)


def test_widget_builds_text_with_text_nodes():
    code = _code(WIDGET_JS)
    assert "createTextNode" in code and "textContent" in code


def test_links_are_http_only_and_opened_without_opener():
    code = _code(WIDGET_JS)
    assert 'u.protocol === "http:" || u.protocol === "https:"' in code
    assert code.count('rel: "noopener noreferrer nofollow"') >= 3  # text links, images, link buttons
    assert 'target: "_blank"' in code


def test_no_cdn_or_third_party_urls_in_the_assets():
    for name in ("widget.js", "widget.css", "index.html", "support.css"):
        text = (STATIC_DIR / name).read_text(encoding="utf-8")
        for url in re.findall(r"https?://[^\s\"')]+", text):
            host = re.match(r"https?://([^/:]+)", url).group(1)
            # the SVG namespace, and documentation-only example domains (RFC 2606) in comments
            assert url.startswith("http://www.w3.org/2000/svg") or host.endswith(".example"), (name, url)


def test_widget_loads_its_css_and_socket_io_from_its_own_origin():
    code = _code(WIDGET_JS)
    assert 'assetBase + "widget.css"' in code
    assert 'assetBase + "socket.io.min.js"' in code
    assert 'new URL(".", script.src)' in code


def test_widget_uses_rasa_socketio_events_and_session_persistence():
    code = _code(WIDGET_JS)
    for piece in ('"user_uttered"', '"bot_uttered"', '"session_request"', '"session_confirm"',
                  "session_id: state.sessionId"):
        assert piece in code


def test_vendored_socket_io_client_is_the_recorded_4x_build():
    body = (STATIC_DIR / "socket.io.min.js").read_bytes()
    version = re.search(r"version:\s+(\S+)", NOTICE).group(1)
    sha = re.search(r"sha256:\s+([0-9a-f]{64})", NOTICE).group(1)
    assert version.startswith("4.")
    assert body.startswith(f"/*!\n * Socket.IO v{version}\n".encode())
    assert b"Released under the MIT License." in body[:200]
    assert hashlib.sha256(body).hexdigest() == sha
    assert "Permission is hereby granted" in NOTICE


def test_phone_layout_and_reduced_motion_rules_exist():
    assert "@media (max-width: 480px)" in WIDGET_CSS
    phone = WIDGET_CSS.split("@media (max-width: 480px)", 1)[1]
    assert "100vw" in phone and "100dvh" in phone
    assert "prefers-reduced-motion" in WIDGET_CSS
    assert "[hidden]" in WIDGET_CSS  # the hidden attribute wins over display rules


def test_page_has_no_inline_script_or_style():
    assert "<style" not in INDEX and " style=" not in INDEX
    assert re.findall(r"<script\b[^>]*>\s*</script>", INDEX) == re.findall(r"<script\b.*?</script>", INDEX, re.S)
