"""The `supportbot` console command.

Each area registers its own sub-commands (a module with `register(subparsers)`), so this
file stays a dispatcher:
  supportbot db ...        supportbot.db.cli        (upgrade, demo, import)
  supportbot refund ...    supportbot.core.cli      (check)
  supportbot faq ...       supportbot.knowledge.cli (reindex, ask)
  supportbot run           supportbot.runtime.cli   (the supervised process group)
  supportbot email-bridge  supportbot.channels.email_bridge.cli
  supportbot web           supportbot.channels.web.cli
"""
from __future__ import annotations

import argparse
import importlib
import sys

COMMAND_MODULES = (
    "supportbot.db.cli",
    "supportbot.core.cli",
    "supportbot.knowledge.cli",
    "supportbot.runtime.cli",
    "supportbot.channels.email_bridge.cli",
    "supportbot.channels.web.cli",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="supportbot", description=__doc__.splitlines()[0])
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name and name.startswith(exc.name):
                continue  # that area is not built yet
            raise
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    try:
        return int(args.handler(args) or 0)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a clear message, not a traceback, for expected failures
        if getattr(exc, "user_facing", False):
            print(f"supportbot: error: {exc}", file=sys.stderr)
            return 1
        raise


if __name__ == "__main__":
    sys.exit(main())
