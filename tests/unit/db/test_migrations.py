"""Alembic migrations on SQLite and PostgreSQL, alone or next to Rasa's tracker store."""
from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from supportbot.cli import main
from supportbot.db import migrate
from supportbot.db.engine import make_engine
from supportbot.db.models import Base

EXPECTED_TABLES = {
    "clients", "customers", "orders", "order_items", "payments", "refunds", "subscriptions",
    "refund_requests", "handoff_tickets", "conversation_verifications", "verification_attempts",
    "verification_challenges", "audit_log", "confirmations", "throttle_hits", "throttle_locks",
}


def _tables(engine) -> set[str]:
    return set(inspect(engine).get_table_names())


def test_upgrade_creates_every_table_and_is_idempotent(db_url):
    engine = make_engine(db_url)
    try:
        assert migrate.current_revision(engine) is None
        migrate.upgrade(engine)
        assert _tables(engine) == migrate.own_table_names(engine.dialect.name) | {migrate.VERSION_TABLE}
        assert EXPECTED_TABLES <= _tables(engine)
        assert migrate.current_revision(engine) == migrate.head_revision()
        migrate.upgrade(engine)  # a second run changes nothing
        assert migrate.is_up_to_date(engine)
    finally:
        engine.dispose()


def test_the_migrated_schema_matches_the_models(db_url):
    engine = make_engine(db_url)
    try:
        migrate.upgrade(engine)
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={
                "compare_type": True, "include_object": migrate.include_object})
            assert compare_metadata(context, migrate.own_metadata()) == []
        # CHECK constraints are not compared by autogenerate: compare their names
        inspector = inspect(engine)
        for table in Base.metadata.sorted_tables:
            expected = {c.name for c in table.constraints
                        if c.__class__.__name__ == "CheckConstraint"}
            actual = {c["name"] for c in inspector.get_check_constraints(table.name)}
            assert actual == expected, table.name
    finally:
        engine.dispose()


def test_upgrade_next_to_rasa_tracker_store_tables(db_url):
    """Rasa's SQLTrackerStore owns `events` in the shared database: it must stay untouched."""
    engine = make_engine(db_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE events (id INTEGER PRIMARY KEY, sender_id VARCHAR(255) "
                              "NOT NULL, type_name VARCHAR(255) NOT NULL, timestamp FLOAT, "
                              "intent_name VARCHAR(255), action_name VARCHAR(255), data TEXT)"))
            conn.execute(text("INSERT INTO events (id, sender_id, type_name, data) "
                              "VALUES (1, 'conv-1', 'user', '{}')"))
        migrate.upgrade(engine)
        assert _tables(engine) == migrate.own_table_names(engine.dialect.name) | {
            migrate.VERSION_TABLE, "events"}
        with engine.connect() as conn:
            assert conn.execute(text("SELECT sender_id FROM events")).scalar_one() == "conv-1"
        migrate.downgrade(engine, "base")
        assert _tables(engine) == {"events", migrate.VERSION_TABLE}
        migrate.upgrade(engine)
        assert migrate.is_up_to_date(engine)
    finally:
        engine.dispose()


def test_no_table_is_called_events():
    assert "events" not in migrate.own_table_names()
    assert set(Base.metadata.tables) <= migrate.own_table_names()


def test_supportbot_db_upgrade_command(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    assert main(["db", "upgrade", "--url", url]) == 0
    assert f"{migrate.head_revision()} (was empty)" in capsys.readouterr().out
    assert main(["db", "upgrade", "--url", url]) == 0
    assert "(unchanged)" in capsys.readouterr().out
    assert main(["db", "current", "--url", url]) == 0


def test_upgrade_uses_supportbot_database_url(tmp_path, monkeypatch, capsys):
    path = tmp_path / "env.db"
    monkeypatch.setenv("SUPPORTBOT_DATABASE_URL", f"sqlite:///{path}")
    assert main(["db", "upgrade"]) == 0
    assert path.exists()
    engine = make_engine(f"sqlite:///{path}")
    try:
        assert "orders" in _tables(engine)
    finally:
        engine.dispose()
