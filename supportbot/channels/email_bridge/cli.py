"""`supportbot email-bridge [serve|retry-spool|held|outbox]` (serve is the default)."""
from __future__ import annotations

import logging
import sys
from email import policy
from email.parser import BytesParser
from pathlib import Path


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "email-bridge", help="email-to-chat bridge: SMTP listener -> Rasa -> threaded replies",
        description="Email-to-chat bridge. Without an action: serve.")
    parser.set_defaults(handler=_serve, host=None, port=None)
    actions = parser.add_subparsers(dest="email_action", metavar="ACTION")

    serve = actions.add_parser("serve", help="run the SMTP listener, the worker and the reply spool (default)")
    serve.add_argument("--host", help="listen address (default SUPPORTBOT_EMAIL_BRIDGE_HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, help="listen port (default SUPPORTBOT_EMAIL_BRIDGE_PORT or 2525)")
    serve.set_defaults(handler=_serve)

    retry = actions.add_parser("retry-spool", help="send the spooled replies that are due now")
    retry.add_argument("--all", action="store_true", help="ignore the backoff schedule: try every pending reply")
    retry.add_argument("--include-failed", action="store_true",
                       help="also re-arm replies that gave up after the last attempt")
    retry.set_defaults(handler=_retry_spool)

    held = actions.add_parser("held", help="list mail kept for a person (held inbound, undeliverable replies)")
    held.add_argument("--show", type=int, metavar="ID", help="print one held message (card numbers masked)")
    held.add_argument("--requeue", type=int, metavar="ID",
                      help="process a held message again (e.g. after Rasa was down)")
    held.add_argument("--limit", type=int, default=50)
    held.set_defaults(handler=_held)

    outbox = actions.add_parser("outbox", help="DEVELOPMENT ONLY: print the newest mails of the local outbox")
    outbox.add_argument("-n", "--limit", type=int, default=5, help="how many messages (default 5)")
    outbox.add_argument("--to", help="only messages to this address")
    outbox.add_argument("--dir", type=Path, help="outbox folder (default SUPPORTBOT_OUTBOX_DIR or var/outbox)")
    outbox.set_defaults(handler=_outbox)


def _configure_logging() -> None:
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd's per-connection chatter


def _serve(args) -> int:
    from supportbot.channels.email_bridge.bridge import bridge_from_settings
    from supportbot.channels.email_bridge.server import BridgeServer, serve_forever
    from supportbot.db import migrate
    from supportbot.mail import OutboxMailer
    from supportbot.settings import Settings

    _configure_logging()
    log = logging.getLogger("supportbot.email_bridge")
    settings = Settings.from_env()
    bridge = bridge_from_settings(settings)
    if not migrate.is_up_to_date(bridge.engine):
        log.error("the database %s is not migrated: run `supportbot db upgrade` first",
                  settings.database_url)
        return 1
    if isinstance(bridge.mailer, OutboxMailer):
        log.warning("DEVELOPMENT ONLY: no SMTP relay configured (SUPPORTBOT_SMTP_HOST); replies are written "
                    "to the local outbox %s and NOT sent", settings.outbox_dir)
    else:
        log.info("replies go through the SMTP relay %s:%d (tls=%s)", settings.smtp_host, settings.smtp_port,
                 settings.smtp_tls)
    server = BridgeServer(bridge, host=args.host, port=args.port)
    return serve_forever(server)


def _engine_with_tables():
    from sqlalchemy import inspect

    from supportbot.channels.email_bridge import store
    from supportbot.db.engine import get_engine
    from supportbot.settings import Settings

    engine = get_engine(Settings.from_env().database_url)
    existing = set(inspect(engine).get_table_names())
    if not all(t.name in existing for t in store.TABLES):
        return None
    return engine


def _retry_spool(args) -> int:
    from supportbot.channels.email_bridge import store
    from supportbot.channels.email_bridge.bridge import bridge_from_settings
    from supportbot.db.engine import session_scope

    _configure_logging()
    if _engine_with_tables() is None:
        print("email bridge tables do not exist yet: nothing spooled")
        return 0
    bridge = bridge_from_settings()
    run = bridge.spool.retry_due(force=args.all, include_failed=args.include_failed)
    with session_scope(bridge.engine) as session:
        counts = store.spool_counts(session)
    print(f"sent {run.sent}, still failing {run.failed}, gave up {run.gave_up}; spool now: "
          + ", ".join(f"{k}={v}" for k, v in sorted(counts.items())) if counts else
          f"sent {run.sent}, still failing {run.failed}, gave up {run.gave_up}; spool empty")
    return 1 if run.failed or run.gave_up else 0


def _held(args) -> int:
    from supportbot.channels.email_bridge import store
    from supportbot.channels.email_bridge.parsing import UnparseableEmail, parse_email
    from supportbot.db.engine import session_scope

    engine = _engine_with_tables()
    if engine is None:
        print("email bridge tables do not exist yet: nothing held")
        return 0
    if args.requeue is not None:
        with session_scope(engine) as session:
            ok = store.requeue_inbound(session, args.requeue)
        print(f"message {args.requeue} re-queued; the running bridge processes it within seconds"
              if ok else f"message {args.requeue} is not held")
        return 0 if ok else 1
    if args.show is not None:
        with session_scope(engine) as session:
            row = store.get_inbound(session, args.show)
        if row is None:
            print(f"no inbound message {args.show}", file=sys.stderr)
            return 1
        print(f"id {row['id']}  status {row['status']} ({row['status_reason'] or '-'})  "
              f"received {row['received_at']:%Y-%m-%d %H:%M} UTC  conversation {row['conversation_id'] or '-'}")
        print(f"From: {row['from_address']}\nSubject: {row['subject']}\nMessage-ID: {row['message_id']}")
        try:
            parsed = parse_email(row["raw"])
            print(f"Attachments: {', '.join(parsed.attachments) or '-'}\n")
            print(parsed.text)
        except UnparseableEmail as exc:
            print(f"(unparseable: {exc}; raw message follows)\n")
            print(row["raw"].decode("utf-8", "replace"))
        return 0
    with session_scope(engine) as session:
        held = store.held_inbound(session, args.limit)
        failed = store.failed_outbound(session, args.limit)
    if not held and not failed:
        print("nothing held")
        return 0
    if held:
        print(f"Inbound mail held for a person ({len(held)}):")
        for r in held:
            subject = (r["subject"] or "")[:60]
            print(f"  #{r['id']:<6} {r['received_at']:%Y-%m-%d %H:%M}  {r['status_reason'] or '-':<17} "
                  f"{r['from_address'] or '-':<32} {subject}")
        print("  (details: supportbot email-bridge held --show ID; again: --requeue ID)")
    if failed:
        print(f"Replies the relay never accepted ({len(failed)}):")
        for r in failed:
            print(f"  out#{r['id']:<4} {r['created_at']:%Y-%m-%d %H:%M}  {r['kind']:<9} to {r['to_address']}  "
                  f"attempts {r['attempts']}  last error: {(r['last_error'] or '-')[:80]}")
        print("  (retry: supportbot email-bridge retry-spool --include-failed)")
    return 0


def _outbox(args) -> int:
    from supportbot.channels.email_bridge.parsing import html_to_text
    from supportbot.settings import Settings

    settings = Settings.from_env()
    directory = args.dir or settings.outbox_dir
    print(f"=== DEVELOPMENT ONLY: local outbox {directory} -- these messages were NOT sent ===")
    if settings.smtp_host:
        print(f"(an SMTP relay is configured, {settings.smtp_host}:{settings.smtp_port}: "
              "outgoing mail goes there, not to this outbox)")
    files = list(Path(directory).glob("*.eml")) if Path(directory).is_dir() else []
    # file names have a one-second timestamp: order by modification time, then name
    def _mtime(path: Path) -> int:
        try:
            return path.stat().st_mtime_ns
        except OSError:
            return 0

    files.sort(key=lambda p: (_mtime(p), p.name))
    parser = BytesParser(policy=policy.default)
    chosen = []
    for path in reversed(files):
        if len(chosen) >= args.limit:
            break
        try:
            message = parser.parsebytes(path.read_bytes())
        except OSError:
            continue
        if args.to and args.to.lower() not in str(message.get("To", "")).lower():
            continue
        chosen.append((path, message))
    if not chosen:
        print("(no messages)")
        return 0
    for path, message in reversed(chosen):  # newest last, next to the prompt
        print(f"\n--- {path.name}")
        for name in ("Date", "From", "To", "Subject", "In-Reply-To"):
            if message.get(name):
                print(f"{name}: {message[name]}")
        body = message.get_body(preferencelist=("plain", "html"))
        text = ""
        if body is not None:
            text = body.get_content()
            if body.get_content_type() == "text/html":
                text = html_to_text(text)
        print()
        print(text.rstrip())
    print(f"\n=== end of outbox ({len(chosen)} of {len(files)} message(s), newest last) ===")
    return 0
