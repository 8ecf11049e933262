"""The caching SQL tracker store: every event in the table, the same trackers as Rasa's own
SQL store, and never a stale tracker (other writers, failed turns, erasures, new sessions)."""
from __future__ import annotations

import asyncio

import pytest
import sqlalchemy as sa
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, SessionStarted, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from supportbot.rasa_server.tracker_store import CachingSQLTrackerStore
from supportbot.settings import PROJECT_ROOT


@pytest.fixture(scope="module")
def domain() -> Domain:
    return Domain.load(str(PROJECT_ROOT / "domain.yml"))


@pytest.fixture
def db(tmp_path) -> str:
    return str(tmp_path / "trackers.db")


def run(coro):
    return asyncio.run(coro)


def store(domain, db, **kwargs) -> CachingSQLTrackerStore:
    return CachingSQLTrackerStore(domain=domain, dialect="sqlite", db=db, **kwargs)


def turn(tracker: DialogueStateTracker, n: int) -> None:
    tracker.update(UserUttered(f"message {n}", {"name": "faq", "confidence": 0.9}))
    tracker.update(ActionExecuted("action_answer_faq"))
    tracker.update(BotUttered(f"answer {n}"))
    tracker.update(SlotSet("email", f"user{n}@example.com"))
    tracker.update(ActionExecuted("action_listen"))


def rows(db: str, sender: str) -> list[str]:
    engine = sa.create_engine(f"sqlite:///{db}")
    with engine.connect() as conn:
        found = [r[0] for r in conn.execute(
            sa.text("SELECT type_name FROM events WHERE sender_id = :s ORDER BY id"), {"s": sender})]
    engine.dispose()
    return found


def as_dicts(tracker: DialogueStateTracker) -> list[dict]:
    return [e.as_dict() for e in tracker.events]


def conversation(s: CachingSQLTrackerStore, sender: str, turns: int) -> DialogueStateTracker:
    tracker = run(s.get_or_create_tracker(sender))
    for n in range(turns):
        tracker = run(s.retrieve(sender))
        turn(tracker, n)
        run(s.save(tracker))
    return tracker


def test_every_event_is_stored_and_reads_back_like_rasas_own_store(domain, db):
    s = store(domain, db)
    tracker = conversation(s, "c1", 12)
    assert len(rows(db, "c1")) == len(tracker.events) == 1 + 12 * 5
    plain = SQLTrackerStore(domain=domain, dialect="sqlite", db=db)
    assert as_dicts(run(plain.retrieve("c1"))) == as_dicts(run(s.retrieve("c1")))
    assert run(s.retrieve("c1")).get_slot("email") == "user11@example.com"


def test_a_later_turn_reuses_the_tracker_instead_of_rebuilding_it(domain, db):
    s = store(domain, db)
    first = conversation(s, "c1", 3)
    again = run(s.retrieve("c1"))
    assert again is first  # read from the cache, no replay of the history
    fresh = store(domain, db)  # another process: nothing cached, rebuilt from the table
    rebuilt = run(fresh.retrieve("c1"))
    assert rebuilt is not first and as_dicts(rebuilt) == as_dicts(first)


def test_events_written_by_another_replica_are_read_in_order(domain, db):
    a, b = store(domain, db), store(domain, db)
    conversation(a, "c1", 2)
    other = run(b.retrieve("c1"))
    turn(other, 99)
    run(b.save(other))
    mine = run(a.retrieve("c1"))
    assert mine.get_slot("email") == "user99@example.com"
    assert as_dicts(mine) == as_dicts(run(b.retrieve("c1")))
    turn(mine, 100)
    run(a.save(mine))
    assert len(rows(db, "c1")) == len(mine.events) == 1 + 4 * 5


def test_a_turn_that_failed_before_saving_leaves_nothing_behind(domain, db):
    s = store(domain, db)
    tracker = conversation(s, "c1", 2)
    turn(tracker, 7)  # changed in memory, never saved (the turn crashed)
    again = run(s.retrieve("c1"))
    assert again.get_slot("email") == "user1@example.com"
    assert len(again.events) == len(rows(db, "c1"))


def test_erased_events_are_not_served_from_the_cache(domain, db):
    s = store(domain, db)
    conversation(s, "c1", 2)
    engine = sa.create_engine(f"sqlite:///{db}")
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM events WHERE sender_id = 'c1'"))
    engine.dispose()
    assert run(s.retrieve("c1")) is None


def test_a_new_session_is_read_like_rasa_reads_it(domain, db):
    s = store(domain, db)
    tracker = conversation(s, "c1", 2)
    tracker.update(ActionExecuted("action_session_start"))
    tracker.update(SessionStarted())
    tracker.update(ActionExecuted("action_listen"))
    run(s.save(tracker))
    plain = SQLTrackerStore(domain=domain, dialect="sqlite", db=db)
    assert as_dicts(run(s.retrieve("c1"))) == as_dicts(run(plain.retrieve("c1")))
    assert run(s.retrieve("c1")).get_slot("email") is None  # slots reset with the new session


def test_the_cache_is_bounded(domain, db):
    s = store(domain, db, cache_size=2)
    for sender in ("a", "b", "c"):
        conversation(s, sender, 1)
    assert set(s._cache) == {"b", "c"}
    assert as_dicts(run(s.retrieve("a")))  # still in the table


def test_the_stores_sqlite_connections_do_not_wait_for_the_disk(domain, db):
    s = store(domain, db)
    with s.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"


def test_endpoints_use_this_store():
    import yaml

    endpoints = yaml.safe_load((PROJECT_ROOT / "endpoints.yml").read_text())
    path = endpoints["tracker_store"]["type"]
    module, name = path.rsplit(".", 1)
    assert getattr(__import__(module, fromlist=[name]), name) is CachingSQLTrackerStore
