"""Faults inside the Rasa server process: the customer hears about them, nothing is lost.

Rasa 3.6 alone answers an action-server failure with silence and an unreachable conversation
store with an empty, restarted conversation; supportbot/rasa_server/failures.py and the
caching tracker store change that (the processes themselves: tests/faults/)."""
from __future__ import annotations

import asyncio
import contextlib

import pytest
import sqlalchemy as sa
from rasa.core.actions.action import RemoteAction
from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from rasa.core.processor import MessageProcessor
from rasa.core.tracker_store import FailSafeTrackerStore, InMemoryTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, SessionStarted, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.utils.endpoints import EndpointConfig

from supportbot.rasa_server.failures import (
    ACTION_FAILED_REPLY,
    STORE_UNAVAILABLE_REPLY,
    ConversationStoreUnavailable,
    install_failure_replies,
)
from supportbot.rasa_server.tracker_store import CachingSQLTrackerStore
from supportbot.settings import PROJECT_ROOT
from tests.conftest import free_port


@pytest.fixture(scope="module")
def domain() -> Domain:
    return Domain.load(str(PROJECT_ROOT / "domain.yml"))


def run(coro):
    return asyncio.run(coro)


def store(domain, tmp_path) -> CachingSQLTrackerStore:
    return CachingSQLTrackerStore(domain=domain, dialect="sqlite", db=str(tmp_path / "t.db"),
                                  retry_seconds=0.05)


@contextlib.contextmanager
def database_away(s: CachingSQLTrackerStore, monkeypatch):
    """Every session of the store fails as an unreachable server does."""
    def unreachable():
        raise sa.exc.OperationalError("SELECT 1", {}, ConnectionError("connection refused"))

    with monkeypatch.context() as m:
        m.setattr(s, "session_scope", lambda: contextlib.closing(unreachable()))
        yield


def types(s: CachingSQLTrackerStore, sender: str) -> list[str]:
    with s.session_scope() as session:
        return [r.type_name for r in session.query(s.SQLEvent.type_name)
                .filter(s.SQLEvent.sender_id == sender).order_by(s.SQLEvent.id)]


def started(s: CachingSQLTrackerStore, sender: str) -> DialogueStateTracker:
    """A conversation as the processor starts it (action_session_start), saved."""
    tracker = DialogueStateTracker.from_events(sender, [
        ActionExecuted("action_session_start"), SessionStarted(), ActionExecuted("action_listen")])
    run(s.save(tracker))
    return run(s.retrieve(sender))


def user_turn(tracker: DialogueStateTracker, text: str) -> None:
    tracker.update(UserUttered(text, {"name": "inform", "confidence": 1.0}))
    tracker.update(BotUttered(f"reply to {text}"))
    tracker.update(ActionExecuted("action_listen"))


def test_an_unreachable_store_is_an_error_not_a_missing_conversation(domain, tmp_path, monkeypatch):
    s = store(domain, tmp_path)
    started(s, "c1")
    with database_away(s, monkeypatch):
        with pytest.raises(ConversationStoreUnavailable) as raised:
            run(s.retrieve("c1"))
        assert raised.value.store is s
        # through Rasa's fail-safe wrapper too: Rasa's own store answers None there, and the
        # processor starts an empty conversation (a new session) in its place
        with pytest.raises(ConversationStoreUnavailable):
            run(FailSafeTrackerStore(s).get_or_create_tracker("c1"))
    assert types(s, "c1") == ["action", "session_started", "action"]


def test_a_failed_save_keeps_the_events_and_writes_them_on_the_next_read(domain, tmp_path, monkeypatch):
    s = store(domain, tmp_path)
    tracker = started(s, "c1")
    user_turn(tracker, "one")
    run(s.save(tracker))
    tracker = run(s.retrieve("c1"))
    user_turn(tracker, "two")
    with database_away(s, monkeypatch):
        run(s.save(tracker))  # no exception: Rasa would put the events into a memory store
    assert s.held() == {"c1": 1}
    assert types(s, "c1").count("user") == 1
    again = run(s.retrieve("c1"))
    assert [e.text for e in again.events if isinstance(e, UserUttered)] == ["one", "two"]
    assert types(s, "c1").count("user") == 2 and types(s, "c1").count("session_started") == 1
    assert s.held() == {}


def test_kept_turns_are_written_in_order_when_the_database_answers(domain, tmp_path, monkeypatch):
    s = store(domain, tmp_path)
    tracker = started(s, "c1")
    user_turn(tracker, "one")
    run(s.save(tracker))
    with database_away(s, monkeypatch):
        with pytest.raises(ConversationStoreUnavailable):
            run(s.retrieve("c1"))
        s.keep("c1", [UserUttered("while away", {"name": "inform"}), BotUttered(STORE_UNAVAILABLE_REPLY)])
    tracker = run(s.retrieve("c1"))
    texts = [(e.type_name, getattr(e, "text", None)) for e in tracker.events
             if isinstance(e, (UserUttered, BotUttered))]
    assert texts[-2:] == [("user", "while away"), ("bot", STORE_UNAVAILABLE_REPLY)]
    assert tracker.get_slot("email") is None and types(s, "c1").count("session_started") == 1
    assert tracker.latest_action_name == "action_listen"


def test_the_background_retry_writes_kept_turns_without_another_message(domain, tmp_path, monkeypatch):
    s = store(domain, tmp_path)

    async def scenario():
        with database_away(s, monkeypatch):
            s.keep("new", [UserUttered("first words", {"name": "greet"}), BotUttered(STORE_UNAVAILABLE_REPLY)])
            await asyncio.sleep(0.2)  # retries fail while the database is away
            assert s.held() == {"new": 2}
        for _ in range(100):
            if not s.held():
                break
            await asyncio.sleep(0.05)

    run(scenario())
    assert s.held() == {}
    stored = types(s, "new")
    assert stored == ["action", "user", "bot", "action"]


def test_an_action_server_that_cannot_be_reached_gets_a_reply_not_silence(domain):
    install_failure_replies()
    action = RemoteAction("action_perform_task",
                          EndpointConfig(f"http://127.0.0.1:{free_port()}/webhook"))
    tracker = DialogueStateTracker.from_events("c1", [SessionStarted(), ActionExecuted("action_listen")])
    events = run(action.run(CollectingOutputChannel(), None, tracker, domain))
    assert [e.text for e in events if isinstance(e, BotUttered)] == [ACTION_FAILED_REPLY]


def test_the_fail_safe_store_keeps_rasas_behaviour_for_other_errors(domain):
    install_failure_replies()

    class Broken(InMemoryTrackerStore):
        async def retrieve(self, sender_id):
            raise RuntimeError("boom")

    assert run(FailSafeTrackerStore(Broken(domain)).retrieve("c1")) is None


def test_a_turn_the_store_cannot_take_is_answered_and_kept(domain, tmp_path):
    install_failure_replies()
    kept = {}

    class Store:
        def keep(self, sender_id, events):
            kept[sender_id] = events

    class Processor:  # what MessageProcessor.handle_message touches before the store fails
        async def log_message(self, message, should_save_tracker=True):
            raise ConversationStoreUnavailable(message.sender_id, Store())

        async def parse_message(self, message):
            return {"text": message.text, "intent": {"name": "inform", "confidence": 0.9},
                    "entities": []}

    output = CollectingOutputChannel()
    message = UserMessage("my code is 123456", output, "c1", input_channel="rest",
                          metadata={"channel": "rest"})
    replies = run(MessageProcessor.handle_message(Processor(), message))
    assert [r["text"] for r in replies] == [STORE_UNAVAILABLE_REPLY]
    user, bot = kept["c1"]
    assert user.text == "my code is 123456" and user.intent["name"] == "inform"
    assert bot.text == STORE_UNAVAILABLE_REPLY
