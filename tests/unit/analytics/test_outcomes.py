"""The outcome index, later facts and re-contact links."""
from __future__ import annotations

from datetime import timedelta

import pytest
from rasa.shared.core.events import SlotSet
from sqlalchemy import func, select

from supportbot.analytics import filters, linking
from supportbot.analytics.facts import facts_of, import_facts, record_fact
from supportbot.analytics.filters import OutcomeFilter
from supportbot.analytics.models import conversation_buyer_keys, outcome_facts
from supportbot.analytics.outcomes import OutcomeIndexer, email_key, forget, outcome_row
from supportbot.db.engine import session_scope
from supportbot.review.erasure import erase_conversation
from supportbot.review.errors import InvalidInput
from supportbot.review.indexer import Indexer
from tests.unit.analytics.scenarios import abandoned_chat, license_chat, seed
from tests.unit.review.conversations import write


def _index(engine, clock):
    Indexer(engine).run_once()
    return OutcomeIndexer(engine, clock=clock).run_once()


def test_abandonment_needs_thirty_minutes_without_a_reply(core, engine, clock):
    c = abandoned_chat(core, engine, "conv-quiet")
    _index(engine, clock)
    asked = c.events[-2].timestamp  # the bot's question, then action_listen
    with session_scope(engine) as session:
        row = outcome_row(session, "conv-quiet")
        assert row["open_question_at"].timestamp() == pytest.approx(asked)
        assert row["abandoned_at"] is None

        def abandoned(minutes):
            at = row["open_question_at"] + timedelta(minutes=minutes)
            return filters.conversation_ids(session, OutcomeFilter(as_of=at, abandoned=True))

        assert abandoned(29) == []
        assert abandoned(31) == ["conv-quiet"]
    # the customer answers 45 minutes later: still abandoned (the reply did not come within 30)
    clock.advance(minutes=45)
    c.user("dan@example.com", "inform", 0.99)
    c.save(engine)
    assert _index(engine, clock) == 1
    with session_scope(engine) as session:
        row = outcome_row(session, "conv-quiet")
        assert row["open_question_at"] is None
        assert row["abandoned_at"].timestamp() == pytest.approx(asked)


def test_a_quick_reply_is_not_abandonment(core, engine, clock):
    c = abandoned_chat(core, engine, "conv-quick")
    clock.advance(minutes=29)
    c.user("dan@example.com", "inform", 0.99)
    c.loop(None)
    c.slot("requested_slot", None)  # the form is done: "Thanks." asks nothing
    c.bot("Thanks.")
    c.save(engine)
    _index(engine, clock)
    with session_scope(engine) as session:
        row = outcome_row(session, "conv-quick")
        assert row["abandoned_at"] is None and row["open_question_at"] is None
        assert filters.count(session, OutcomeFilter(as_of=clock() + timedelta(days=1),
                                                    abandoned=True)) == 0


def test_indexing_is_incremental_and_idempotent(core, engine, clock):
    license_chat(core, engine, "conv-a", "mia@example.com", "100000014", channel="rest")
    assert _index(engine, clock) == 1
    assert OutcomeIndexer(engine, clock=clock).run_once() == 0  # nothing moved
    with session_scope(engine) as session:
        assert outcome_row(session, "conv-a")["csat"] is None
        keys = set(session.execute(select(conversation_buyer_keys.c.kind, conversation_buyer_keys.c.value)
                                   .where(conversation_buyer_keys.c.conversation_id == "conv-a")))
    assert ("email", email_key("MIA@example.com ")) in keys
    assert any(kind == "order" for kind, _ in keys)
    assert all("@" not in value for _, value in keys)  # never the address itself
    clock.advance(minutes=1)
    write(engine, "conv-a", [SlotSet("csat", "up", timestamp=clock().timestamp())])
    assert _index(engine, clock) == 1
    with session_scope(engine) as session:
        assert outcome_row(session, "conv-a")["csat"] == "up"


def test_facts_link_to_the_conversation_and_are_recorded_once(core, engine):
    seeded = seed(core, engine)
    with session_scope(engine) as session:
        reversal = facts_of(session, "conv-refund")
        assert [(f["kind"], f["source"]) for f in reversal] == [("refund_reversed", "import")]
        assert facts_of(session, "conv-declined")[0]["kind"] == "ticket_reopened"
        # a re-delivered update is a no-op
        again = record_fact(session, "refund_reversed", seeded.as_of, source="import",
                            refund_id=reversal[0]["refund_id"], external_id="provider-update-1")
        assert again == seeded.facts["reversal"]
        assert session.execute(select(func.count()).select_from(outcome_facts)).scalar_one() == 2
        # a chargeback names only the order: the latest conversation about it before the fact
        cid = session.execute(select(outcome_facts.c.conversation_id).where(
            outcome_facts.c.id == record_fact(session, "chargeback_opened",
                                              seeded.first("erin_mail") + timedelta(hours=1),
                                              source="webhook", order_reference="100000006"))
        ).scalar_one()
        assert cid == "email-conv-erin"
        for kwargs, name in (({"kind": "refund_lost"}, "kind"),
                             ({"kind": "refund_reversed"}, "refund_id"),
                             ({"kind": "refund_reversed", "refund_id": 999999}, "refund_id"),
                             ({"kind": "ticket_reopened"}, "ticket_id"),
                             ({"kind": "chargeback_opened", "order_reference": "999999999"},
                              "order_reference"),
                             ({"kind": "chargeback_opened", "source": "email"}, "source")):
            args = {"source": "import", **kwargs}
            with pytest.raises(InvalidInput) as caught:
                record_fact(session, args.pop("kind"), seeded.as_of, **args)
            assert caught.value.field == name
        with pytest.raises(InvalidInput):
            record_fact(session, "refund_reversed", seeded.as_of.replace(tzinfo=None),
                        source="import", refund_id=1)


def test_recontact_links_widget_chat_and_email(core, engine):
    seed(core, engine)
    with session_scope(engine) as session:
        after = linking.recontacts_after(session, "conv-erin-widget")
        assert [(link.later, link.basis, link.later_channel) for link in after] == [
            ("email-conv-erin", ("email",), "email")]
        assert [link.earlier for link in linking.recontact_of(session, "email-conv-erin")] == [
            "conv-erin-widget"]
        assert linking.recontacts_after(session, "email-conv-erin") == []
        assert linking.recontacts_after(session, "conv-mia") == []


def test_writing_again_after_seven_days_is_not_a_recontact(core, engine, clock):
    license_chat(core, engine, "conv-first", "mia@example.com", "100000014", channel="widget")
    clock.advance(days=7, minutes=5)
    license_chat(core, engine, "email-second", "mia@example.com", "100000014", channel="email")
    _index(engine, clock)
    with session_scope(engine) as session:
        assert linking.recontacts_after(session, "conv-first") == []
        flt = OutcomeFilter(as_of=clock() + timedelta(days=8))
        assert filters.conversation_ids(session, flt.with_changes(recontacted=True)) == []
        assert filters.conversation_ids(session, flt.with_changes(resolved=True)) == [
            "conv-first", "email-second"]


def test_same_order_within_seven_days_is_a_recontact(core, engine, clock):
    license_chat(core, engine, "conv-first", "mia@example.com", "100000014", channel="widget")
    clock.advance(days=6)
    license_chat(core, engine, "conv-second", "mia@example.com", "100000014", channel="rest")
    _index(engine, clock)
    with session_scope(engine) as session:
        assert [(link.later, link.basis) for link in linking.recontacts_after(session, "conv-first")
                ] == [("conv-second", ("email", "order"))]


def test_import_of_provider_updates_is_all_or_nothing(core, engine):
    seeded = seed(core, engine)
    at = (seeded.first("erin_mail") + timedelta(hours=2)).isoformat()
    with session_scope(engine) as session:
        before = session.execute(select(func.count()).select_from(outcome_facts)).scalar_one()
    bad = [{"kind": "chargeback_opened", "occurred_at": at, "order_reference": "100000006",
            "external_id": "cb-1"},
           {"kind": "chargeback_opened", "occurred_at": "2024-06-05T10:00:00",  # no time zone
            "order_reference": "100000005"}]
    with pytest.raises(InvalidInput) as caught, session_scope(engine) as session:
        import_facts(session, bad, source="import")
    assert caught.value.field == "records[1].occurred_at"
    with pytest.raises(InvalidInput) as caught, session_scope(engine) as session:
        import_facts(session, [{**bad[0], "amount": 5}], source="import")
    assert caught.value.field == "records[0].amount"
    with session_scope(engine) as session:
        assert session.execute(select(func.count()).select_from(outcome_facts)).scalar_one() == before
        ids = import_facts(session, bad[:1], source="import")
        assert import_facts(session, bad[:1], source="import") == ids  # re-delivered: no-op
    with session_scope(engine) as session:
        flt = OutcomeFilter(as_of=seeded.as_of)
        assert filters.conversation_ids(session, flt.with_changes(later_fact=True)) == [
            "conv-declined", "conv-refund", "email-conv-erin"]
        assert filters.conversation_ids(session, flt.with_changes(resolved=True)) == ["conv-mia"]


def test_an_erased_conversation_leaves_the_outcomes_and_its_links(core, engine, clock):
    seed(core, engine)
    with session_scope(engine) as session:
        erase_conversation(session, "email-conv-erin", "lead@example.com")
    OutcomeIndexer(engine, clock=clock).run_once()
    with session_scope(engine) as session:
        assert outcome_row(session, "email-conv-erin") is None
        assert session.execute(select(func.count()).select_from(conversation_buyer_keys).where(
            conversation_buyer_keys.c.conversation_id == "email-conv-erin")).scalar_one() == 0
        # the widget chat is no longer followed by a re-contact
        assert outcome_row(session, "conv-erin-widget")["recontacted_at"] is None
        assert linking.recontacts_after(session, "conv-erin-widget") == []


def test_forget_keeps_the_fact_without_the_conversation(core, engine):
    seed(core, engine)
    with session_scope(engine) as session:
        forget(session, ["conv-refund"])
    with session_scope(engine) as session:
        assert outcome_row(session, "conv-refund") is None
        kinds = session.execute(select(outcome_facts.c.kind, outcome_facts.c.conversation_id)
                                .order_by(outcome_facts.c.id)).all()
        assert [tuple(k) for k in kinds] == [("refund_reversed", None),
                                             ("ticket_reopened", "conv-declined")]


def test_perform_task_without_a_verified_order_is_no_task_end(core, engine, clock):
    c = abandoned_chat(core, engine, "conv-unverified")
    c.user("100000001", "inform", 0.98)
    c.slot("order_ref", "100000001")
    c.loop(None)
    c.slot("requested_slot", None)
    c.action("action_perform_task")
    c.bot("I can help with orders, refunds and subscriptions.")
    c.listen()
    c.save(engine)
    _index(engine, clock)
    with session_scope(engine) as session:
        assert outcome_row(session, "conv-unverified")["task_ended_at"] is None
