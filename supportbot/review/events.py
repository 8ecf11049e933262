"""Reading Rasa's tracker store: the `events` table of Rasa's SQLTrackerStore.

Schema (rasa/core/tracker_store.py, SQLTrackerStore.SQLEvent): id (autoincrement), sender_id,
type_name (user, bot, action, slot, session_started, ...), timestamp (epoch seconds, float),
intent_name (user events), action_name (`data["name"]`: the action of an action event, the slot
of a slot event), data (the event's `as_dict()` as JSON text). The table belongs to Rasa:
supportbot never creates or migrates it (tests create it in that exact shape), only reads it and
deletes a conversation's rows on erasure. Nothing of Rasa is imported.
"""
from __future__ import annotations

import json
import math
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import Column, Float, Integer, MetaData, String, Table, Text, inspect
from sqlalchemy.engine import Connection

EVENTS_TABLE = "events"

# Not part of supportbot's own schema (never in migrate.OWN_METADATA_MODULES).
rasa_metadata = MetaData()
events = Table(
    EVENTS_TABLE, rasa_metadata,
    Column("id", Integer, primary_key=True),
    Column("sender_id", String(255), nullable=False, index=True),
    Column("type_name", String(255), nullable=False),
    Column("timestamp", Float),
    Column("intent_name", String(255)),
    Column("action_name", String(255)),
    Column("data", Text),
)


def has_events_table(connection: Connection) -> bool:
    return bool(inspect(connection).has_table(EVENTS_TABLE))


def parse_data(data: Any) -> dict[str, Any]:
    """The event dict of a row's `data` (a broken row gives {} rather than an error)."""
    if isinstance(data, dict):
        return data
    if not isinstance(data, (str, bytes)):
        return {}
    try:
        parsed = json.loads(data)
    except (TypeError, ValueError):
        return {}
    return parsed if isinstance(parsed, dict) else {}


def to_datetime(timestamp: Any) -> datetime | None:
    if isinstance(timestamp, bool) or not isinstance(timestamp, (int, float)):
        return None
    if not math.isfinite(timestamp):
        return None
    try:
        return datetime.fromtimestamp(float(timestamp), tz=timezone.utc)
    except (OverflowError, OSError, ValueError):
        return None


def to_timestamp(value: datetime) -> float:
    return value.timestamp()
