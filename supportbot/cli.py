"""The `supportbot` console command.

Each area registers its own sub-commands (a module with `register(subparsers)`), so this
file stays a dispatcher:
  supportbot db ...        supportbot.db.cli        (upgrade, demo, import)
  supportbot refund ...    supportbot.core.cli      (check)
  supportbot faq ...       supportbot.knowledge.cli (reindex, ask)
  supportbot run           supportbot.runtime.cli   (the supervised process group)
  supportbot email-bridge  supportbot.channels.email_bridge.cli
  supportbot web           supportbot.channels.web.cli
  supportbot review ...    supportbot.review.cli    (reindex, export, erase)
  supportbot users ...     supportbot.console.accounts.cli (review console accounts)
  supportbot console       supportbot.console.cli   (the review console)

Only the module of the chosen command is imported (`supportbot faq ask` never loads Rasa,
TensorFlow or the database layer); `supportbot --help` imports them all. A command module
that fails to import is never skipped silently: running its command prints the error with
its cause, and `--help` lists it as unavailable with the reason.

Exit codes: 0 ok, 1 a failure the command reports (user-facing errors), 2 usage or
operational errors (bad arguments, a database without tables or out of reach), 130 Ctrl-C.
"""
from __future__ import annotations

import argparse
import importlib
import sys
import traceback
from collections.abc import Iterable

from supportbot.core.errors import describe_error

# command -> the module that registers it (`register(subparsers)` adds exactly that command)
COMMANDS: dict[str, str] = {
    "db": "supportbot.db.cli",
    "refund": "supportbot.core.cli",
    "faq": "supportbot.knowledge.cli",
    "run": "supportbot.runtime.cli",
    "email-bridge": "supportbot.channels.email_bridge.cli",
    "web": "supportbot.channels.web.cli",
    "review": "supportbot.review.cli",
    "users": "supportbot.console.accounts.cli",
    "console": "supportbot.console.cli",
}
COMMAND_MODULES = tuple(COMMANDS.values())

EXIT_ERROR = 1
EXIT_USAGE = 2  # also operational errors: no tables, database unreachable
EXIT_INTERRUPTED = 130


def _register_unavailable(subparsers, command: str, module: str, exc: BaseException) -> None:
    """A placeholder for a command whose module does not import: running it reports why."""
    reason = describe_error(exc)
    parser = subparsers.add_parser(command, help=f"(unavailable: {reason})", add_help=False)
    parser.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    details = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))

    def _unavailable(_args) -> int:
        print(f"supportbot: error: the `{command}` commands are unavailable: importing {module} "
              f"failed: {reason}", file=sys.stderr)
        print(details, file=sys.stderr, end="")
        return EXIT_ERROR

    parser.set_defaults(handler=_unavailable)


class CommandParser(argparse.ArgumentParser):
    """The top-level parser; `unavailable` maps a command to the exception its module raised."""

    unavailable: dict[str, BaseException]


def build_parser(commands: Iterable[str] | None = None) -> CommandParser:
    """The argument parser with the given commands (default: all of them) registered.

    A command module that raises while importing (a missing dependency, a syntax error, a
    broken import inside the project) is registered as an "unavailable" placeholder that
    reports the error and its cause - it is never dropped silently."""
    parser = CommandParser(prog="supportbot", description=(__doc__ or "supportbot").splitlines()[0])
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    parser.unavailable = {}
    for command in (COMMANDS if commands is None else commands):
        module_name = COMMANDS[command]
        try:
            module = importlib.import_module(module_name)
        except Exception as exc:  # noqa: BLE001 - reported through the placeholder
            _register_unavailable(subparsers, command, module_name, exc)
            parser.unavailable[command] = exc
            continue
        module.register(subparsers)
    return parser


def _chosen_command(argv: list[str]) -> str | None:
    """The command named by argv when it is the first argument (the top-level parser has no
    options besides -h), else None (help, a typo: then every module is loaded)."""
    return argv[0] if argv and argv[0] in COMMANDS else None


# --- operational errors: a one-line message and exit code 2, for every command -----------
_MISSING_TABLE = ("no such table", "does not exist", "undefinedtable")
_MISSING_COLUMN = ("no such column", "undefinedcolumn", "has no column")


def _database_url(args) -> str:
    url = getattr(args, "url", None)
    if not url:
        try:
            from supportbot.settings import Settings

            url = Settings.from_env().database_url
        except Exception:  # noqa: BLE001 - only used for the message
            return "the database"
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001
        return "the database"


def operational_message(error: BaseException, args=None) -> str | None:
    """The one-line message for a known operational error (anywhere in the exception's cause
    chain), or None when `error` is not one."""
    sa_exc = sys.modules.get("sqlalchemy.exc")  # never imported here: no database, no error
    if sa_exc is None:
        return None
    seen = set()
    exc: BaseException | None = error
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, (sa_exc.OperationalError, sa_exc.ProgrammingError)):
            orig = getattr(exc, "orig", None) or exc
            first = (str(orig).strip().splitlines() or [type(orig).__name__])[0]
            low = f"{type(orig).__name__} {first}".lower()
            if any(s in low for s in _MISSING_TABLE) and ("table" in low or "relation" in low):
                return (f"the database {_database_url(args)} is missing tables ({first}): "
                        "run `supportbot db upgrade`")
            if any(s in low for s in _MISSING_COLUMN):
                return (f"the database schema of {_database_url(args)} is not up to date "
                        f"({first}): run `supportbot db upgrade`")
            if isinstance(exc, sa_exc.OperationalError):
                return f"cannot use the database {_database_url(args)}: {first}"
        exc = exc.__cause__ or exc.__context__
    return None


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = _chosen_command(argv)
    parser = build_parser(None if command is None else [command])
    if command is None:  # help or a usage error: every command is listed, broken ones too
        for name, exc in parser.unavailable.items():
            print(f"supportbot: warning: the `{name}` commands are unavailable: {describe_error(exc)}",
                  file=sys.stderr)
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return EXIT_USAGE
    try:
        return int(args.handler(args) or 0)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except Exception as exc:  # a clear message, not a traceback, for expected failures
        if getattr(exc, "user_facing", False):
            print(f"supportbot: error: {exc}", file=sys.stderr)
            return int(getattr(exc, "exit_code", EXIT_ERROR))
        message = operational_message(exc, args)
        if message is not None:
            print(f"supportbot: error: {message}", file=sys.stderr)
            return EXIT_USAGE
        raise


if __name__ == "__main__":
    sys.exit(main())
