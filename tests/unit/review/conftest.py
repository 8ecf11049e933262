"""Fixtures of the review tests: each test gets a migrated database holding the demo data and
Rasa's `events` table, on SQLite (a file) and on PostgreSQL (a schema in a throwaway database
created for the test session; skipped with the reason when the server is not reachable)."""
from __future__ import annotations

import shutil
import uuid
from dataclasses import dataclass

import pytest
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import make_url

from supportbot.channels.email_bridge import store as email_store
from supportbot.core.payment_provider import DryRunPaymentProvider
from supportbot.core.services import SupportServices
from supportbot.db import migrate
from supportbot.db.demo import load_demo
from supportbot.db.engine import make_engine
from tests.conftest import POSTGRES_ADMIN_URL, skip_or_fail
from tests.unit.core.conftest import Clock, CodeBox, RecordingMailer
from tests.unit.review.conversations import ANCHOR, create_events_table


def _no_fsync(dbapi_connection, _record) -> None:
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


def _prepare(engine) -> None:
    migrate.upgrade(engine)
    load_demo(engine, now=ANCHOR, extra_orders=0)
    create_events_table(engine)


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory):
    path = tmp_path_factory.mktemp("review-template") / "template.db"
    engine = fast_engine(f"sqlite:///{path}")
    _prepare(engine)
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def review_pg_database():
    """A throwaway PostgreSQL database for this test session (dropped at its end)."""
    try:
        admin = create_engine(POSTGRES_ADMIN_URL, future=True, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text("select 1"))
    except Exception as exc:  # server down or driver missing
        skip_or_fail(f"PostgreSQL not reachable at {POSTGRES_ADMIN_URL}: {exc.__class__.__name__}")
    name = f"review_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(POSTGRES_ADMIN_URL).set(database=name)
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                              "WHERE datname = :n AND pid <> pg_backend_pid()"), {"n": name})
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request, tmp_path, _sqlite_template):
    if request.param == "sqlite":
        path = tmp_path / "review.db"
        shutil.copyfile(_sqlite_template, path)
        engine = fast_engine(f"sqlite:///{path}")
        yield engine
        engine.dispose()
        return
    database = request.getfixturevalue("review_pg_database")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    base = create_engine(database, future=True)
    with base.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine = fast_engine(database.update_query_dict({"options": f"-csearch_path={schema}"})
                         .render_as_string(hide_password=False))
    _prepare(engine)
    yield engine
    engine.dispose()
    with base.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    base.dispose()


@dataclass
class Core:
    services: SupportServices
    codes: CodeBox
    clock: Clock
    mailer: RecordingMailer
    provider: DryRunPaymentProvider


@pytest.fixture
def clock():
    return Clock(ANCHOR)


@pytest.fixture
def core(engine, clock):
    codes, mailer, provider = CodeBox(), RecordingMailer(), DryRunPaymentProvider()
    services = SupportServices(engine, mailer, provider, secret_key="review-test-secret", clock=clock,
                               verification_options={"code_generator": codes})
    yield Core(services, codes, clock, mailer, provider)
    services.close()


@pytest.fixture
def email_tables(engine):
    email_store.create_schema(engine)  # migrated already: checkfirst keeps it as it is
    return email_store
