"""Tables of the console's accounts (migration 0006_console_users).

Own metadata with the core's naming convention; `supportbot.db.migrate.OWN_METADATA_MODULES`
lists this module so the migration test compares these models with the migrated schema.
Sessions are stored by the SHA-256 of their token: a copy of the database opens no session.
"""
from __future__ import annotations

from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
)
from sqlalchemy.orm import declarative_base

from supportbot.console.accounts.roles import ROLES
from supportbot.core.timeutil import utcnow
from supportbot.db.models import NAMING_CONVENTION, UTCDateTime

Base: Any = declarative_base(metadata=MetaData(naming_convention=NAMING_CONVENTION))
metadata = Base.metadata


def _sql_list(values: tuple[str, ...]) -> str:
    return ", ".join(f"'{v}'" for v in values)


class ConsoleUser(Base):
    __tablename__ = "console_users"

    id = Column(Integer, primary_key=True)
    email = Column(String(254), nullable=False, unique=True)
    role = Column(String(16), nullable=False)
    password_hash = Column(String(255), nullable=False)
    disabled = Column(Boolean, nullable=False, default=False)
    created_at = Column(UTCDateTime, nullable=False, default=utcnow)
    last_login_at = Column(UTCDateTime)

    __table_args__ = (CheckConstraint(f"role IN ({_sql_list(ROLES)})", name="role"),)


class ConsoleSession(Base):
    __tablename__ = "console_sessions"

    token_hash = Column(String(64), primary_key=True)
    user_id = Column(Integer, ForeignKey("console_users.id", ondelete="CASCADE"), nullable=False)
    csrf_token = Column(String(64), nullable=False)
    client_address = Column(String(64))
    created_at = Column(UTCDateTime, nullable=False, default=utcnow)
    last_seen_at = Column(UTCDateTime, nullable=False, default=utcnow)
    expires_at = Column(UTCDateTime, nullable=False)

    __table_args__ = (
        Index("ix_console_sessions_user_id", "user_id"),
        Index("ix_console_sessions_expires_at", "expires_at"),
    )


class ConsoleLoginAttempt(Base):
    """One login attempt (for the throttle): the email as typed (normalised) and the client."""

    __tablename__ = "console_login_attempts"

    id = Column(Integer, primary_key=True)
    email = Column(String(254), nullable=False)
    client_address = Column(String(64), nullable=False)
    attempted_at = Column(UTCDateTime, nullable=False, default=utcnow)
    succeeded = Column(Boolean, nullable=False, default=False)

    __table_args__ = (
        Index("ix_console_login_attempts_email_attempted_at", "email", "attempted_at"),
        Index("ix_console_login_attempts_client_address_attempted_at",
              "client_address", "attempted_at"),
    )
