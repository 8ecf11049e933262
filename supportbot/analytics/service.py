"""AnalyticsService(engine): the analytics' facade, one short session per call (the console's
dashboard and `supportbot review report` call this)."""
from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Engine

from supportbot.analytics import facts, filters, linking, metrics
from supportbot.analytics.filters import OutcomeFilter
from supportbot.analytics.outcomes import OutcomeIndexer
from supportbot.core.timeutil import utcnow
from supportbot.db.engine import session_scope
from supportbot.review.indexer import Indexer


class AnalyticsService:
    def __init__(self, engine: Engine, *, clock: Callable[[], datetime] = utcnow) -> None:
        self.engine = engine
        self.clock = clock
        self.outcomes = OutcomeIndexer(engine, clock=clock)

    def reindex(self) -> int:
        """The review index, then the outcomes of every conversation it moved."""
        Indexer(self.engine).run_once()
        return self.outcomes.run_once()

    def report(self, scope: OutcomeFilter | None = None, *, as_of: datetime | None = None
               ) -> metrics.Report:
        with session_scope(self.engine) as session:
            return metrics.report(session, scope, as_of=as_of or self.clock())

    def compare_models(self, first: str, second: str, scope: OutcomeFilter | None = None, *,
                       as_of: datetime | None = None) -> tuple[metrics.Report, metrics.Report]:
        """The same metrics for two model ids, side by side."""
        scope = scope or OutcomeFilter()
        at = as_of or self.clock()
        return (self.report(scope.with_changes(model_id=first), as_of=at),
                self.report(scope.with_changes(model_id=second), as_of=at))

    def count(self, flt: OutcomeFilter) -> int:
        with session_scope(self.engine) as session:
            return filters.count(session, flt)

    def conversation_ids(self, flt: OutcomeFilter) -> list[str]:
        with session_scope(self.engine) as session:
            return filters.conversation_ids(session, flt)

    def links(self, conversation_id: str) -> tuple[list[linking.Link], list[linking.Link]]:
        """(re-contacts after it, conversations it re-contacts)."""
        with session_scope(self.engine) as session:
            return (linking.recontacts_after(session, conversation_id),
                    linking.recontact_of(session, conversation_id))

    def record_fact(self, kind: str, occurred_at: datetime, *, source: str,
                    details: Mapping[str, Any] | None = None, **ids: Any) -> int:
        with session_scope(self.engine) as session:
            return facts.record_fact(session, kind, occurred_at, source=source, details=details,
                                     now=self.clock(), **ids)
