"""`python -m supportbot.channels.email_bridge [serve|retry-spool|held|outbox]` (default: serve)."""
from __future__ import annotations

import argparse
import sys

from supportbot.channels.email_bridge.cli import register


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m supportbot.channels.email_bridge")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["email-bridge", *(sys.argv[1:] if argv is None else argv)])
    try:
        return int(args.handler(args) or 0)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
