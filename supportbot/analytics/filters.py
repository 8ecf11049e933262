"""OutcomeFilter: the review console's ConversationFilter plus the outcome fields.

Every number of the analytics is the count of one OutcomeFilter (`count(session, flt)`), so a
number links to the list behind it: `to_params()` is its URL query (the ConversationFilter keys
plus the ones below). The conditions read `conversation_summaries` joined (inner) with
`conversation_outcomes`: a conversation counts once the OutcomeIndexer has folded it.

Resolution, abandonment and re-contact depend on when you look: `as_of` (in the URL, so a link
shows the same conversations later); None means "now" when the query runs.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

from sqlalchemy import and_, func, literal, not_, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import FromClause

from supportbot.analytics.models import conversation_outcomes
from supportbot.analytics.vocabulary import ABANDON_AFTER, CSAT_VALUES, NONE_VALUE
from supportbot.core.timeutil import utcnow
from supportbot.db.models import UTCDateTime
from supportbot.review import queries
from supportbot.review.errors import InvalidInput
from supportbot.review.models import conversation_summaries
from supportbot.review.queries import ConversationFilter

S = conversation_summaries.c
O = conversation_outcomes.c  # noqa: E741
CSAT_CHOICES = (*CSAT_VALUES, "none", "any")
_BOOLS = ("verification_attempted", "task_ended", "window_closed", "resolved", "abandoned",
          "recontacted", "later_fact")
_STRINGS = ("first_task_intent", "model_id", "handoff_reason", "refund_reason_code",
            "refund_currency", "csat")
_DATES = ("started_from", "started_to")
_BASE_FIELDS = frozenset(f.name for f in fields(ConversationFilter))


def source() -> FromClause:
    """FROM of every analytics query: summaries joined with their outcome rows."""
    return conversation_summaries.join(conversation_outcomes,
                                       O.conversation_id == S.conversation_id)


@dataclass(frozen=True)
class OutcomeFilter:
    base: ConversationFilter = field(default_factory=ConversationFilter)
    first_task_intent: str | None = None  # "none": no task intent
    model_id: str | None = None  # "none": no model id recorded
    started_from: date | None = None  # first activity on or after this UTC day
    started_to: date | None = None  # first activity on or before this UTC day
    handoff_reason: str | None = None
    refund_reason_code: str | None = None
    refund_currency: str | None = None
    csat: str | None = None  # up | down | none | any
    verification_attempted: bool | None = None
    task_ended: bool | None = None
    window_closed: bool | None = None  # the 7 days after the task end (or last activity) passed
    resolved: bool | None = None
    abandoned: bool | None = None
    recontacted: bool | None = None
    later_fact: bool | None = None  # a refund reversal / failure, chargeback or reopened ticket
    as_of: datetime | None = None

    def __post_init__(self) -> None:
        if self.csat is not None and self.csat not in CSAT_CHOICES:
            raise InvalidInput("csat", f"one of {', '.join(CSAT_CHOICES)}")
        if self.started_from and self.started_to and self.started_from > self.started_to:
            raise InvalidInput("started_to", "must not be before started_from")
        if self.as_of is not None and (self.as_of.tzinfo is None or self.as_of.utcoffset() is None):
            raise InvalidInput("as_of", "a time with its time zone")

    # ---- URL

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> OutcomeFilter:
        values: dict[str, Any] = {"base": ConversationFilter.from_params(params)}
        for name in (*_STRINGS, *_BOOLS, *_DATES, "as_of"):
            raw = params.get(name)
            if isinstance(raw, (list, tuple)):
                raw = raw[0] if raw else None
            if raw is None or str(raw).strip() == "":
                continue
            values[name] = _parse(name, str(raw).strip())
        return cls(**values)

    def to_params(self) -> list[tuple[str, str]]:
        out = self.base.to_params()
        for f in fields(self):
            if f.name == "base":
                continue
            value = getattr(self, f.name)
            if value is None:
                continue
            if isinstance(value, bool):
                out.append((f.name, "true" if value else "false"))
            elif isinstance(value, (date, datetime)):
                out.append((f.name, value.isoformat()))
            else:
                out.append((f.name, str(value)))
        return out

    def with_changes(self, **changes: Any) -> OutcomeFilter:
        """Change fields of this filter or of its ConversationFilter (by their names)."""
        base_changes = {k: v for k, v in changes.items() if k in _BASE_FIELDS}
        own = {k: v for k, v in changes.items() if k not in _BASE_FIELDS}
        base = self.base.with_changes(**base_changes) if base_changes else self.base
        return replace(self, base=base, **own)

    # ---- SQL

    def conditions(self, session: Session) -> list[ColumnElement]:
        where = queries.conditions(session, self.base)
        for name in ("first_task_intent", "model_id"):
            value = getattr(self, name)
            if value is not None:
                column = getattr(S, name)
                where.append(column.is_(None) if value == NONE_VALUE else column == value)
        for name, column in (("handoff_reason", S.handoff_reason),
                             ("refund_reason_code", S.refund_reason_code),
                             ("refund_currency", S.refund_currency)):
            value = getattr(self, name)
            if value is not None:
                where.append(column == value)
        if self.started_from:
            where.append(S.first_activity >= _at(_day_start(self.started_from)))
        if self.started_to:
            where.append(S.first_activity < _at(_day_start(self.started_to + timedelta(days=1))))
        if self.csat == "none":
            where.append(O.csat.is_(None))
        elif self.csat == "any":
            where.append(O.csat.is_not(None))
        elif self.csat is not None:
            where.append(O.csat == self.csat)
        as_of = self.as_of or utcnow()
        expressions = {
            "verification_attempted": O.verification_attempted.is_(True),
            "task_ended": O.task_ended_at.is_not(None),
            "window_closed": window_closed(as_of),
            "resolved": resolved(as_of),
            "abandoned": abandoned(as_of),
            "recontacted": recontacted(),
            "later_fact": later_fact(),
        }
        for name, expression in expressions.items():
            value = getattr(self, name)
            if value is not None:
                where.append(expression if value else not_(expression))
        return where


def parse_param(name: str, raw: str) -> Any:
    """One outcome field from its URL text (InvalidInput naming the field when bad)."""
    return _parse(name, raw.strip())


def _parse(name: str, raw: str) -> Any:
    if name in _BOOLS:
        low = raw.lower()
        if low in ("1", "true", "yes", "on"):
            return True
        if low in ("0", "false", "no", "off"):
            return False
        raise InvalidInput(name, "true or false")
    if name in _DATES:
        try:
            return date.fromisoformat(raw[:10])
        except ValueError:
            raise InvalidInput(name, "a date YYYY-MM-DD") from None
    if name == "as_of":
        try:
            value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            raise InvalidInput(name, "a time YYYY-MM-DDTHH:MM:SS+00:00") from None
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value
    if len(raw) > queries.MAX_TEXT_QUERY:
        raise InvalidInput(name, f"at most {queries.MAX_TEXT_QUERY} characters")
    return raw


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=timezone.utc)


def _at(value: datetime) -> ColumnElement:
    return literal(value, UTCDateTime())


# --------------------------------------------------------------------------- the definitions

def window_closed(as_of: datetime) -> ColumnElement:
    return O.window_end <= _at(as_of)


def recontacted() -> ColumnElement:
    """The same buyer (an order or verified email in common) started another conversation after
    this one began and before its window ended (kept by linking.refresh_derived)."""
    return O.recontacted_at.is_not(None)


def later_fact() -> ColumnElement:
    """A refund reversal or failure, a chargeback or a reopened ticket about this conversation
    before its window ended (kept by linking.refresh_derived)."""
    return O.later_fact_at.is_not(None)


def resolved(as_of: datetime) -> ColumnElement:
    return and_(O.task_ended_at.is_not(None), window_closed(as_of),
                or_(O.csat.is_(None), O.csat != "down"), not_(recontacted()), not_(later_fact()))


def abandoned(as_of: datetime) -> ColumnElement:
    return or_(O.abandoned_at.is_not(None),
               and_(O.open_question_at.is_not(None), O.open_question_at <= _at(as_of - ABANDON_AFTER)))


def count(session: Session, flt: OutcomeFilter) -> int:
    return int(session.execute(select(func.count()).select_from(source())
                               .where(*flt.conditions(session))).scalar_one())


def conversation_ids(session: Session, flt: OutcomeFilter) -> list[str]:
    return list(session.execute(select(S.conversation_id).select_from(source())
                                .where(*flt.conditions(session)).order_by(S.conversation_id)).scalars())
