"""`supportbot review reindex|export|erase`: the review index from the command line.

  reindex   advance the index from its watermark (the console does it every few seconds)
  export    --format csv|jsonl|nlu|stories with the console's filters (--channel, --refund,
            --text, ...; or --conversation ID ...), to --out FILE or stdout; audited
  erase     erase a conversation everywhere (tracker events, index, email copies); audited
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import fields
from typing import Any

from supportbot.review.errors import ReviewError

CLI_ACTOR = "cli"


class CliError(ReviewError):
    exit_code = 2


def _engine(args: argparse.Namespace) -> Any:
    from supportbot.db.engine import make_engine
    from supportbot.settings import Settings

    return make_engine(args.url or Settings.from_env().database_url)


def _actor(args: argparse.Namespace) -> str:
    import getpass

    return (args.actor or f"{CLI_ACTOR}:{getpass.getuser()}").strip()


def cmd_reindex(args: argparse.Namespace) -> int:
    from supportbot.review.indexer import Indexer

    if args.batch < 1:
        raise CliError("--batch must be at least 1")
    engine = _engine(args)
    try:
        run = Indexer(engine, batch=args.batch).run_once()
    finally:
        engine.dispose()
    print(f"indexed {run.events} events of {run.conversations} conversations in {run.batches} "
          f"batches; watermark {run.watermark}")
    return 0


def _filter_from_args(args: argparse.Namespace) -> Any:
    from supportbot.review.queries import ConversationFilter

    params = {f.name: getattr(args, f"f_{f.name}") for f in fields(ConversationFilter)
              if getattr(args, f"f_{f.name}", None) is not None}
    return ConversationFilter.from_params(params)


def cmd_export(args: argparse.Namespace) -> int:
    from supportbot.db.engine import session_scope
    from supportbot.review.exports import export

    flt = _filter_from_args(args)
    engine = _engine(args)
    out = open(args.out, "w", encoding="utf-8", newline="") if args.out else sys.stdout
    try:
        with session_scope(engine) as session:
            n = export(session, args.format, flt, out, _actor(args),
                       conversation_ids=args.conversation or None)
    finally:
        if args.out:
            out.close()
        engine.dispose()
    what = {"csv": "conversations", "jsonl": "events", "nlu": "examples", "stories": "stories"}
    print(f"exported {n} {what[args.format]}" + (f" to {args.out}" if args.out else ""),
          file=sys.stderr)
    return 0


def cmd_erase(args: argparse.Namespace) -> int:
    from supportbot.db.engine import session_scope
    from supportbot.review.erasure import erase_conversation

    if not args.yes:
        raise CliError("erasing cannot be undone: add --yes to confirm")
    engine = _engine(args)
    try:
        with session_scope(engine) as session:
            result = erase_conversation(session, args.conversation_id, _actor(args))
    finally:
        engine.dispose()
    if not result.anything:
        print(f"nothing stored for {args.conversation_id}; the request is in the audit log")
        return 1
    print(f"erased {args.conversation_id}: {result.events} events, {result.index_rows} index rows, "
          f"{result.email_rows} email rows, {result.tickets} ticket transcripts")
    return 0


def register(subparsers: Any) -> None:
    from supportbot.review.vocabulary import EXPORT_FORMATS

    review = subparsers.add_parser("review", help="review index: reindex, export, erase")
    sub = review.add_subparsers(dest="review_command", metavar="REVIEW_COMMAND")
    review.set_defaults(handler=lambda args: (review.print_help(), 2)[1])

    def common(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--url", help="database URL (default: SUPPORTBOT_DATABASE_URL)")

    reindex = sub.add_parser("reindex", help="advance the index from its watermark")
    common(reindex)
    reindex.add_argument("--batch", type=int, default=5000, help="events per transaction")
    reindex.set_defaults(handler=cmd_reindex)

    exp = sub.add_parser("export", help="export conversations (csv, jsonl, nlu, stories)")
    common(exp)
    exp.add_argument("--format", required=True, choices=EXPORT_FORMATS)
    exp.add_argument("--out", metavar="FILE", help="write here (default: stdout)")
    exp.add_argument("--actor", help="who exports, for the audit log (default: cli:<user>)")
    exp.add_argument("--conversation", action="append", metavar="ID",
                     help="export this conversation (repeatable) instead of the filter's")
    group = exp.add_argument_group("filters (as in the console's URL)")
    for name in ("date_from", "date_to", "channel", "intent", "action", "confidence_min",
                 "confidence_max", "had_fallback", "handed_off", "team", "reason", "refund",
                 "verified", "tag", "review_status", "text", "sort", "descending"):
        group.add_argument(f"--{name.replace('_', '-')}", dest=f"f_{name}", metavar="VALUE")
    exp.set_defaults(handler=cmd_export)

    erase = sub.add_parser("erase", help="erase a conversation (events, index, email copies)")
    common(erase)
    erase.add_argument("conversation_id")
    erase.add_argument("--actor", help="who erases, for the audit log (default: cli:<user>)")
    erase.add_argument("--yes", action="store_true", help="confirm: erasing cannot be undone")
    erase.set_defaults(handler=cmd_erase)

    from supportbot.analytics.cli import register_report  # issue 16: `review report`

    register_report(sub, common)


if __name__ == "__main__":  # pragma: no cover
    from supportbot.cli import main

    sys.exit(main(["review", *sys.argv[1:]]))
