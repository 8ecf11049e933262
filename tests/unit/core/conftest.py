"""Fixtures of the commerce-core tests: every DB-backed test runs on SQLite (a file in
tmp_path) and on PostgreSQL (a fresh schema from tests/conftest.py's `postgres_url`).

To keep the suite fast the schema and the demo data are built once per session as templates
(a migrated SQLite file; a migrated PostgreSQL schema) and copied into each test's database:
SQLite by copying the file, PostgreSQL by running the DDL that the Alembic migration emits in
offline mode and `INSERT ... SELECT` from the template schema. The migrations themselves are
exercised for real in tests/unit/db.
"""
from __future__ import annotations

import io
import shutil
import threading
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import make_url

from supportbot.core.payment_provider import DryRunPaymentProvider
from supportbot.core.services import SupportServices
from supportbot.db import migrate
from supportbot.db.demo import load_demo
from supportbot.db.engine import make_engine
from supportbot.db.models import Base

# A Monday noon, so that business-day arithmetic in the tests is easy to follow.
ANCHOR = datetime(2024, 6, 3, 12, 0, tzinfo=timezone.utc)
SECRET = "test-secret-key"


class Clock:
    """A controllable clock: `clock()` -> now; `clock.advance(minutes=11)`."""

    def __init__(self, now: datetime = ANCHOR):
        self.now = now
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            return self.now

    def advance(self, **kwargs) -> None:
        with self._lock:
            self.now = self.now + timedelta(**kwargs)


class RecordingMailer:
    """A Mailer that keeps the messages (for tests that do not need a real SMTP server)."""

    def __init__(self):
        self.messages = []
        self._lock = threading.Lock()

    def send(self, message) -> str:
        with self._lock:
            self.messages.append(message)
        return str(message["Message-ID"])

    def bodies_to(self, address: str) -> list[str]:
        return [m.get_content() for m in self.messages if m["To"] == address]


class CodeBox:
    """Deterministic one-time codes: hands out 111111, 222222, ... and remembers them."""

    def __init__(self):
        self.issued: list[str] = []

    def __call__(self) -> str:
        code = str(len(self.issued) % 9 + 1) * 6
        self.issued.append(code)
        return code

    @property
    def last(self) -> str:
        return self.issued[-1]


def _offline_ddl() -> str:
    """The PostgreSQL DDL of the migrations (Alembic offline mode), without BEGIN/COMMIT."""
    from alembic import command

    buffer = io.StringIO()
    config = migrate.alembic_config("postgresql+psycopg2://offline/offline")
    config.output_buffer = buffer
    command.upgrade(config, "head", sql=True)
    lines = [line for line in buffer.getvalue().splitlines()
             if line.strip() not in ("BEGIN;", "COMMIT;")]
    return "\n".join(lines)


class Templates:
    def __init__(self, directory: Path):
        self.directory = directory
        self._sqlite: dict[bool, Path] = {}
        self._pg_ddl: str | None = None
        self._pg_schema: str | None = None
        self._pg_admin = None

    # SQLite: a migrated file (with or without the demo data), copied per test
    def sqlite(self, with_demo: bool) -> Path:
        if with_demo not in self._sqlite:
            path = self.directory / f"template-{'demo' if with_demo else 'empty'}.db"
            engine = fast_engine(f"sqlite:///{path}")
            migrate.upgrade(engine)
            if with_demo:
                load_demo(engine, now=ANCHOR, extra_orders=0)
            engine.dispose()  # checkpoints the WAL into the main file
            self._sqlite[with_demo] = path
        return self._sqlite[with_demo]

    # PostgreSQL: the migration's DDL, and a demo schema to copy rows from
    def pg_ddl(self) -> str:
        if self._pg_ddl is None:
            self._pg_ddl = _offline_ddl()
        return self._pg_ddl

    def pg_demo_schema(self, test_url: str) -> str:
        if self._pg_schema is None:
            url = make_url(test_url)
            query = {k: v for k, v in url.query.items() if k != "options"}
            admin_url = url.set(query=query)
            self._pg_admin = create_engine(admin_url, future=True)
            schema = f"tpl_{uuid.uuid4().hex[:12]}"
            with self._pg_admin.begin() as conn:
                conn.execute(text(f'CREATE SCHEMA "{schema}"'))
            template_url = admin_url.update_query_dict({"options": f"-csearch_path={schema}"})
            engine = fast_engine(template_url.render_as_string(hide_password=False))
            with engine.begin() as conn:
                conn.exec_driver_sql(self.pg_ddl())
            load_demo(engine, now=ANCHOR, extra_orders=0)
            engine.dispose()
            self._pg_schema = schema
        return self._pg_schema

    def close(self) -> None:
        if self._pg_admin is not None:
            with self._pg_admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{self._pg_schema}" CASCADE'))
            self._pg_admin.dispose()


@pytest.fixture(scope="session")
def _templates(tmp_path_factory):
    templates = Templates(tmp_path_factory.mktemp("db-templates"))
    yield templates
    templates.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'core.db'}"
    return request.getfixturevalue("postgres_url")


def _no_fsync(dbapi_connection, _record) -> None:
    """Tests do not need durability across power cuts: skip the fsync on every commit
    (the isolation and locking behaviour under test is unchanged)."""
    cursor = dbapi_connection.cursor()
    if type(dbapi_connection).__module__.startswith("sqlite3"):
        cursor.execute("PRAGMA synchronous=OFF")
    else:
        cursor.execute("SET synchronous_commit TO off")
    cursor.close()


def fast_engine(url: str):
    engine = make_engine(url)
    event.listen(engine, "connect", _no_fsync)
    return engine


def _database(db_url: str, templates: Templates, with_demo: bool):
    if db_url.startswith("sqlite"):
        shutil.copyfile(templates.sqlite(with_demo), db_url.split("///", 1)[1])
        return fast_engine(db_url)
    engine = fast_engine(db_url)
    script = [templates.pg_ddl()]
    if with_demo:
        source = templates.pg_demo_schema(db_url)
        for table in Base.metadata.sorted_tables:
            script.append(f'INSERT INTO {table.name} SELECT * FROM "{source}".{table.name};')
            script.append(f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                          f"(SELECT COALESCE(max(id), 0) + 1 FROM {table.name}), false);")
    with engine.begin() as conn:
        conn.exec_driver_sql("\n".join(script))
    return engine


@pytest.fixture
def engine(db_url, _templates):
    """A migrated, empty database."""
    engine = _database(db_url, _templates, with_demo=False)
    yield engine
    engine.dispose()


@pytest.fixture
def demo_engine(db_url, _templates):
    """A migrated database holding the demo data set anchored at ANCHOR (no extra orders)."""
    engine = _database(db_url, _templates, with_demo=True)
    yield engine
    engine.dispose()


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def mailer():
    return RecordingMailer()


@pytest.fixture
def provider():
    return DryRunPaymentProvider()


@pytest.fixture
def codes():
    return CodeBox()


@pytest.fixture
def services(demo_engine, mailer, provider, clock, codes):
    services = SupportServices(demo_engine, mailer, provider, secret_key=SECRET, clock=clock,
                               verification_options={"code_generator": codes})
    yield services
    services.close()
