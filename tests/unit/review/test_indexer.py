"""The incremental index: what a summary holds, incremental = full, resumed after a crash,
idempotent, serialised between indexers, late-committed rows (PostgreSQL)."""
from __future__ import annotations

import threading

import pytest
from sqlalchemy import select, text

from supportbot.review.indexer import Indexer
from supportbot.review.models import conversation_summaries
from tests.unit.review import conversations as conv
from tests.unit.review.helpers import snapshot


def _four(engine, core):
    conv.refund_issued(core, engine, "c-refund")
    conv.refund_declined(core, engine, "c-declined")
    conv.fallback_chat(engine, "c-fallback", core.clock)
    conv.card_number_chat(engine, "c-card", core.clock)


def _summary(engine, cid):
    with engine.connect() as conn:
        return conn.execute(select(conversation_summaries).where(
            conversation_summaries.c.conversation_id == cid)).mappings().one()


def test_a_summary_holds_what_the_conversation_and_the_core_say(engine, core):
    _four(engine, core)
    run = Indexer(engine).run_once()
    assert run.conversations == 4 and run.watermark > 0 and run.events > 90
    refund = _summary(engine, "c-refund")
    assert refund["channel"] == "rest" and refund["user_turns"] == 7
    assert refund["intents"] == ["greet", "request_refund", "inform", "affirm"]
    assert refund["first_task_intent"] == "request_refund"
    assert refund["lowest_confidence"] == pytest.approx(0.93)
    assert refund["actions"] == ["utter_greet", "action_start_task", "verify_order_form",
                                 "action_perform_task"]
    assert refund["verified"] is True and refund["verified_order_masked"] == "******001"
    assert (refund["refund_outcome"], refund["refund_amount_minor"], refund["refund_currency"]) == (
        "issued", 4900, "EUR")
    assert refund["handoff_team"] is None and refund["fallbacks"] == 0
    assert refund["model_id"] == conv.MODEL_ID and refund["review_status"] == "unreviewed"
    declined = _summary(engine, "c-declined")
    assert declined["channel"] == "widget"
    assert (declined["refund_outcome"], declined["refund_reason_code"]) == ("declined", "refund_window_passed")
    assert (declined["handoff_team"], declined["handoff_reason"]) == ("customer_service",
                                                                      "refund_window_passed")
    fallback = _summary(engine, "c-fallback")
    assert fallback["fallbacks"] == 1 and fallback["lowest_confidence"] == pytest.approx(0.21)
    assert fallback["first_task_intent"] == "faq" and fallback["verified"] is False
    assert fallback["refund_outcome"] == "none"
    tags = {(t[0], t[1]) for t in snapshot(engine)["tags"]}
    assert {("c-refund", "refund-issued"), ("c-declined", "refund-declined"),
            ("c-declined", "handed-off"), ("c-fallback", "low-confidence"),
            ("c-fallback", "fallback")} == tags


def test_incremental_indexing_equals_one_full_run(engine, core, tmp_path):
    # turn by turn: index after every save, conversations interleaved
    a = conv.Conversation("inc-a", core.clock)
    b = conv.Conversation("inc-b", core.clock, channel="widget")
    indexer = Indexer(engine, batch=3)
    for i in range(4):
        a.user(f"question {i} about invoices", "download_invoice", 0.8 - i / 10)
        a.action("action_start_task")
        a.bot(f"answer {i}")
        a.listen()
        a.save(engine)
        indexer.run_once()
        b.user(f"hello {i}", "greet", 0.99)
        b.action("utter_greet")
        b.listen()
        b.save(engine)
        if i % 2:
            indexer.run_once()
    indexer.run_once()
    incremental = snapshot(engine)
    assert incremental["summaries"]["inc-a"]["user_turns"] == 4
    assert incremental["summaries"]["inc-a"]["lowest_confidence"] == pytest.approx(0.5)
    assert incremental["summaries"]["inc-b"]["user_turns"] == 4

    # a full rebuild from scratch gives exactly the same index
    with engine.begin() as conn:
        for table in ("conversation_summaries", "review_facets", "review_tags", "review_index_state",
                      "review_fts"):
            conn.execute(text(f"DELETE FROM {table}"))
    Indexer(engine, batch=10_000).run_once()
    assert snapshot(engine) == incremental


def test_a_second_run_changes_nothing(engine, core):
    _four(engine, core)
    indexer = Indexer(engine)
    first = indexer.run_once()
    before = snapshot(engine)
    again = indexer.run_once()
    assert (again.events, again.conversations, again.batches) == (0, 0, 0)
    assert again.watermark == first.watermark
    assert snapshot(engine) == before


class Crash(Exception):
    pass


def test_a_crash_mid_run_resumes_where_the_last_batch_committed(engine, core):
    _four(engine, core)
    indexer = Indexer(engine, batch=7)
    batches = []

    def crash_on_third(watermark):
        batches.append(watermark)
        if len(batches) == 3:
            raise Crash("power cut")

    indexer.before_commit = crash_on_third
    with pytest.raises(Crash):
        indexer.run_once()
    # two batches committed, the third rolled back completely
    assert indexer.watermark() == batches[1]
    partial = snapshot(engine)
    assert sum(s["events"] for s in partial["summaries"].values()) == 14
    indexer.before_commit = None
    resumed = indexer.run_once()
    assert resumed.batches > 0
    after_resume = snapshot(engine)

    with engine.begin() as conn:
        for table in ("conversation_summaries", "review_facets", "review_tags", "review_index_state",
                      "review_fts"):
            conn.execute(text(f"DELETE FROM {table}"))
    Indexer(engine).run_once()
    assert snapshot(engine) == after_resume


def test_two_indexers_at_once_count_every_event_once(engine, core):
    _four(engine, core)
    errors = []

    def run():
        try:
            Indexer(engine, batch=5).run_once()
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with engine.connect() as conn:
        total_events = conn.execute(text("SELECT count(*) FROM events")).scalar_one()
        indexed = conn.execute(select(conversation_summaries.c.events)).scalars().all()
    assert sum(indexed) == total_events


def _insert_with_ids(engine, sender, events, first_id):
    with engine.begin() as conn:
        for offset, event in enumerate(events):
            conn.execute(text("INSERT INTO events (id, sender_id, type_name, timestamp, intent_name, "
                              "action_name, data) VALUES (:id, :sender_id, :type_name, :timestamp, "
                              ":intent_name, :action_name, :data)"),
                         {**conv.row_of(sender, event), "id": first_id + offset})


def test_a_turn_committed_late_below_the_watermark_is_not_lost(engine, core):
    """PostgreSQL hands out events.id before commit: another Rasa process's turn can become
    visible with ids below rows already indexed. The overlap re-reads them; nothing twice."""
    a = conv.Conversation("late-a", core.clock)
    a.user("hi", "greet")
    a.listen()
    _insert_with_ids(engine, "late-a", a.events, 100)  # ids 100..
    indexer = Indexer(engine, overlap=500)
    assert indexer.run_once().watermark == 100 + len(a.events) - 1
    # the other process's turn got ids 90.. but commits only now
    late = conv.Conversation("late-c", core.clock)
    late.user("my license key please", "get_license", 0.9)
    late.listen()
    _insert_with_ids(engine, "late-c", late.events, 90)
    more = conv.Conversation("late-a", core.clock)
    more.events = []
    more.user("still there?", "greet")
    _insert_with_ids(engine, "late-a", more.events, 200)
    indexer.run_once()
    assert _summary(engine, "late-c")["user_turns"] == 1
    assert _summary(engine, "late-a")["user_turns"] == 2
    before = snapshot(engine)
    indexer.run_once()
    Indexer(engine, overlap=500).run_once()
    assert snapshot(engine) == before  # the re-read rows were not counted twice


def test_no_events_table_means_nothing_to_index(tmp_path):
    from supportbot.db import migrate
    from supportbot.db.engine import make_engine

    engine = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    migrate.upgrade(engine)
    run = Indexer(engine).run_once()
    assert (run.events, run.conversations, run.watermark) == (0, 0, 0)
    engine.dispose()


def test_core_facts_that_change_later_are_picked_up(engine, core):
    """A refund issued after the last indexed turn shows once the next turn is indexed."""
    c = conv.Conversation("later", core.clock)
    c.user("refund for 100000002 please", "request_refund")
    c.save(engine)
    Indexer(engine).run_once()
    assert _summary(engine, "later")["refund_outcome"] == "none"
    assert core.services.verify_order("later", "bob@example.com", "100000002").status == "verified"
    core.services.issue_refund("later", "100000002", "no_longer_needed", "k-later")
    c.action("action_perform_task")
    c.save(engine)
    Indexer(engine).run_once()
    assert _summary(engine, "later")["refund_outcome"] == "declined"
    assert _summary(engine, "later")["verified"] is True


def test_reindex_conversations_rereads_the_core_without_new_events(engine, core):
    c = conv.Conversation("re-core", core.clock)
    c.user("I want to talk to a person", "contact_human", 0.95)
    c.save(engine)
    indexer = Indexer(engine)
    indexer.run_once()
    assert _summary(engine, "re-core")["handoff_team"] is None
    core.services.hand_off("re-core", "payment_processing", "customer_request", "asked for a person")
    before = _summary(engine, "re-core")
    assert indexer.reindex_conversations(["re-core"]) == 1
    after = _summary(engine, "re-core")
    assert (after["handoff_team"], after["handoff_reason"]) == ("payment_processing", "customer_request")
    assert after["user_turns"] == before["user_turns"] == 1  # no event counted again
    assert ("re-core", "handed-off", "auto") in snapshot(engine)["tags"]
