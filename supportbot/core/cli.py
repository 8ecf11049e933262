"""`supportbot refund check`: print a refund decision without issuing anything."""
from __future__ import annotations

import argparse
import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the CLI imports SQLAlchemy only for the command that needs it
    from sqlalchemy.engine import Engine

from supportbot.core.errors import CoreError


class CliError(CoreError):
    pass


class UsageError(CliError):
    """Arguments that cannot describe a real situation (exit code 2, like argparse errors)."""

    exit_code = 2


def decide_for(engine: Engine, reference: str, email: str, *, at: datetime | None = None,
               reason: str = "other", amount: str | None = None, vat_refund: bool = False) -> dict[str, Any]:
    """The decision for an order whose reference AND email match, as a JSON-ready dict."""
    from supportbot.core.orders import client_policy, load_order, order_facts
    from supportbot.core.refund_policy import RequestedRefund, decide
    from supportbot.core.timeutil import as_utc, utcnow
    from supportbot.core.vocabulary import format_money, normalize_email, normalize_reference, parse_money
    from supportbot.db.engine import session_scope

    ref, email_n = normalize_reference(reference), normalize_email(email)
    if not ref or not email_n:
        raise CliError("--order must be a 9-digit reference and --email an email address")
    with session_scope(engine) as session:
        order = load_order(session, ref)
        if order is None or order.customer.email.strip().lower() != email_n:
            raise CliError("no order matches this reference and email address")
        try:
            amount_minor = parse_money(amount, order.currency) if amount is not None else None
            requested = RequestedRefund(reason=reason, amount_minor=amount_minor,
                                        vat_refund=vat_refund)
        except ValueError as exc:
            raise CliError(str(exc)) from exc
        placed_at = as_utc(order.placed_at, name="placed_at")
        if at is not None and at < placed_at:
            raise UsageError(
                f"--at {at.isoformat()} is before order {ref} was placed ({placed_at.isoformat()}):"
                " a refund decision needs a time at or after the purchase")
        now = at or utcnow()
        decision = decide(order_facts(order), requested, client_policy(order.client), now)
    return {
        "reference": ref,
        "at": now.isoformat(),
        "automatic": decision.automatic,
        "outcome": decision.outcome,
        "team": decision.team,
        "reasons": list(decision.reasons),
        "handoff_reason": decision.handoff_reason,
        "alternatives": list(decision.alternatives),
        "amount_minor": decision.amount_minor,
        "amount": format_money(decision.amount_minor, decision.currency),
        "currency": decision.currency,
        "explanation": decision.explanation,
    }


def cmd_check(args: argparse.Namespace) -> int:
    from supportbot.core.timeutil import parse_iso
    from supportbot.db.engine import make_engine
    from supportbot.settings import Settings

    try:
        at = parse_iso(args.at) if args.at else None
    except ValueError as exc:
        raise CliError(f"--at: {exc}") from exc
    engine = make_engine(args.url or Settings.from_env().database_url)
    try:
        result = decide_for(engine, args.order, args.email, at=at, reason=args.reason,
                            amount=args.amount, vat_refund=args.vat)
    finally:
        engine.dispose()
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        verdict = "AUTOMATIC REFUND" if result["automatic"] else (
            f"{result['outcome'].upper()}" + (f" -> {result['team']}" if result["team"] else ""))
        print(f"order {result['reference']} at {result['at']}: {verdict}")
        if result["reasons"]:
            print("reasons: " + ", ".join(result["reasons"]))
        print(result["explanation"])
    return 0


def register(subparsers: Any) -> None:
    from supportbot.core.vocabulary import REFUND_REASONS, VAT_REFUND_REASON

    refund = subparsers.add_parser("refund", help="refund rules")
    refund_sub = refund.add_subparsers(dest="refund_command", metavar="REFUND_COMMAND")
    refund.set_defaults(handler=lambda args: (refund.print_help(), 2)[1])
    check = refund_sub.add_parser("check", help="print the refund decision for an order "
                                                "(issues nothing)")
    check.add_argument("--order", required=True, metavar="REF", help="9-digit order reference")
    check.add_argument("--email", required=True, help="the order's email address")
    check.add_argument("--at", metavar="ISO-8601", help="decide as of this time (default: now)")
    check.add_argument("--reason", default="other",
                       choices=list(REFUND_REASONS) + [VAT_REFUND_REASON])
    check.add_argument("--amount", metavar="X", help="amount in the order currency, e.g. 12.50 "
                                                     "(default: the full amount)")
    check.add_argument("--vat", action="store_true", help="a refund of the VAT only")
    check.add_argument("--json", action="store_true", help="machine-readable output")
    check.add_argument("--url", help="database URL (default: SUPPORTBOT_DATABASE_URL)")
    check.set_defaults(handler=cmd_check)
