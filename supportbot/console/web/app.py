"""The console's aiohttp application.

`create_app(engine)` builds it for a migrated database; `supportbot console` serves it
(supportbot/console/cli.py) and runs the review indexer beside it.
"""
from __future__ import annotations

from pathlib import Path

from aiohttp import web
from sqlalchemy.engine import Engine

from supportbot.console.accounts.service import Accounts
from supportbot.console.web import auth, users
from supportbot.console.web.render import render
from supportbot.console.web.security import add_headers

STATIC = Path(__file__).resolve().parent / "static"
ENGINE = web.AppKey("engine", Engine)


async def healthz(_request: web.Request) -> web.Response:
    return web.Response(text="ok")


async def home(_request: web.Request) -> web.StreamResponse:
    raise web.HTTPSeeOther("/conversations")


async def api_me(request: web.Request) -> web.Response:
    user = auth.current(request).user
    return web.json_response({"email": user.email, "role": user.role})


async def not_found(request: web.Request) -> web.Response:
    return render(request, "error.html", status=404, title="Not found",
                  message="There is no such page.")


@web.middleware
async def not_found_middleware(request: web.Request, handler):
    try:
        return await handler(request)
    except web.HTTPNotFound:
        if auth.is_api(request) or request.path.startswith("/static/"):
            raise
        return await not_found(request)


def create_app(engine: Engine, *, secure_cookies: bool = False, accounts: Accounts | None = None,
               with_review: bool = True) -> web.Application:
    app = web.Application(middlewares=[auth.auth_middleware, not_found_middleware],
                          client_max_size=2 * 1024 * 1024)
    app.on_response_prepare.append(add_headers)
    app[ENGINE] = engine
    app[auth.ACCOUNTS] = accounts or Accounts(engine)
    app[auth.SECURE_COOKIES] = secure_cookies
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/login", auth.login_form)
    app.router.add_post("/login", auth.login_submit)
    app.router.add_post("/logout", auth.logout)
    app.router.add_get("/", home)
    app.router.add_get("/api/me", api_me)
    app.router.add_get("/users", users.users_page)
    app.router.add_post("/users", users.add_user)
    app.router.add_post(r"/users/{action:disable|enable}", users.set_disabled)
    app.router.add_static("/static/", STATIC, show_index=False, follow_symlinks=False)
    if with_review:
        from supportbot.console.web import review_pages

        review_pages.add_routes(app)
    return app
