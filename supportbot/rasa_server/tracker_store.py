"""The Rasa server's conversation store: Rasa's SQL tracker store, without re-reading every
event of a conversation on every turn.

Rasa's `SQLTrackerStore` rebuilds the whole tracker from the database for each message (load
every event since the session started, parse its JSON, replay it), so a turn late in a long
conversation costs more than an early one. `CachingSQLTrackerStore` keeps the tracker it
returned, per conversation, and on the next turn reads only the rows added since (by event id).
Every event is still written to the `events` table as before; the database stays the truth:

- a cached tracker is used only if nothing changed it since it was saved (same number of
  events) and the database holds exactly the rows it was built from plus newer ones (same count
  up to the last id it saw); anything else (rows deleted, a turn that failed before saving, a
  new conversation session) rebuilds it from the database like Rasa does;
- rows written by another process (another Rasa replica) are read and applied in id order.

On SQLite the store's own connections use `synchronous=NORMAL` in WAL mode: a commit no longer
waits for the disk, and a crashed process loses nothing (only a power cut can lose the last
turns). The core's connections, which record money, keep SQLite's full synchronous mode.

When the database cannot be reached nothing is lost and no conversation starts over (Rasa's
own store answers "no such conversation" and the processor begins an empty one):

- `retrieve` raises `ConversationStoreUnavailable` (failures.py): the turn is not run, the
  customer is asked to send the message again, and `keep()` holds the message and that reply;
- `save` that fails keeps the tracker's unsaved events in memory instead of raising (Rasa
  would put them into an in-memory store that is never read again);
- both are written, in order, before the conversation's next read, and by a background task
  that retries every `retry_seconds` (default 2) until the database answers.

Configured in endpoints.yml as
`tracker_store: {type: supportbot.rasa_server.tracker_store.CachingSQLTrackerStore, ...}` with
the arguments of Rasa's SQL store, plus `cache_size` (conversations kept, default 2000).
"""
from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass
from itertools import islice
from typing import Any

import sqlalchemy as sa
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.constants import ACTION_LISTEN_NAME
from rasa.shared.core.events import ActionExecuted, Event, SessionStarted, deserialise_events
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.constants import INTENT_NAME_KEY

from supportbot.rasa_server.action_results import install_fast_action_result_check
from supportbot.rasa_server.failures import ConversationStoreUnavailable, install_failure_replies

logger = logging.getLogger(__name__)

DEFAULT_CACHE_SIZE = 2000
DEFAULT_RETRY_SECONDS = 2.0
#: errors that mean "the database did not answer" (SQLAlchemy wraps the driver's errors)
STORE_ERRORS: tuple[type[BaseException], ...] = (sa.exc.SQLAlchemyError, OSError)
_NO_LIMIT = 2**62


@dataclass
class _Cached:
    tracker: DialogueStateTracker
    last_id: int  # the highest events.id the tracker contains
    rows: int  # rows of this conversation in the table with id <= last_id
    events: int  # len(tracker.events) when it was read or saved


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


class CachingSQLTrackerStore(SQLTrackerStore):
    """`SQLTrackerStore` that keeps recent conversations' trackers between turns."""

    def __init__(self, *args: Any, cache_size: int = DEFAULT_CACHE_SIZE,
                 retry_seconds: float = DEFAULT_RETRY_SECONDS, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.engine.dialect.name == "sqlite":
            sa.event.listen(self.engine, "connect", _sqlite_pragmas)
            self.engine.dispose()  # connections opened before the listener get replaced
        self._cache: OrderedDict[str, _Cached] = OrderedDict()
        self._cache_size = max(0, int(cache_size))
        self._lock = threading.Lock()
        # trackers whose last save failed, and turns answered while the store was unreachable
        # (failures.py): written before the conversation is read again
        self._unsaved: dict[str, DialogueStateTracker] = {}
        self._kept: dict[str, list[Event]] = {}
        self._retry_seconds = max(0.05, float(retry_seconds))
        self._retry_task: asyncio.Task[None] | None = None
        # The Rasa server builds its tracker store once, at start: the place where our server
        # process gets its other adapters (rasa_server/action_results.py, failures.py) too.
        install_fast_action_result_check()
        install_failure_replies()

    # ------------------------------------------------------------------ cache bookkeeping

    def _get(self, sender_id: str) -> _Cached | None:
        with self._lock:
            entry = self._cache.get(sender_id)
            if entry is not None:
                self._cache.move_to_end(sender_id)
            return entry

    def _put(self, sender_id: str, entry: _Cached) -> None:
        if self._cache_size == 0:
            return
        with self._lock:
            self._cache[sender_id] = entry
            self._cache.move_to_end(sender_id)
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)

    def forget(self, sender_id: str) -> None:
        """Drop the cached tracker (e.g. after the conversation's events were erased)."""
        with self._lock:
            self._cache.pop(sender_id, None)

    def _rows_up_to(self, session: Any, sender_id: str, last_id: int) -> int:
        return int(session.query(sa.func.count(self.SQLEvent.id))
                   .filter(self.SQLEvent.sender_id == sender_id, self.SQLEvent.id <= last_id)
                   .scalar() or 0)

    # ------------------------------------------------------------------ reading

    async def retrieve(self, sender_id: str) -> DialogueStateTracker | None:
        try:
            await self._write_held(sender_id)
            return await self._retrieve_latest_session(sender_id)
        except STORE_ERRORS as exc:
            logger.error("conversation %r could not be read: %s: %s", sender_id,
                         exc.__class__.__name__, exc)
            raise ConversationStoreUnavailable(sender_id, self) from exc

    async def retrieve_full_tracker(self, conversation_id: str) -> DialogueStateTracker | None:
        """Every session's events (Rasa's reading), after writing turns kept during an outage."""
        try:
            await self._write_held(conversation_id)
            return await super().retrieve_full_tracker(conversation_id)
        except STORE_ERRORS as exc:
            logger.error("conversation %r could not be read: %s: %s", conversation_id,
                         exc.__class__.__name__, exc)
            raise ConversationStoreUnavailable(conversation_id, self) from exc

    async def _retrieve_latest_session(self, sender_id: str) -> DialogueStateTracker | None:
        # not `_retrieve`: Rasa's SQLTrackerStore._retrieve(sender_id, fetch_events_from_all_sessions)
        # serves retrieve_full_tracker (GET /conversations/<id>/tracker) and must stay Rasa's
        entry = self._get(sender_id)
        if entry is not None and len(entry.tracker.events) == entry.events:
            with self.session_scope() as session:
                if self._rows_up_to(session, sender_id, entry.last_id) == entry.rows:
                    newer = (session.query(self.SQLEvent.id, self.SQLEvent.type_name, self.SQLEvent.data)
                             .filter(self.SQLEvent.sender_id == sender_id,
                                     self.SQLEvent.id > entry.last_id)
                             .order_by(self.SQLEvent.id).all())
                    if not any(row.type_name == SessionStarted.type_name for row in newer):
                        for event in deserialise_events([json.loads(row.data) for row in newer]):
                            entry.tracker.update(event)
                        if newer:
                            entry.last_id = newer[-1].id
                            entry.rows += len(newer)
                        entry.events = len(entry.tracker.events)
                        return entry.tracker
        self.forget(sender_id)
        return await self._rebuild(sender_id)

    async def _rebuild(self, sender_id: str) -> DialogueStateTracker | None:
        """Rasa's own reading (events since the latest session start), remembered."""
        with self.session_scope() as session:
            rows = self._event_query(session, sender_id, fetch_events_from_all_sessions=False).all()
            if not rows or not self.domain:
                return None
            last_id = max(row.id for row in rows)
            tracker = DialogueStateTracker.from_dict(
                sender_id, [json.loads(row.data) for row in rows], self.domain.slots)
            counted = self._rows_up_to(session, sender_id, last_id)
        self._put(sender_id, _Cached(tracker, last_id, counted, len(tracker.events)))
        return tracker

    # ------------------------------------------------------------------ writing

    async def stream_events(self, tracker: DialogueStateTracker) -> None:
        if self.event_broker is None:
            return
        entry = self._get(tracker.sender_id)
        if entry is not None and entry.tracker is tracker:
            new_events = list(islice(tracker.events, entry.events, None))
            await self._stream_new_events(self.event_broker, new_events, tracker.sender_id)
            return
        await super().stream_events(tracker)

    async def save(self, tracker: DialogueStateTracker) -> None:
        await self.stream_events(tracker)
        sender_id = tracker.sender_id
        try:
            with self._lock:
                if self._unsaved.get(sender_id) is tracker:
                    del self._unsaved[sender_id]  # this save writes its events
            await self._write_held(sender_id)
            await self._save(tracker)
        except STORE_ERRORS as exc:
            logger.error("conversation %r could not be saved (%s: %s): its events are kept and "
                         "written when the database answers", sender_id, exc.__class__.__name__, exc)
            with self._lock:
                self._unsaved[sender_id] = tracker
            self._schedule_retry()

    async def _save(self, tracker: DialogueStateTracker) -> None:
        sender_id = tracker.sender_id
        entry = self._get(sender_id)
        with self.session_scope() as session:
            cached = (entry is not None and entry.tracker is tracker
                      and self._rows_up_to(session, sender_id, _NO_LIMIT) == entry.rows)
            # the cached tracker knows which events are new; otherwise Rasa's rule: whatever the
            # table does not hold yet, counted since the session start
            new = (list(islice(tracker.events, entry.events, None)) if cached and entry is not None
                   else list(self._additional_events(session, tracker)))
            rows = [self._row(sender_id, event) for event in new]
            session.add_all(rows)
            session.flush()
            ids = [row.id for row in rows]
            session.commit()
        if not cached or entry is None or any(isinstance(event, SessionStarted) for event in new):
            # a tracker we did not hand out, or a new session: the next turn reads it like Rasa
            self.forget(sender_id)
            return
        entry.last_id = max([entry.last_id, *ids])
        entry.rows += len(ids)
        entry.events = len(tracker.events)
        logger.debug("Tracker with sender_id '%s' stored to database", sender_id)

    # ------------------------------------------------------------------ the database was away

    def keep(self, sender_id: str, events: list[Event]) -> None:
        """Events of a turn the store could not take (failures.py): written, after whatever
        of this conversation is still unsaved, as soon as the database answers."""
        with self._lock:
            self._kept.setdefault(sender_id, []).extend(events)
        self._schedule_retry()

    def held(self) -> dict[str, int]:
        """Conversations with events not yet in the database -> how many trackers/turns."""
        with self._lock:
            senders = set(self._unsaved) | set(self._kept)
            return {s: int(s in self._unsaved) + len(self._kept.get(s, ())) for s in senders}

    async def _write_held(self, sender_id: str) -> None:
        """Write the unsaved tracker and the kept turns of `sender_id` (raises STORE_ERRORS)."""
        with self._lock:
            unsaved = self._unsaved.get(sender_id)
        if unsaved is not None:
            await self._save(unsaved)
            with self._lock:
                if self._unsaved.get(sender_id) is unsaved:
                    del self._unsaved[sender_id]
            logger.info("conversation %r: the unsaved events are written", sender_id)
        with self._lock:
            kept = list(self._kept.get(sender_id, ()))
        if kept:
            tracker = await self._retrieve_latest_session(sender_id)
            if tracker is None:
                tracker = self.init_tracker(sender_id)
                tracker.update(ActionExecuted(ACTION_LISTEN_NAME))
            for event in kept:
                tracker.update(event)
            tracker.update(ActionExecuted(ACTION_LISTEN_NAME))
            await self._save(tracker)
            with self._lock:
                rest = self._kept.get(sender_id, [])[len(kept):]
                if rest:
                    self._kept[sender_id] = rest
                else:
                    self._kept.pop(sender_id, None)
            logger.info("conversation %r: %d kept event(s) written", sender_id, len(kept))

    def _schedule_retry(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no event loop (a script): written on the next read or save
        if self._retry_task is None or self._retry_task.done():
            self._retry_task = loop.create_task(self._retry_until_written())

    async def _retry_until_written(self) -> None:
        while True:
            await asyncio.sleep(self._retry_seconds)
            senders = list(self.held())
            if not senders:
                return
            for sender_id in senders:
                try:
                    await self._write_held(sender_id)
                except STORE_ERRORS:
                    break  # still away: try again later
                except Exception:  # noqa: BLE001 - never let the retry task die silently
                    logger.exception("conversation %r: writing the held events failed", sender_id)

    def _row(self, sender_id: str, event: Event) -> Any:
        data = event.as_dict()
        return self.SQLEvent(
            sender_id=sender_id,
            type_name=event.type_name,
            timestamp=data.get("timestamp"),
            intent_name=data.get("parse_data", {}).get("intent", {}).get(INTENT_NAME_KEY),
            action_name=data.get("name"),
            data=json.dumps(data),
        )
