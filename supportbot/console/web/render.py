"""Jinja2 templates (autoescaped) rendered into aiohttp responses."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from supportbot.core.vocabulary import format_money

TEMPLATES = Path(__file__).resolve().parent / "templates"


def _money(amount_minor: int | None, currency: str | None) -> str:
    if amount_minor is None:
        return "-"
    try:
        return format_money(int(amount_minor), currency or "EUR")
    except Exception:  # noqa: BLE001 - an unknown currency still shows the number
        return f"{amount_minor} {currency or ''}".strip()


def _when(value: Any) -> str:
    if value is None or value == "":
        return "-"
    if hasattr(value, "strftime"):
        return value.strftime("%Y-%m-%d %H:%M:%S UTC")
    return str(value)


def _percent(value: Any) -> str:
    if value is None:
        return "-"
    return f"{float(value) * 100:.0f}%"


@lru_cache(maxsize=1)
def environment() -> Environment:
    env = Environment(loader=FileSystemLoader(str(TEMPLATES)),
                      autoescape=select_autoescape(["html", "xml"], default=True),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["money"] = _money
    env.filters["when"] = _when
    env.filters["percent"] = _percent
    env.filters["urlencode_pairs"] = lambda pairs: urlencode(list(pairs))
    return env


def render(request: web.Request, template: str, status: int = 200, **context: Any) -> web.Response:
    session = request.get("console_session")
    context.setdefault("user", session.user if session else None)
    context.setdefault("csrf_token", request.get("csrf_token", ""))
    context.setdefault("path", request.path)
    context.setdefault("flash", request.query.get("done", ""))
    html = environment().get_template(template).render(**context)
    return web.Response(text=html, status=status, content_type="text/html", charset="utf-8")
