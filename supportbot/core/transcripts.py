"""A handoff ticket's transcript: the conversation as the Rasa server stored it.

The caller of `SupportServices.hand_off` (the action server) sends the conversation as its
request described it, and a request can be forged. The Rasa server's SQL tracker store
(endpoints.yml, `supportbot.rasa_server.tracker_store`) writes every event to the table
`events` (`sender_id`, `type_name`, `timestamp`, `data`: the event as JSON) of the database
the core uses, so the transcript is read from there:

- every line up to the last stored event is the stored one (`"source": "stored"`); the
  request's own history is ignored;
- Rasa saves a turn after its actions ran, so the turn in progress (the customer's latest
  message and the bot's replies to it) is not stored yet: it is taken from the request, from
  its last customer line on, and only lines newer than everything stored
  (`"source": "current_turn"`, at most one customer line);
- without an `events` table in this database (the tracker store lives elsewhere, or tests
  without Rasa) the request's lines are kept, each marked `"source": "unverified"`.

Reading the table is the core's one coupling to Rasa's storage format; no Rasa code is imported.
"""
from __future__ import annotations

import json
import math
from typing import Any

from sqlalchemy import inspect, text
from sqlalchemy.orm import Session

RASA_EVENTS_TABLE = "events"
MAX_LINES = 60
MAX_TEXT_CHARS = 4000
_SCAN_ROWS = 2000  # newest user/bot events read per conversation

_SPEAKERS = {"user": "customer", "bot": "bot"}


def stored_lines(session: Session, conversation_id: str,
                 limit: int = MAX_LINES) -> list[dict[str, Any]] | None:
    """The conversation's customer and bot lines from Rasa's `events` table, oldest first
    (the newest `limit`); None when this database has no such table."""
    connection = session.connection()
    if not inspect(connection).has_table(RASA_EVENTS_TABLE):
        return None
    rows = connection.execute(
        text(f"SELECT type_name, timestamp, data FROM {RASA_EVENTS_TABLE} "
             "WHERE sender_id = :sender AND type_name IN ('user', 'bot') "
             "ORDER BY id DESC LIMIT :scan"),
        {"sender": conversation_id, "scan": _SCAN_ROWS},
    ).all()
    lines: list[dict[str, Any]] = []
    for type_name, timestamp, data in rows:
        try:
            event = json.loads(data) if isinstance(data, str) else dict(data or {})
        except (TypeError, ValueError):
            continue
        said = event.get("text")
        if not isinstance(said, str) or not said:
            continue
        lines.append({"from": _SPEAKERS[type_name], "text": said[:MAX_TEXT_CHARS],
                      "at": _number(timestamp if timestamp is not None else event.get("timestamp"))})
        if len(lines) == limit:
            break
    lines.reverse()
    return lines


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _clean(claimed: Any) -> list[dict[str, Any]]:
    """The caller's lines, reduced to well-formed {"from", "text", "at"} dicts."""
    if not isinstance(claimed, list):
        return []
    lines = []
    for line in claimed[-MAX_LINES * 4:]:
        if not isinstance(line, dict) or line.get("from") not in ("customer", "bot"):
            continue
        said = line.get("text")
        if not isinstance(said, str) or not said:
            continue
        lines.append({"from": line["from"], "text": said[:MAX_TEXT_CHARS],
                      "at": _number(line.get("at"))})
    return lines


def ticket_transcript(stored: list[dict[str, Any]] | None, claimed: Any,
                      limit: int = MAX_LINES) -> list[dict[str, Any]] | None:
    """The transcript a ticket keeps (module doc): `stored` lines, then the turn in progress
    from `claimed` (the caller's lines); `claimed` alone, marked unverified, without a store."""
    request = _clean(claimed)
    if stored is None:
        marked = [{**line, "source": "unverified"} for line in request[-limit:]]
        return marked or None
    lines = [{**line, "source": "stored"} for line in stored]
    newest = max((line["at"] for line in stored if line["at"] is not None), default=None)
    last_customer = max((i for i, line in enumerate(request) if line["from"] == "customer"),
                        default=None)
    if last_customer is not None:
        for line in request[last_customer:]:
            if newest is not None and (line["at"] is None or line["at"] <= newest):
                continue
            lines.append({**line, "source": "current_turn"})
    return lines[-limit:] or None
