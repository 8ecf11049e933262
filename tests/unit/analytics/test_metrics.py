"""Seeded conversations with known outcomes give exactly the expected metrics (SQLite and
PostgreSQL), and every number is the count of the filter it links to."""
from __future__ import annotations

from datetime import timedelta

import pytest

from supportbot.analytics import filters, metrics
from supportbot.analytics.filters import OutcomeFilter
from supportbot.db.engine import session_scope
from tests.unit.analytics.scenarios import MODEL_B, seed
from tests.unit.review.conversations import MODEL_ID

IDS = {"refund": "conv-refund", "declined": "conv-declined", "erin_chat": "conv-erin-widget",
       "erin_mail": "email-conv-erin", "faq": "conv-faq", "abandoned": "conv-abandoned",
       "wrong": "conv-wrong", "mia": "conv-mia"}


def ids(*names):
    return sorted(IDS[n] for n in names)


@pytest.fixture
def seeded(core, engine):
    return seed(core, engine)


def _report(engine, seeded, scope=None):
    with session_scope(engine) as session:
        return metrics.report(session, scope, as_of=seeded.as_of)


def test_rates_overall_are_exactly_the_seeded_outcomes(engine, seeded):
    r = _report(engine, seeded)
    assert r.conversations.count == 8
    expected = {  # name: (successes, trials, who succeeds)
        "contained": (7, 8, ids("refund", "erin_chat", "erin_mail", "faq", "abandoned", "wrong",
                                "mia")),
        "resolved": (2, 8, ids("erin_mail", "mia")),
        "verification_success": (5, 6, ids("refund", "declined", "erin_chat", "erin_mail", "mia")),
        "fallback": (1, 8, ids("faq")),
        "abandoned": (1, 8, ids("abandoned")),
        "handoff": (1, 8, ids("declined")),
        "recontacted": (1, 8, ids("erin_chat")),
        "csat_up": (1, 2, ids("mia")),
    }
    with session_scope(engine) as session:
        for name, (successes, trials, who) in expected.items():
            rate = r.rates[name]
            assert (rate.count, rate.denominator) == (successes, trials), name
            assert rate.value == pytest.approx(successes / trials)
            # the number is its filter's count: the link shows exactly these conversations
            assert filters.conversation_ids(session, rate.filter) == who, name
            assert filters.count(session, rate.denominator_filter) == trials, name
    assert r.rates["verification_success"].interval.low == pytest.approx(0.4365, abs=5e-4)
    assert r.rates["verification_success"].interval.high == pytest.approx(0.9699, abs=5e-4)


def test_why_each_conversation_is_not_resolved(engine, seeded):
    flt = OutcomeFilter(as_of=seeded.as_of)
    with session_scope(engine) as session:
        def who(**fields):
            return filters.conversation_ids(session, flt.with_changes(**fields))

        assert who(later_fact=True) == ids("refund", "declined")  # reversal, reopened ticket
        assert who(recontacted=True) == ids("erin_chat")
        assert who(csat="down") == ids("faq")
        assert who(task_ended=False) == ids("abandoned", "wrong")
        assert who(resolved=False) == ids("refund", "declined", "erin_chat", "faq", "abandoned",
                                          "wrong")


def test_before_the_seven_days_nothing_counts_as_resolved(engine, seeded):
    early = seeded.as_of - timedelta(days=8) + timedelta(hours=1)
    with session_scope(engine) as session:
        r = metrics.report(session, as_of=early)
    assert (r.rates["resolved"].count, r.rates["resolved"].denominator) == (0, 0)
    assert r.rates["resolved"].interval is None and r.rates["resolved"].value is None


def test_breakdowns_by_first_task_intent_channel_and_model(engine, seeded):
    r = _report(engine, seeded)
    by_intent = r.breakdowns["first_task_intent"]
    assert {k: g.conversations.count for k, g in by_intent.items()} == {
        "get_license": 4, "request_refund": 2, "faq": 1, "download_invoice": 1}
    lic = by_intent["get_license"]
    assert (lic.rates["resolved"].count, lic.rates["resolved"].denominator) == (2, 4)
    assert (lic.rates["verification_success"].count,
            lic.rates["verification_success"].denominator) == (3, 4)
    assert (by_intent["request_refund"].rates["contained"].count,
            by_intent["request_refund"].rates["contained"].denominator) == (1, 2)
    by_channel = r.breakdowns["channel"]
    assert {k: g.conversations.count for k, g in by_channel.items()} == {
        "widget": 4, "rest": 3, "email": 1}
    assert by_channel["email"].rates["resolved"].count == 1
    by_model = r.breakdowns["model_id"]
    assert {k: g.conversations.count for k, g in by_model.items()} == {MODEL_ID: 6, MODEL_B: 2}
    assert (by_model[MODEL_B].rates["resolved"].count,
            by_model[MODEL_B].rates["resolved"].denominator) == (2, 2)
    assert (by_model[MODEL_ID].rates["resolved"].count,
            by_model[MODEL_ID].rates["resolved"].denominator) == (0, 6)
    with session_scope(engine) as session:
        for dimension, groups in r.breakdowns.items():
            for group in groups.values():
                assert filters.count(session, group.conversations.filter) == group.conversations.count
                for rate in group.rates.values():
                    assert filters.count(session, rate.filter) == rate.count, (dimension, rate)
                    assert filters.count(session, rate.denominator_filter) == rate.denominator


def test_days_handoffs_refunds_and_time_to_resolution(engine, seeded):
    r = _report(engine, seeded)
    first_day = seeded.first("refund").date()
    assert [(d.day, d.channel, d.count) for d in r.per_day] == [
        (first_day, "rest", 3), (first_day, "widget", 4),
        (first_day + timedelta(days=1), "email", 1)]
    assert [(h.team, h.reason, h.rate.count, h.rate.denominator) for h in r.handoffs] == [
        ("customer_service", "refund_window_passed", 1, 8)]
    assert [(i.currency, i.count, i.amount_minor) for i in r.refunds_issued] == [("EUR", 1, 4900)]
    assert [(n.outcome, n.reason_code, n.count) for n in r.refunds_not_issued] == [
        ("declined", "refund_window_passed", 1)]
    durations = sorted(int((seeded.task_end(n) - seeded.first(n)).total_seconds())
                       for n in ("erin_mail", "mia"))
    assert r.time_to_resolution.count == 2
    assert r.time_to_resolution.median_seconds == sum(durations) / 2
    assert r.time_to_resolution.p90_seconds == durations[1]
    with session_scope(engine) as session:
        for number in (*r.per_day, *r.refunds_issued, *r.refunds_not_issued):
            assert filters.count(session, number.filter) == number.count
        for h in r.handoffs:
            assert filters.conversation_ids(session, h.rate.filter) == ids("declined")
        assert filters.conversation_ids(session, r.time_to_resolution.filter) == ids("erin_mail",
                                                                                    "mia")


def test_scope_narrows_every_number(engine, seeded):
    scope = OutcomeFilter.from_params({"channel": "widget"})
    r = _report(engine, seeded, scope)
    assert r.conversations.count == 4
    assert (r.rates["resolved"].count, r.rates["resolved"].denominator) == (0, 4)
    assert dict(r.rates["resolved"].filter.to_params())["channel"] == "widget"


def test_filter_round_trips_through_the_url(seeded):
    flt = OutcomeFilter(as_of=seeded.as_of).with_changes(
        channel="email", first_task_intent="get_license", resolved=True, csat="none",
        started_from=seeded.first("mia").date())
    again = OutcomeFilter.from_params(dict(flt.to_params()))
    assert again == flt
    with pytest.raises(ValueError, match="csat"):
        OutcomeFilter.from_params({"csat": "meh"})
    with pytest.raises(ValueError, match="resolved"):
        OutcomeFilter.from_params({"resolved": "maybe"})
