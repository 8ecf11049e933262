"""`supportbot console [--host H] [--port P]`: the review console for support leads.

Serves the web app (supportbot/console/web/) on 127.0.0.1:8090 by default
(SUPPORTBOT_CONSOLE_HOST / SUPPORTBOT_CONSOLE_PORT) and runs the review indexer beside it every
`--index-every` seconds (supportbot.review.indexer), so new conversations show up while it runs.
GET /healthz answers "ok" for the supervisor of `supportbot run`.

With no console user yet it prints how to create one. Under `make run`
(SUPPORTBOT_DEV_LEAD=1) it creates a development lead account `DEV_LEAD_EMAIL` with a random
password printed once, marked DEVELOPMENT ONLY; it never does so when any user exists.
"""
from __future__ import annotations

import asyncio
import logging
import os
import secrets
import sys

DEV_LEAD_ENV = "SUPPORTBOT_DEV_LEAD"
DEV_LEAD_EMAIL = "lead@example.com"
log = logging.getLogger("supportbot.console")


def ensure_first_user(accounts, *, dev_lead: bool, out=sys.stdout) -> str | None:
    """Print how to add the first user; under `make run` create the development lead.
    Returns the development password when one was created."""
    if accounts.count_users() > 0:
        if dev_lead and any(user.email == DEV_LEAD_EMAIL for user in accounts.list_users()):
            print(f"supportbot console: DEVELOPMENT ONLY - the lead account {DEV_LEAD_EMAIL} exists (its "
                  "password was shown when it was created; a new one: `supportbot users password "
                  f"{DEV_LEAD_EMAIL}`)", file=out, flush=True)
        return None
    if not dev_lead:
        print("supportbot console: no console user yet. Create one with\n"
              "  supportbot users add EMAIL --role lead|reviewer\n"
              "(the password is asked for, or read from stdin with --password-stdin)",
              file=out, flush=True)
        return None
    password = secrets.token_urlsafe(12)
    accounts.add_user(DEV_LEAD_EMAIL, "lead", password)
    print("supportbot console: DEVELOPMENT ONLY - created the lead account\n"
          f"  email:    {DEV_LEAD_EMAIL}\n  password: {password}\n"
          "  (shown once; disable it with `supportbot users disable "
          f"{DEV_LEAD_EMAIL}` before real data is in the database)", file=out, flush=True)
    return password


def _load_indexer(engine):
    """The review index's incremental indexer, or None when the review package is absent."""
    try:
        from supportbot.review.indexer import Indexer
    except ImportError as exc:
        log.warning("review indexer unavailable: %s", exc)
        return None
    return Indexer(engine)


def _load_outcome_indexer(engine):
    """The outcome analytics' indexer (supportbot/analytics), or None when it is absent."""
    try:
        from supportbot.analytics.outcomes import OutcomeIndexer
    except ImportError as exc:
        log.warning("outcome indexer unavailable: %s", exc)
        return None
    return OutcomeIndexer(engine)


PURGE_EVERY = 300.0  # seconds between removals of expired sessions and old login attempts


async def background(engine, accounts, every: float) -> None:
    """Index new conversations every `every` seconds (0: never); purge expired sessions."""
    indexer = _load_indexer(engine) if every > 0 else None
    outcomes = _load_outcome_indexer(engine) if indexer is not None else None
    step = every if indexer is not None else PURGE_EVERY
    last_purge = 0.0
    loop = asyncio.get_running_loop()
    while True:
        if indexer is not None:
            try:
                run = await asyncio.to_thread(indexer.run_once)
                if getattr(run, "events", 0):
                    log.info("indexed %s events of %s conversations", run.events, run.conversations)
            except Exception:  # noqa: BLE001 - the next round tries again; the console stays up
                log.exception("review indexing failed")
        if outcomes is not None:  # after the review index: outcomes are derived from it
            try:
                await asyncio.to_thread(outcomes.run_once)
            except Exception:  # noqa: BLE001 - the next round tries again
                log.exception("outcome indexing failed")
        if loop.time() - last_purge >= PURGE_EVERY:
            last_purge = loop.time()
            try:
                await asyncio.to_thread(accounts.purge)
            except Exception:  # noqa: BLE001
                log.exception("purging expired console sessions failed")
        await asyncio.sleep(step)


def _serve(args) -> int:
    from aiohttp import web

    from supportbot.console.accounts.service import Accounts
    from supportbot.console.web.app import create_app
    from supportbot.db.engine import get_engine
    from supportbot.settings import Settings

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = Settings.from_env()
    engine = get_engine(args.url or settings.database_url)
    accounts = Accounts(engine)
    ensure_first_user(accounts, dev_lead=os.environ.get(DEV_LEAD_ENV) == "1")
    app = create_app(engine, secure_cookies=args.secure_cookies, accounts=accounts)

    background_task = web.AppKey("background_task", asyncio.Task)

    async def start_background(application: web.Application) -> None:
        application[background_task] = asyncio.create_task(
            background(engine, accounts, args.index_every))

    async def stop_background(application: web.Application) -> None:
        task = application.get(background_task)
        if task is not None:
            task.cancel()

    app.on_startup.append(start_background)
    app.on_cleanup.append(stop_background)
    host = args.host or settings.console_host
    port = args.port or settings.console_port
    print(f"supportbot console: http://{host}:{port}/", flush=True)
    web.run_app(app, host=host, port=port, print=None, access_log=None)
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser("console", help="the review console for support leads (web)")
    parser.add_argument("--host", help="interface (default SUPPORTBOT_CONSOLE_HOST or 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port (default SUPPORTBOT_CONSOLE_PORT or 8090)")
    parser.add_argument("--url", help="database URL (default: SUPPORTBOT_DATABASE_URL)")
    parser.add_argument("--index-every", type=float, default=5.0, metavar="SECONDS",
                        help="run the review indexer this often (0: never)")
    parser.add_argument("--secure-cookies", action="store_true",
                        help="mark cookies Secure (when served over HTTPS by a proxy)")
    parser.set_defaults(handler=_serve)
