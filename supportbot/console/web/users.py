"""User management pages (leads only): list, add (with a password the lead hands over),
disable and enable. The CLI (`supportbot users`) does the same from a terminal."""
from __future__ import annotations

import asyncio

from aiohttp import web

from supportbot.console.accounts.roles import ROLES
from supportbot.console.accounts.service import AccountError
from supportbot.console.web.auth import ACCOUNTS, current, requires
from supportbot.console.web.render import render


async def _page(request: web.Request, *, status: int = 200, error: str = "",
                email: str = "", role: str = "reviewer") -> web.Response:
    users = await asyncio.to_thread(request.app[ACCOUNTS].list_users)
    return render(request, "users.html", status=status, users=users, roles=ROLES, error=error,
                  form_email=email, form_role=role, title="Users")


@requires("lead")
async def users_page(request: web.Request) -> web.StreamResponse:
    return await _page(request)


@requires("lead")
async def add_user(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    email, role = str(form.get("email", "")), str(form.get("role", ""))
    password = str(form.get("password", ""))
    try:
        await asyncio.to_thread(request.app[ACCOUNTS].add_user, email, role, password)
    except AccountError as exc:
        return await _page(request, status=400, error=str(exc), email=email, role=role)
    raise web.HTTPSeeOther("/users?done=added")


@requires("lead")
async def set_disabled(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    email = str(form.get("email", ""))
    disable = request.match_info["action"] == "disable"
    if disable and email.strip().lower() == current(request).user.email:
        return await _page(request, status=400, error="You cannot disable your own account.")
    try:
        await asyncio.to_thread(request.app[ACCOUNTS].set_disabled, email, disable)
    except AccountError as exc:
        return await _page(request, status=400, error=str(exc))
    raise web.HTTPSeeOther(f"/users?done={'disabled' if disable else 'enabled'}")
