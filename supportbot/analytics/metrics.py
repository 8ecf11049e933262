"""The metrics (definitions: docs/metrics.md), overall and per first task intent, channel and
model id, with counts and 95 % Wilson intervals. Every number carries the OutcomeFilter whose
count it is (`filters.count(session, number.filter) == number.count`), so it links to its list.

`report(session, scope, as_of=...)` runs one grouped query (conditional sums over summaries
joined with outcomes; GROUPING SETS on PostgreSQL, one query per breakdown on SQLite), one for
the days, one each for handoffs and refunds, and one
for the durations of resolved conversations; it never loads a tracker.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, case, func, select, text, true
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from supportbot.analytics.filters import O, OutcomeFilter, S, source
from supportbot.analytics.vocabulary import BREAKDOWNS, NONE_VALUE
from supportbot.analytics.wilson import Interval, wilson
from supportbot.core.timeutil import utcnow


@dataclass(frozen=True)
class MetricDefinition:
    name: str
    title: str
    definition: str
    denominator: dict[str, Any]  # OutcomeFilter fields of who is counted at all
    numerator: dict[str, Any]  # fields added for who counts as a success


RATES: tuple[MetricDefinition, ...] = (
    MetricDefinition("contained", "Contained",
                     "no handoff ticket was created in the conversation", {}, {"handed_off": False}),
    MetricDefinition("resolved", "Resolved",
                     "the task reached its end, and within 7 days there was no re-contact by the "
                     "same buyer, no refund reversal or failure, no chargeback, no reopened ticket, "
                     "and CSAT was not down; out of the conversations whose 7 days have passed",
                     {"window_closed": True}, {"resolved": True}),
    MetricDefinition("verification_success", "Verification success",
                     "an order was verified, out of the conversations that attempted a verification",
                     {"verification_attempted": True}, {"verified": True}),
    MetricDefinition("fallback", "Fallback rate", "the bot ran a fallback at least once", {},
                     {"had_fallback": True}),
    MetricDefinition("abandoned", "Abandonment",
                     "the bot asked something and no reply came within 30 minutes", {},
                     {"abandoned": True}),
    MetricDefinition("handoff", "Handoff rate", "a handoff ticket was created", {},
                     {"handed_off": True}),
    MetricDefinition("recontacted", "Re-contact rate",
                     "the same buyer (same order or verified email) wrote again within 7 days", {},
                     {"recontacted": True}),
    MetricDefinition("csat_up", "CSAT positive", "thumbs up, out of the conversations with a rating",
                     {"csat": "any"}, {"csat": "up"}),
)
RATE_NAMES = tuple(m.name for m in RATES)


@dataclass(frozen=True)
class Rate:
    name: str
    count: int  # the numerator
    denominator: int
    value: float | None
    interval: Interval | None
    filter: OutcomeFilter  # the numerator's conversations
    denominator_filter: OutcomeFilter


@dataclass(frozen=True)
class Count:
    count: int
    filter: OutcomeFilter


@dataclass(frozen=True)
class Group:
    """One value of a breakdown (an intent, a channel, a model id)."""

    value: str
    conversations: Count
    rates: dict[str, Rate]


@dataclass(frozen=True)
class DayCount:
    day: date
    channel: str
    count: int
    filter: OutcomeFilter


@dataclass(frozen=True)
class HandoffCount:
    team: str
    reason: str
    rate: Rate  # out of every conversation in scope


@dataclass(frozen=True)
class RefundsIssued:
    currency: str
    count: int
    amount_minor: int
    filter: OutcomeFilter


@dataclass(frozen=True)
class RefundsNotIssued:
    outcome: str  # declined | failed
    reason_code: str
    count: int
    filter: OutcomeFilter


@dataclass(frozen=True)
class Durations:
    count: int
    median_seconds: float | None
    p90_seconds: float | None
    filter: OutcomeFilter


@dataclass(frozen=True)
class Report:
    scope: OutcomeFilter
    as_of: datetime
    conversations: Count
    rates: dict[str, Rate]
    breakdowns: dict[str, dict[str, Group]]  # dimension -> value -> group
    per_day: tuple[DayCount, ...]
    handoffs: tuple[HandoffCount, ...]
    refunds_issued: tuple[RefundsIssued, ...]
    refunds_not_issued: tuple[RefundsNotIssued, ...]
    time_to_resolution: Durations


def _all(session: Session, flt: OutcomeFilter) -> ColumnElement:
    conditions = flt.conditions(session)
    return and_(*conditions) if conditions else true()


def _rate(definition: MetricDefinition, scope: OutcomeFilter, successes: int, trials: int) -> Rate:
    denominator_filter = scope.with_changes(**definition.denominator)
    return Rate(definition.name, successes, trials, successes / trials if trials else None,
                wilson(successes, trials),
                denominator_filter.with_changes(**definition.numerator), denominator_filter)


def _rate_columns(session: Session, as_of: datetime) -> list[Any]:
    columns = []
    for definition in RATES:
        bare = OutcomeFilter(as_of=as_of).with_changes(**definition.denominator)
        columns.append(func.sum(case((_all(session, bare), 1), else_=0)))
        columns.append(func.sum(case((_all(session, bare.with_changes(**definition.numerator)), 1),
                                     else_=0)))
    return columns


def _rates(scope: OutcomeFilter, values: Any) -> dict[str, Rate]:
    out = {}
    for i, definition in enumerate(RATES):
        trials, successes = int(values[2 * i] or 0), int(values[2 * i + 1] or 0)
        out[definition.name] = _rate(definition, scope, successes, trials)
    return out


def _dimension(name: str) -> Any:
    return getattr(S, name)


def _narrow(scope: OutcomeFilter, dimension: str, value: str | None) -> tuple[str, OutcomeFilter]:
    key = NONE_VALUE if value is None else str(value)
    return key, scope.with_changes(**{dimension: key})


def _grouped(session: Session, base: Any, rate_columns: list[Any]
             ) -> tuple[Any, dict[str, list[tuple[Any, Any]]]]:
    """(count, *rate sums) overall and per value of each breakdown. PostgreSQL: one scan with
    GROUPING SETS; elsewhere one query per breakdown."""
    dims = [_dimension(d) for d in BREAKDOWNS]
    grouped: dict[str, list[tuple[Any, Any]]] = {d: [] for d in BREAKDOWNS}
    if session.get_bind().dialect.name == "postgresql":
        overall = None
        every = (1 << len(dims)) - 1
        for row in session.execute(base.add_columns(func.grouping(*dims), *dims, func.count(),
                                                    *rate_columns)
                                   .group_by(func.grouping_sets(text("()"), *dims))):
            mask, values, rest = row[0], row[1:1 + len(dims)], tuple(row[1 + len(dims):])
            if mask == every:
                overall = rest
                continue
            for i, dimension in enumerate(BREAKDOWNS):
                if not mask & (1 << (len(dims) - 1 - i)):
                    grouped[dimension].append((values[i], rest))
        if overall is None:  # no rows at all
            overall = tuple(session.execute(base.add_columns(func.count(), *rate_columns)).one())
        return overall, grouped
    overall = tuple(session.execute(base.add_columns(func.count(), *rate_columns)).one())
    for dimension, column in zip(BREAKDOWNS, dims, strict=True):
        for row in session.execute(base.add_columns(column, func.count(), *rate_columns)
                                   .group_by(column)):
            grouped[dimension].append((row[0], tuple(row[1:])))
    return overall, grouped


def _day_of(session: Session) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        return func.date(func.timezone("UTC", S.first_activity))
    return func.date(S.first_activity)


def report(session: Session, scope: OutcomeFilter | None = None, *,
           as_of: datetime | None = None) -> Report:
    as_of = as_of or (scope.as_of if scope and scope.as_of else None) or utcnow()
    scope = (scope or OutcomeFilter()).with_changes(as_of=as_of)
    where = scope.conditions(session)
    base = select().select_from(source()).where(*where)
    rate_columns = _rate_columns(session, as_of)

    overall, grouped = _grouped(session, base, rate_columns)
    conversations = Count(int(overall[0] or 0), scope)
    rates = _rates(scope, overall[1:])
    breakdowns: dict[str, dict[str, Group]] = {}
    for dimension in BREAKDOWNS:
        groups = []
        for value, row in grouped[dimension]:
            key, narrowed = _narrow(scope, dimension, value)
            groups.append(Group(key, Count(int(row[0]), narrowed), _rates(narrowed, row[1:])))
        groups.sort(key=lambda g: (-g.conversations.count, g.value))
        breakdowns[dimension] = {g.value: g for g in groups}

    day = _day_of(session)
    per_day = []
    for day_value, channel, n in session.execute(base.add_columns(day, S.channel, func.count())
                                                 .group_by(day, S.channel).order_by(day, S.channel)):
        the_day = day_value if isinstance(day_value, date) else date.fromisoformat(str(day_value)[:10])
        per_day.append(DayCount(the_day, channel, int(n),
                                scope.with_changes(started_from=the_day, started_to=the_day,
                                                   channel=channel)))

    handoff_definition = next(m for m in RATES if m.name == "handoff")
    handoffs = []
    for team, reason, n in session.execute(
            base.add_columns(S.handoff_team, S.handoff_reason, func.count())
            .where(S.handoff_team.is_not(None))
            .group_by(S.handoff_team, S.handoff_reason).order_by(S.handoff_team, S.handoff_reason)):
        narrowed = scope.with_changes(team=team, handoff_reason=reason)
        rate = _rate(handoff_definition, scope, int(n), conversations.count)
        handoffs.append(HandoffCount(team, reason, Rate(
            "handoff", rate.count, rate.denominator, rate.value, rate.interval, narrowed, scope)))

    issued = tuple(
        RefundsIssued(currency, int(n), int(amount or 0),
                      scope.with_changes(refund="issued", refund_currency=currency))
        for currency, n, amount in session.execute(
            base.add_columns(S.refund_currency, func.count(), func.sum(S.refund_amount_minor))
            .where(S.refund_outcome == "issued").group_by(S.refund_currency)
            .order_by(S.refund_currency)))
    not_issued = tuple(
        RefundsNotIssued(outcome, code, int(n),
                         scope.with_changes(refund=outcome, refund_reason_code=code))
        for outcome, code, n in session.execute(
            base.add_columns(S.refund_outcome, S.refund_reason_code, func.count())
            .where(S.refund_outcome.in_(("declined", "failed")))
            .group_by(S.refund_outcome, S.refund_reason_code)
            .order_by(S.refund_outcome, S.refund_reason_code)))

    resolved_scope = scope.with_changes(resolved=True)
    seconds = sorted(int(s) for s in session.execute(
        select(O.seconds_to_end).select_from(source())
        .where(*resolved_scope.conditions(session), O.seconds_to_end.is_not(None))).scalars())
    durations = Durations(len(seconds), _quantile(seconds, 0.5), _quantile(seconds, 0.9),
                          resolved_scope)

    return Report(scope, as_of, conversations, rates, breakdowns, tuple(per_day), tuple(handoffs),
                  issued, not_issued, durations)


def _quantile(values: list[int], q: float) -> float | None:
    """The median as usual (mean of the middle two); other quantiles by nearest rank."""
    if not values:
        return None
    if q == 0.5:
        middle = len(values) // 2
        return float(values[middle]) if len(values) % 2 else (values[middle - 1] + values[middle]) / 2
    return float(values[max(0, math.ceil(q * len(values)) - 1)])
