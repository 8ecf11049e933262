"""The analytics tests use the review tests' databases (SQLite file + PostgreSQL schema, migrated
to head, demo data, Rasa's `events` table) and their real SupportServices."""
from __future__ import annotations

from tests.unit.review.conftest import (  # noqa: F401 (fixtures)
    _sqlite_template,
    clock,
    core,
    engine,
    review_pg_database,
)
