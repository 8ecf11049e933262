"""The test conversations are stored exactly as Rasa's SQLTrackerStore stores a tracker."""
from __future__ import annotations

import asyncio

import sqlalchemy as sa
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.trackers import DialogueStateTracker

from supportbot.review.events import events as review_events_table
from supportbot.settings import PROJECT_ROOT
from tests.unit.core.conftest import Clock
from tests.unit.review.conversations import ANCHOR, EVENTS_DDL, Conversation, fallback_chat, write


def _rows(db_path) -> list[tuple]:
    engine = sa.create_engine(f"sqlite:///{db_path}", future=True)
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT sender_id, type_name, timestamp, intent_name, action_name, "
                                    "data FROM events ORDER BY id")).all()
        ddl = conn.execute(sa.text("SELECT sql FROM sqlite_master WHERE name = 'events'")).scalar_one()
    engine.dispose()
    return rows, ddl


def test_rows_match_rasas_sql_tracker_store(tmp_path, monkeypatch):
    clock = Clock(ANCHOR)
    built: list = []
    monkeypatch.setattr("tests.unit.review.conversations.write",
                        lambda _engine, _sender, new: built.extend(new))
    fallback_chat(None, "shape-1", clock)

    # Rasa's own store
    domain = Domain.load(str(PROJECT_ROOT / "domain.yml"))
    rasa_db = tmp_path / "rasa.db"
    store = SQLTrackerStore(domain=domain, dialect="sqlite", db=str(rasa_db))
    tracker = DialogueStateTracker.from_events("shape-1", built, slots=domain.slots)
    asyncio.run(store.save(tracker))
    store.engine.dispose()
    rasa_rows, rasa_ddl = _rows(rasa_db)

    # ours
    ours_db = tmp_path / "ours.db"
    engine = sa.create_engine(f"sqlite:///{ours_db}", future=True)
    with engine.begin() as conn:
        conn.exec_driver_sql(EVENTS_DDL["sqlite"])
    write(engine, "shape-1", built)
    engine.dispose()
    our_rows, _ = _rows(ours_db)

    assert our_rows == rasa_rows
    assert len(rasa_rows) == len(built) > 10
    # the columns the review package reads are Rasa's
    for column in review_events_table.columns:
        assert column.name in rasa_ddl


def test_a_conversation_saves_only_its_new_events(tmp_path):
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'x.db'}", future=True)
    with engine.begin() as conn:
        conn.exec_driver_sql(EVENTS_DDL["sqlite"])
    c = Conversation("s", Clock(ANCHOR))
    c.user("hi", "greet")
    c.save(engine)
    c.action("utter_greet")
    c.save(engine)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM events")).scalar_one() == len(c.events)
    engine.dispose()
