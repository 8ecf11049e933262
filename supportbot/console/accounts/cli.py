"""`supportbot users add|list|disable|enable|password`: the review console's accounts.

The password is read from a prompt (typed twice) or, with `--password-stdin`, from the first
line of standard input; never from the command line (argv is visible to every local user).
"""
from __future__ import annotations

import getpass
import sys

from supportbot.console.accounts.roles import ROLES


def _accounts(args):
    from supportbot.console.accounts.service import Accounts
    from supportbot.db.engine import get_engine

    return Accounts(get_engine(args.url))


def read_password(from_stdin: bool) -> str:
    from supportbot.console.accounts.service import AccountError

    if from_stdin:
        line = sys.stdin.readline()
        password = line.rstrip("\r\n")
    else:
        password = getpass.getpass("Password: ")
        if getpass.getpass("Password again: ") != password:
            raise AccountError("the two passwords differ")
    if not password:
        raise AccountError("no password given")
    return password


def _add(args) -> int:
    user = _accounts(args).add_user(args.email, args.role, read_password(args.password_stdin))
    print(f"console user {user.email} added (role {user.role})")
    return 0


def _list(args) -> int:
    users = _accounts(args).list_users()
    if not users:
        print("no console users yet: supportbot users add EMAIL --role lead|reviewer")
        return 0
    for u in users:
        last = u.last_login_at.isoformat(timespec="seconds") if u.last_login_at else "never"
        state = "disabled" if u.disabled else "active"
        print(f"{u.email:40} {u.role:9} {state:9} last login {last}")
    return 0


def _disable(args) -> int:
    user = _accounts(args).set_disabled(args.email, True)
    print(f"console user {user.email} disabled; their sessions are ended")
    return 0


def _enable(args) -> int:
    user = _accounts(args).set_disabled(args.email, False)
    print(f"console user {user.email} enabled")
    return 0


def _password(args) -> int:
    user = _accounts(args).set_password(args.email, read_password(args.password_stdin))
    print(f"password of {user.email} changed; their sessions are ended")
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser("users", help="review console accounts (add, list, disable)")
    parser.add_argument("--url", help="database URL (default: SUPPORTBOT_DATABASE_URL)")
    sub = parser.add_subparsers(dest="users_command", metavar="ACTION", required=True)
    add = sub.add_parser("add", help="add a console user (password from a prompt or stdin)")
    add.add_argument("email")
    add.add_argument("--role", choices=ROLES, required=True)
    add.add_argument("--password-stdin", action="store_true",
                     help="read the password from the first line of standard input")
    add.set_defaults(handler=_add)
    sub.add_parser("list", help="list console users").set_defaults(handler=_list)
    disable = sub.add_parser("disable", help="disable a user and end their sessions")
    disable.add_argument("email")
    disable.set_defaults(handler=_disable)
    enable = sub.add_parser("enable", help="enable a disabled user again")
    enable.add_argument("email")
    enable.set_defaults(handler=_enable)
    password = sub.add_parser("password", help="set a new password (prompt or stdin)")
    password.add_argument("email")
    password.add_argument("--password-stdin", action="store_true")
    password.set_defaults(handler=_password)
