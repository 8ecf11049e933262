"""Who is asking: the session behind the cookie, login and logout, role checks.

Every route needs a live session except `PUBLIC_PATHS` and the static files. Without one an
HTML page answers 303 to the login page (remembering where to go back, same-site paths only)
and anything under /api/ answers 401 JSON. Every POST also needs the session's CSRF token
(security.py): without it, 403 before the handler runs.
"""
from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from functools import wraps
from urllib.parse import quote, urlsplit

from aiohttp import web

from supportbot.console.accounts.service import Accounts, LoginStatus, SessionView
from supportbot.console.web.render import render
from supportbot.console.web.security import (
    LOGIN_CSRF_COOKIE,
    SAFE_METHODS,
    new_token,
    submitted_csrf,
    tokens_match,
)

SESSION_COOKIE = "console_session"
PUBLIC_PATHS = frozenset({"/login", "/healthz"})
ACCOUNTS = web.AppKey("accounts", Accounts)
SECURE_COOKIES = web.AppKey("secure_cookies", bool)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def client_address(request: web.Request) -> str:
    """The peer's address (the console does not trust X-Forwarded-For: it is not behind a
    proxy it knows)."""
    return request.remote or "unknown"


def is_api(request: web.Request) -> bool:
    return request.path == "/api" or request.path.startswith("/api/")


def _json_error(status: type[web.HTTPException], message: str) -> web.HTTPException:
    return status(text=f'{{"error": "{message}"}}', content_type="application/json")


def safe_next(value: str | None) -> str:
    """A same-site path to go back to after login, never another site (`//evil`, `https:`)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return "/"
    return value


def forbidden(request: web.Request, message: str) -> web.HTTPException:
    if is_api(request):
        return _json_error(web.HTTPForbidden, message)
    response = render(request, "error.html", status=403, title="Not allowed", message=message)
    return web.HTTPForbidden(text=response.text, content_type="text/html")


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    accounts = request.app[ACCOUNTS]
    token = request.cookies.get(SESSION_COOKIE)
    session: SessionView | None = await asyncio.to_thread(accounts.session, token) if token else None
    request["console_session"] = session
    request["csrf_token"] = session.csrf_token if session else ""
    public = request.path in PUBLIC_PATHS or request.path.startswith("/static/")
    if session is None and not public:
        if is_api(request):
            raise _json_error(web.HTTPUnauthorized, "login required")
        target = request.path_qs if request.method == "GET" else "/"
        raise web.HTTPSeeOther(f"/login?next={quote(target, safe='')}")
    if request.method not in SAFE_METHODS:
        given = await submitted_csrf(request)
        if session is not None and request.path != "/login":
            expected = session.csrf_token
        else:  # the login form: double-submit cookie
            expected = request.cookies.get(LOGIN_CSRF_COOKIE)
        if not tokens_match(expected, given):
            raise forbidden(request, "The form was sent without a valid security token "
                                     "(CSRF). Reload the page and try again.")
    return await handler(request)


def requires(role: str) -> Callable[[Handler], Handler]:
    """Only users with `role` (leads may do everything, so `reviewer` admits both)."""

    def decorate(handler: Handler) -> Handler:
        @wraps(handler)
        async def checked(request: web.Request) -> web.StreamResponse:
            session: SessionView | None = request.get("console_session")
            if session is None:  # the middleware already sent anonymous users away
                raise _json_error(web.HTTPUnauthorized, "login required")
            if role == "lead" and session.user.role != "lead":
                raise forbidden(request, "Only a lead may do this.")
            return await handler(request)

        return checked

    return decorate


def current(request: web.Request) -> SessionView:
    session = request.get("console_session")
    assert session is not None
    return session


def _set_login_csrf(request: web.Request, response: web.StreamResponse, token: str) -> None:
    response.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="Strict", path="/login",
                        secure=request.app[SECURE_COOKIES], max_age=3600)


def _login_page(request: web.Request, *, status: int = 200, error: str = "",
                email: str = "") -> web.Response:
    token = request.cookies.get(LOGIN_CSRF_COOKIE) or new_token()
    response = render(request, "login.html", status=status, error=error, email=email,
                      next=safe_next(request.query.get("next")), csrf_token=token)
    _set_login_csrf(request, response, token)
    return response


async def login_form(request: web.Request) -> web.StreamResponse:
    if request.get("console_session") is not None:
        raise web.HTTPSeeOther(safe_next(request.query.get("next")))
    return _login_page(request)


async def login_submit(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    email = str(form.get("email", ""))[:254]
    password = str(form.get("password", ""))[:1024]
    target = safe_next(str(form.get("next", "")))
    result = await asyncio.to_thread(request.app[ACCOUNTS].login, email, password,
                                     client_address(request))
    if result.status is LoginStatus.throttled:
        minutes = max(1, (result.retry_after + 59) // 60)
        response = _login_page(request, status=429, email=email, error=(
            f"Too many failed attempts. Try again in {minutes} minute{'s' if minutes > 1 else ''}."))
        response.headers["Retry-After"] = str(result.retry_after)
        return response
    if result.status is not LoginStatus.ok or result.token is None:
        return _login_page(request, status=401, email=email, error="Wrong email or password.")
    response = web.HTTPSeeOther(target)
    response.set_cookie(SESSION_COOKIE, result.token, httponly=True, samesite="Lax", path="/",
                        secure=request.app[SECURE_COOKIES])
    response.del_cookie(LOGIN_CSRF_COOKIE, path="/login")
    raise response


async def logout(request: web.Request) -> web.StreamResponse:
    await asyncio.to_thread(request.app[ACCOUNTS].logout, request.cookies.get(SESSION_COOKIE))
    response = web.HTTPSeeOther("/login")
    response.del_cookie(SESSION_COOKIE, path="/")
    raise response
