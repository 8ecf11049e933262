"""`supportbot db ...`: upgrade (migrations), current, demo (demo data), import (JSON file)."""
from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the CLI imports SQLAlchemy only for the command that needs it
    from sqlalchemy.engine import Engine

from supportbot.core.errors import CoreError


class CliError(CoreError):
    """A problem the user can fix; printed without a traceback."""


def _url(args: argparse.Namespace) -> str:
    if args.url:
        return str(args.url)
    from supportbot.settings import Settings

    return Settings.from_env().database_url


def _engine(args: argparse.Namespace) -> Engine:
    from supportbot.db.engine import make_engine

    return make_engine(_url(args))


def cmd_upgrade(args: argparse.Namespace) -> int:
    from supportbot.db import migrate

    engine = _engine(args)
    try:
        before = migrate.current_revision(engine)
        migrate.upgrade(engine, args.revision)
        after = migrate.current_revision(engine)
    finally:
        engine.dispose()
    print(f"database at revision {after}" + (" (unchanged)" if before == after else
                                            f" (was {before or 'empty'})"))
    return 0


def cmd_current(args: argparse.Namespace) -> int:
    from supportbot.db import migrate

    engine = _engine(args)
    try:
        current = migrate.current_revision(engine)
    finally:
        engine.dispose()
    head = migrate.head_revision()
    print(f"current: {current or '(none)'}  head: {head}")
    return 0 if current == head else 1


def cmd_demo(args: argparse.Namespace) -> int:
    from supportbot.core.timeutil import parse_iso, utcnow
    from supportbot.db import migrate
    from supportbot.db.demo import load_demo

    try:
        now = parse_iso(args.now) if args.now else utcnow()
    except ValueError as exc:
        raise CliError(f"--now: {exc}") from exc
    if args.orders < 0:
        raise CliError("--orders must be >= 0")
    engine = _engine(args)
    try:
        migrate.upgrade(engine)  # the demo is a development tool: bring the schema up first
        try:
            summary = load_demo(engine, now=now, extra_orders=args.orders, seed=args.seed,
                                if_empty=args.if_empty)
        except ValueError as exc:
            raise CliError(str(exc)) from exc
    finally:
        engine.dispose()
    if summary.skipped:
        print("database is not empty; demo data not loaded (--if-empty)")
    else:
        print(f"demo data loaded (anchor {now.isoformat()}): {summary.clients} clients, "
              f"{summary.customers} customers, {summary.orders} orders")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from supportbot.db import migrate
    from supportbot.db.importer import import_file

    engine = _engine(args)
    try:
        if not migrate.is_up_to_date(engine):
            raise CliError("the database schema is not up to date; run `supportbot db upgrade`")
        summary = import_file(engine, args.file)
    finally:
        engine.dispose()
    print(f"imported {summary.clients} clients, {summary.customers} customers, "
          f"{summary.orders} orders, {summary.payments} payments ({summary.refunds} refunds), "
          f"{summary.subscriptions} subscriptions")
    return 0


def register(subparsers: Any) -> None:
    db = subparsers.add_parser("db", help="database: migrations, demo data, import")
    db_sub = db.add_subparsers(dest="db_command", metavar="DB_COMMAND")
    db.set_defaults(handler=lambda args: (db.print_help(), 2)[1])

    def common(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--url", help="database URL (default: SUPPORTBOT_DATABASE_URL)")

    upgrade = db_sub.add_parser("upgrade", help="apply the schema migrations (SQLite, PostgreSQL)")
    common(upgrade)
    upgrade.add_argument("--revision", default="head", help="target revision (default: head)")
    upgrade.set_defaults(handler=cmd_upgrade)

    current = db_sub.add_parser("current", help="show the schema revision (exit 1 if not head)")
    common(current)
    current.set_defaults(handler=cmd_current)

    demo = db_sub.add_parser("demo", help="load the deterministic demo data set")
    common(demo)
    demo.add_argument("--orders", type=int, default=40, metavar="N",
                      help="random-but-seeded extra orders besides the fixed records (default 40)")
    demo.add_argument("--now", metavar="ISO-8601",
                      help="anchor time, e.g. 2024-06-01T12:00:00Z (default: current UTC time)")
    demo.add_argument("--seed", type=int, default=20240601, help="seed of the extra orders")
    demo.add_argument("--if-empty", action="store_true",
                      help="do nothing when the database already holds clients or orders")
    demo.set_defaults(handler=cmd_demo)

    imp = db_sub.add_parser("import", help="import a JSON file (docs/data-import.md)")
    common(imp)
    imp.add_argument("file", metavar="FILE.json")
    imp.set_defaults(handler=cmd_import)


if __name__ == "__main__":  # pragma: no cover
    from supportbot.cli import main

    sys.exit(main(["db", *sys.argv[1:]]))
