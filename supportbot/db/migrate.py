"""Schema migrations (Alembic, configured in code: no alembic.ini).

`supportbot db upgrade` calls `upgrade(url)`. It works on SQLite and PostgreSQL, on an empty
database or one that already holds Rasa's tracker-store tables: only supportbot's own
tables are created, and the migration state is kept in `supportbot_alembic_version` so that
another Alembic-managed application in the same database is not confused.
"""
from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import MetaData
from sqlalchemy.engine import Engine

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
VERSION_TABLE = "supportbot_alembic_version"


# Modules whose SQLAlchemy metadata is supportbot's own schema (managed by these migrations).
# Each exposes `metadata` or `Base.metadata`; a module that is not installed is skipped.
# Add a module here together with the migration that creates its tables.
OWN_METADATA_MODULES: tuple[str, ...] = (
    "supportbot.db.models",
    "supportbot.channels.email_bridge.store",  # revision email_bridge_0001
    "supportbot.review.models",  # revision 0005_review_index
    "supportbot.console.accounts.models",  # revision 0006_console_users
    "supportbot.analytics.models",  # revision 0007_analytics
)


def own_metadata() -> list[MetaData]:
    """The metadata of every table the migrations manage (the autogenerate target)."""
    found = []
    for name in OWN_METADATA_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name and name.startswith(exc.name):
                continue
            raise
        metadata = getattr(module, "metadata", None)
        if not isinstance(metadata, MetaData):
            metadata = getattr(getattr(module, "Base", None), "metadata", None)
        if isinstance(metadata, MetaData) and metadata not in found:
            found.append(metadata)
    return found


def _metadata_table_names() -> set[str]:
    return {name for metadata in own_metadata() for name in metadata.tables}


def own_table_names(dialect: str | None = None) -> set[str]:
    """The tables the migrations create. With `dialect`, also those a module creates outside
    its metadata for that dialect only (its `EXTRA_TABLES`, e.g. SQLite FTS5 virtual tables)."""
    names = _metadata_table_names()
    if dialect is not None:
        for name in OWN_METADATA_MODULES:
            module = sys.modules.get(name)
            names.update(getattr(module, "EXTRA_TABLES", {}).get(dialect, ()))
    return names


def include_object(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    """Autogenerate only looks at supportbot's tables (never Rasa's `events` & co, nor the
    dialect-specific tables of `EXTRA_TABLES`, which have no model to compare with)."""
    if type_ == "table":
        return name in _metadata_table_names()
    table = getattr(obj, "table", None)
    if table is not None:
        return table.name in _metadata_table_names()
    return True


def alembic_config(url: str | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url:
        # configparser interpolation: '%' in URLs (e.g. options=-csearch_path%3D...) must be doubled
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def _engine(url_or_engine: str | Engine) -> tuple[Engine, bool]:
    if isinstance(url_or_engine, Engine):
        return url_or_engine, False
    from supportbot.db.engine import make_engine

    return make_engine(url_or_engine), True


def _run(url_or_engine: str | Engine, action: Callable[[Config, str], None], revision: str) -> None:
    engine, owned = _engine(url_or_engine)
    try:
        with engine.begin() as connection:
            config = alembic_config()
            config.attributes["connection"] = connection
            action(config, revision)
    finally:
        if owned:
            engine.dispose()


def upgrade(url_or_engine: str | Engine, revision: str = "head") -> None:
    """Apply the migrations up to `revision` (default: the newest)."""
    _run(url_or_engine, command.upgrade, revision)


def downgrade(url_or_engine: str | Engine, revision: str) -> None:
    _run(url_or_engine, command.downgrade, revision)


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise RuntimeError(f"no migration found in {MIGRATIONS_DIR}")
    return head


def current_revision(url_or_engine: str | Engine) -> str | None:
    """The revision the database is at (None: never migrated)."""
    engine, owned = _engine(url_or_engine)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(
                connection, opts={"version_table": VERSION_TABLE}
            )
            return context.get_current_revision()
    finally:
        if owned:
            engine.dispose()


def is_up_to_date(url_or_engine: str | Engine) -> bool:
    return current_revision(url_or_engine) == head_revision()
