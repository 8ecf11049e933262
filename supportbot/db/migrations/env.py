"""Alembic environment of supportbot (programmatic: no alembic.ini needed).

`supportbot.db.migrate` passes an open connection in `config.attributes["connection"]`;
the `alembic` command line works too when `sqlalchemy.url` is set. Only supportbot's own
tables (`migrate.OWN_METADATA_MODULES`) are considered by autogenerate: Rasa's tracker-store
tables (`events`, ...) that may live in the same database are never touched.
"""
from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from supportbot.db.migrate import VERSION_TABLE, include_object, own_metadata

config = context.config


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=own_metadata(),
        version_table=VERSION_TABLE,
        include_object=include_object,
        compare_type=True,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=own_metadata(),
        version_table=VERSION_TABLE,
        literal_binds=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    from supportbot.db.engine import make_engine

    url = config.get_main_option("sqlalchemy.url")
    if url is None:
        raise RuntimeError("no database: pass a connection in config.attributes or set sqlalchemy.url")
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            _run(connection)
            connection.commit()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
