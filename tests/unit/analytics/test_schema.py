"""Migration 0007_analytics creates exactly the analytics models (SQLite and PostgreSQL)."""
from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from supportbot.analytics import models
from supportbot.db import migrate


def test_migrated_schema_matches_the_models(engine):
    assert "supportbot.analytics.models" in migrate.OWN_METADATA_MODULES
    assert migrate.current_revision(engine) == migrate.head_revision() == "0007_analytics"
    mine = {t.name for t in models.TABLES}

    def only_mine(obj, name, type_, reflected, compare_to):
        table = name if type_ == "table" else getattr(getattr(obj, "table", None), "name", None)
        return table in mine

    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={
            "compare_type": True, "include_object": only_mine})
        assert compare_metadata(context, models.metadata) == []
    inspector = inspect(engine)
    for table in models.TABLES:
        expected = {c.name for c in table.constraints if c.__class__.__name__ == "CheckConstraint"}
        assert {c["name"] for c in inspector.get_check_constraints(table.name)} == expected
        expected_unique = {c.name for c in table.constraints
                           if c.__class__.__name__ == "UniqueConstraint"}
        found_unique = {c["name"] for c in inspector.get_unique_constraints(table.name)}
        found_unique |= {i["name"] for i in inspector.get_indexes(table.name) if i["unique"]}
        assert expected_unique <= found_unique, table.name


def test_downgrade_to_0006_and_back(engine):
    migrate.downgrade(engine, "0006_console_users")
    names = set(inspect(engine).get_table_names())
    assert not names & {t.name for t in models.TABLES}
    assert "conversation_summaries" in names
    migrate.upgrade(engine)
    assert {t.name for t in models.TABLES} <= set(inspect(engine).get_table_names())
