"""ReviewService: the review domain's facade, owning its unit of work (one short session per call).

The console (supportbot/console/) calls this; everything it does is also available as plain
functions taking a session (queries, judging, exports, queue, erasure) for callers that compose
several steps in one transaction.
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import IO, Any

from sqlalchemy.engine import Engine

from supportbot.db.engine import session_scope
from supportbot.review import audit, judging, queries
from supportbot.review.indexer import Indexer, IndexRun
from supportbot.review.queries import ConversationFilter, ConversationRow, Page, Transcript


class ReviewService:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.indexer = Indexer(engine)

    # ---- index
    def reindex(self, batch: int | None = None) -> IndexRun:
        return self.indexer.run_once(batch=batch)

    # ---- find and read
    def list(self, flt: ConversationFilter | None = None, page: int = 1, page_size: int = 50) -> Page:
        with session_scope(self.engine) as session:
            return queries.list_conversations(session, flt, page=page, page_size=page_size)

    def conversation(self, conversation_id: str) -> ConversationRow:
        with session_scope(self.engine) as session:
            return queries.conversation(session, conversation_id)

    def transcript(self, conversation_id: str, page: int = 1, page_size: int = 100, *,
                   reveal_by: str | None = None) -> Transcript:
        """With `reveal_by` (the console user) emails are shown unmasked and the reveal is
        audited in the same transaction."""
        with session_scope(self.engine) as session:
            result = queries.transcript(session, conversation_id, page, page_size,
                                        reveal=reveal_by is not None)
            if reveal_by is not None:
                audit.record_reveal(session, reveal_by, conversation_id)
            return result

    # ---- judge
    def set_review_status(self, conversation_id: str, status: str, actor: str) -> None:
        with session_scope(self.engine) as session:
            judging.set_review_status(session, conversation_id, status, actor)

    def add_tag(self, conversation_id: str, tag: str, actor: str) -> str:
        with session_scope(self.engine) as session:
            return judging.add_tag(session, conversation_id, tag, actor)

    def remove_tag(self, conversation_id: str, tag: str, actor: str) -> bool:
        with session_scope(self.engine) as session:
            return judging.remove_tag(session, conversation_id, tag, actor)

    def add_note(self, conversation_id: str, body: str, actor: str) -> int:
        with session_scope(self.engine) as session:
            return judging.add_note(session, conversation_id, body, actor)

    def correct_intent(self, conversation_id: str, event_id: int, intent: str, actor: str
                       ) -> judging.Correction:
        with session_scope(self.engine) as session:
            return judging.correct_intent(session, conversation_id, event_id, intent, actor)

    def known_intents(self) -> list[str]:
        return sorted(judging.known_intents())

    # ---- export (text formats written to `out`; the export is audited with its filter)
    def export(self, fmt: str, flt: ConversationFilter, out: IO[str], actor: str,
               conversation_ids: list[str] | None = None) -> int:
        from supportbot.review import exports

        with session_scope(self.engine) as session:
            return exports.export(session, fmt, flt, out, actor, conversation_ids=conversation_ids)

    # ---- the human teams' queue
    def open_tickets(self, team: str | None = None) -> list[Any]:
        from supportbot.review import queue

        with session_scope(self.engine) as session:
            return queue.open_tickets(session, team)

    def ticket(self, ticket_id: int) -> Any:
        from supportbot.review import queue

        with session_scope(self.engine) as session:
            return queue.ticket(session, ticket_id)

    def claim(self, ticket_id: int, actor: str) -> Any:
        from supportbot.review import queue

        with session_scope(self.engine) as session:
            return queue.claim(session, ticket_id, actor)

    def close(self, ticket_id: int, actor: str, resolution: str) -> Any:
        from supportbot.review import queue

        with session_scope(self.engine) as session:
            return queue.close(session, ticket_id, actor, resolution)

    # ---- erasure
    def erase(self, conversation_id: str, actor: str) -> Any:
        from supportbot.review import erasure

        with session_scope(self.engine) as session:
            return erasure.erase_conversation(session, conversation_id, actor)

    def iter_ids(self, flt: ConversationFilter) -> Iterator[list[str]]:
        with session_scope(self.engine) as session:
            yield from queries.iter_conversation_ids(session, flt)
