"""The Alembic migration matches the tables; the `supportbot email-bridge` sub-commands."""
from __future__ import annotations

import importlib.util

from alembic.migration import MigrationContext
from alembic.operations import Operations
from email_helpers import make_mail
from sqlalchemy import inspect

from supportbot.channels.email_bridge import store
from supportbot.db.engine import make_engine, session_scope
from supportbot.db.migrate import MIGRATIONS_DIR
from supportbot.mail import OutboxMailer, build_message


def _schema(engine):
    insp = inspect(engine)
    out = {}
    for table in sorted(insp.get_table_names()):
        out[table] = {
            "columns": {c["name"]: (str(c["type"]).split("(")[0].replace("BLOB", "BINARY"), c["nullable"])
                        for c in insp.get_columns(table)},
            "pk": tuple(insp.get_pk_constraint(table)["constrained_columns"]),
            "indexes": sorted((i["name"], tuple(i["column_names"]), bool(i["unique"]))
                              for i in insp.get_indexes(table)),
            "unique": sorted(tuple(u["column_names"]) for u in insp.get_unique_constraints(table)),
            "fks": sorted((tuple(f["constrained_columns"]), f["referred_table"], f["options"].get("ondelete"))
                          for f in insp.get_foreign_keys(table)),
        }
    return out


MIGRATION = MIGRATIONS_DIR / "versions" / "0002_email_bridge.py"


def _run_migration(engine, action: str):
    spec = importlib.util.spec_from_file_location("email_bridge_migration", MIGRATION)
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    with engine.begin() as conn:
        ctx = MigrationContext.configure(conn)
        with Operations.context(ctx):
            getattr(migration, action)()


def test_migration_creates_exactly_the_tables_of_store(db_url, tmp_path):
    migrated = make_engine(db_url)
    created = make_engine(f"sqlite:///{tmp_path / 'created.db'}") if db_url.startswith("sqlite") else None
    _run_migration(migrated, "upgrade")
    if created is None:  # PostgreSQL: compare with create_all in a second fresh schema
        a = _schema(migrated)
        _run_migration(migrated, "downgrade")
        store.create_schema(migrated)
        b = _schema(migrated)
        store.metadata.drop_all(migrated)
        _run_migration(migrated, "upgrade")
    else:
        store.create_schema(created)
        a, b = _schema(migrated), _schema(created)
    for table in a:  # unique constraints show up as unique constraints or unique indexes
        a[table]["unique"] = sorted(set(a[table]["unique"]) | {i[1] for i in a[table]["indexes"] if i[2]})
        b[table]["unique"] = sorted(set(b[table]["unique"]) | {i[1] for i in b[table]["indexes"] if i[2]})
        a[table]["indexes"] = [i for i in a[table]["indexes"] if not i[2]]
        b[table]["indexes"] = [i for i in b[table]["indexes"] if not i[2]]
    assert a == b
    assert set(a) == {"email_conversations", "email_thread_ids", "email_inbound", "email_outbound"}
    _run_migration(migrated, "downgrade")
    assert inspect(migrated).get_table_names() == []


def test_migration_after_create_all_is_a_no_op(db_url):
    engine = make_engine(db_url)
    store.create_schema(engine)
    _run_migration(engine, "upgrade")  # tables exist: nothing to do, no error
    assert {"email_inbound", "email_outbound"} <= set(inspect(engine).get_table_names())


def test_cli_registers_email_bridge_actions():
    from supportbot.cli import build_parser

    parser = build_parser()
    assert parser.parse_args(["email-bridge"]).handler.__name__ == "_serve"
    args = parser.parse_args(["email-bridge", "serve", "--port", "2626", "--host", "0.0.0.0"])
    assert (args.handler.__name__, args.port, args.host) == ("_serve", 2626, "0.0.0.0")
    assert parser.parse_args(["email-bridge", "retry-spool", "--all"]).handler.__name__ == "_retry_spool"
    assert parser.parse_args(["email-bridge", "held"]).handler.__name__ == "_held"
    assert parser.parse_args(["email-bridge", "outbox", "-n", "3"]).handler.__name__ == "_outbox"


def test_outbox_command_prints_newest_messages_marked_development_only(tmp_path, monkeypatch, capsys):
    outbox = tmp_path / "outbox"
    monkeypatch.setenv("SUPPORTBOT_OUTBOX_DIR", str(outbox))
    monkeypatch.delenv("SUPPORTBOT_SMTP_HOST", raising=False)
    mailer = OutboxMailer(outbox)
    for i in range(3):
        mailer.send(build_message(f"user{i}@example.com", f"Your code {i}", f"Your one-time code is 12345{i}.",
                                  sender="Support <support@reseller.example>"))
    from supportbot.channels.email_bridge.__main__ import main

    assert main(["outbox", "-n", "2"]) == 0
    out = capsys.readouterr().out
    assert "DEVELOPMENT ONLY" in out and "NOT sent" in out
    assert "123452" in out and "123451" in out and "123450" not in out
    assert out.index("123451") < out.index("123452")  # newest last
    assert main(["outbox", "--to", "user0@example.com"]) == 0
    assert "123450" in capsys.readouterr().out


def test_held_command_lists_shows_and_requeues(make_bridge, engine, monkeypatch, capsys):
    bridge = make_bridge(rasa_url="http://127.0.0.1:9", rasa_retry_window=0)  # Rasa down, no retries -> held
    result = bridge.accept(bytes(make_mail("charged twice, card 4111 1111 1111 1111", subject="Question")),
                           "erin@example.com")
    assert bridge.process(result.inbound_id).status == "held"
    monkeypatch.setenv("SUPPORTBOT_DATABASE_URL", str(engine.url))
    from supportbot.cli import main

    assert main(["email-bridge", "held"]) == 0
    out = capsys.readouterr().out
    assert "rasa_unavailable" in out and "erin@example.com" in out
    assert main(["email-bridge", "held", "--show", str(result.inbound_id)]) == 0
    out = capsys.readouterr().out
    assert "charged twice, card **** **** **** 1111" in out and "4111 1111" not in out
    assert main(["email-bridge", "held", "--requeue", str(result.inbound_id)]) == 0
    with session_scope(engine) as s:
        assert store.get_inbound(s, result.inbound_id)["status"] == "received"
    assert main(["email-bridge", "held", "--requeue", str(result.inbound_id)]) == 1


def test_commands_without_tables_say_so(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SUPPORTBOT_DATABASE_URL", f"sqlite:///{tmp_path / 'empty.db'}")
    from supportbot.cli import main

    assert main(["email-bridge", "held"]) == 0
    assert main(["email-bridge", "retry-spool"]) == 0
    assert "do not exist yet" in capsys.readouterr().out


def test_the_bridge_never_sends_rasa_more_than_its_channels_accept(monkeypatch):
    from supportbot.channels.email_bridge.config import BridgeConfig
    from supportbot.channels.guard import MAX_MESSAGE_CHARS

    assert BridgeConfig.from_settings().max_chars == MAX_MESSAGE_CHARS
    monkeypatch.setenv("SUPPORTBOT_EMAIL_BRIDGE_MAX_CHARS", str(MAX_MESSAGE_CHARS * 3))
    assert BridgeConfig.from_settings().max_chars == MAX_MESSAGE_CHARS  # longer would get "too long"
    monkeypatch.setenv("SUPPORTBOT_EMAIL_BRIDGE_MAX_CHARS", "1000")
    assert BridgeConfig.from_settings().max_chars == 1000
