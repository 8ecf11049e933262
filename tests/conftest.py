"""Shared test fixtures: real PostgreSQL and Redis when available.

On a machine without the servers the tests that need them are skipped with the reason;
with SUPPORTBOT_REQUIRE_SERVICES=1 (set by .ci/run) such a skip becomes a failure.
"""
from __future__ import annotations

import os
import socket
import uuid

import pytest

POSTGRES_ADMIN_URL = os.environ.get(
    "SUPPORTBOT_TEST_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("SUPPORTBOT_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def services_required() -> bool:
    return os.environ.get("SUPPORTBOT_REQUIRE_SERVICES") == "1"


def skip_or_fail(reason: str) -> None:
    if services_required():
        pytest.fail(f"{reason} (SUPPORTBOT_REQUIRE_SERVICES=1 turns this skip into a failure)")
    pytest.skip(reason)


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def postgres_url():
    """A fresh, empty PostgreSQL schema for one test; dropped afterwards."""
    from sqlalchemy import create_engine, text

    try:
        admin = create_engine(POSTGRES_ADMIN_URL, future=True)
        with admin.connect() as conn:
            conn.execute(text("select 1"))
    except Exception as exc:  # server down or driver missing
        skip_or_fail(f"PostgreSQL not reachable at {POSTGRES_ADMIN_URL}: {exc.__class__.__name__}")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in POSTGRES_ADMIN_URL else "?"
    url = f"{POSTGRES_ADMIN_URL}{sep}options=-csearch_path%3D{schema}"
    try:
        yield url
    finally:
        from supportbot.db import engine as engine_module

        cached = engine_module._engines.pop(url, None)
        if cached is not None:
            cached.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def redis_url():
    if not port_open("127.0.0.1", 6379):
        skip_or_fail("Redis not reachable at 127.0.0.1:6379")
    return REDIS_URL


def db_rows(database_url: str, sql: str, **params):
    """Rows of one SQL query against a test database, as mappings."""
    from sqlalchemy import create_engine, text

    engine = create_engine(database_url, future=True)
    try:
        with engine.connect() as conn:
            return conn.execute(text(sql), params).mappings().all()
    finally:
        engine.dispose()


def latest_code(outbox_dir, address: str, timeout: float = 10.0) -> str:
    """The newest one-time code mailed to `address`, read from a development outbox folder."""
    import os
    import re
    import time
    from email import policy
    from email.parser import BytesParser

    parser = BytesParser(policy=policy.default)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for path in sorted(outbox_dir.glob("*.eml"), key=os.path.getmtime, reverse=True):
            message = parser.parsebytes(path.read_bytes())
            if address in str(message["To"]):
                body = message.get_body(preferencelist=("plain",)).get_content()
                match = re.search(r"\b(\d{6})\b", body)
                if match:
                    return match.group(1)
        time.sleep(0.2)
    raise AssertionError(f"no code mailed to {address}")
