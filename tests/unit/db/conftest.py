from __future__ import annotations

import shutil

import pytest
from sqlalchemy import event

from supportbot.db import migrate
from supportbot.db.engine import make_engine


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request, tmp_path):
    """A SQLite file in tmp_path, or a fresh PostgreSQL schema (tests/conftest.py)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'db.db'}"
    return request.getfixturevalue("postgres_url")


def _no_fsync(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA synchronous=OFF")  # tests need no durability across power cuts
    cursor.close()


@pytest.fixture(scope="session")
def _migrated_sqlite_template(tmp_path_factory):
    path = tmp_path_factory.mktemp("db-template") / "migrated.db"
    engine = make_engine(f"sqlite:///{path}")
    migrate.upgrade(engine)
    engine.dispose()
    return path


@pytest.fixture
def sqlite_engine(tmp_path, _migrated_sqlite_template):
    """A migrated, empty SQLite database (a copy of a file migrated once per session)."""
    path = tmp_path / "test.db"
    shutil.copyfile(_migrated_sqlite_template, path)
    engine = make_engine(f"sqlite:///{path}")
    event.listen(engine, "connect", _no_fsync)
    yield engine
    engine.dispose()
