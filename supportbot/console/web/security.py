"""Response headers for every answer, and the CSRF check of every state-changing request.

CSRF: each session has its own random token (console_sessions.csrf_token), put into every
form as the hidden field `csrf_token` (htmx sends the same form field). A POST without it, or
with another session's, is refused with 403 before any handler runs. The login form, which has
no session yet, uses a double-submit cookie (`LOGIN_CSRF_COOKIE`, same value in the form).
"""
from __future__ import annotations

import hmac
import secrets

from aiohttp import web

CONTENT_SECURITY_POLICY = "; ".join((
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "connect-src 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
    "base-uri 'none'",
))
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
LOGIN_CSRF_COOKIE = "console_login_csrf"


def new_token() -> str:
    return secrets.token_urlsafe(32)


def tokens_match(expected: str | None, given: str | None) -> bool:
    if not expected or not given:
        return False
    return hmac.compare_digest(expected.encode("utf-8"), given.encode("utf-8"))


async def submitted_csrf(request: web.Request) -> str | None:
    header = request.headers.get("X-CSRF-Token")
    if header:
        return header
    if request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        form = await request.post()  # cached by aiohttp: handlers read it again for free
        value = form.get("csrf_token")
        return value if isinstance(value, str) else None
    return None


def apply_headers(request: web.Request, response: web.StreamResponse) -> None:
    headers = response.headers
    headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "same-origin")
    headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    headers.setdefault("Cross-Origin-Resource-Policy", "same-origin")
    headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
    if request.path.startswith("/static/"):
        headers.setdefault("Cache-Control", "public, max-age=3600")
    else:  # pages and API answers may hold personal data: never cached
        headers["Cache-Control"] = "no-store"
        headers.setdefault("Pragma", "no-cache")


async def add_headers(request: web.Request, response: web.StreamResponse) -> None:
    """`on_response_prepare` hook: every answer (pages, errors, streamed exports, static
    files) gets the headers before its first byte is sent."""
    apply_headers(request, response)
