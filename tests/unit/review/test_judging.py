"""Judging: review status, tags (manual and automatic), notes, intent corrections; all audited."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from supportbot.db.engine import session_scope
from supportbot.review import judging, queries
from supportbot.review.errors import ConversationNotFound, InvalidInput
from supportbot.review.indexer import Indexer
from supportbot.review.models import review_tags
from supportbot.review.queries import ConversationFilter
from supportbot.review.service import ReviewService
from tests.unit.review import conversations as conv
from tests.unit.review.helpers import audit_entries

LEAD = "lena.lead@reseller.example.com"  # longer than audit_log.actor's 32 characters


@pytest.fixture
def indexed(engine, core):
    conv.fallback_chat(engine, "j-1", core.clock)
    conv.card_number_chat(engine, "j-2", core.clock)
    Indexer(engine).run_once()
    return engine


def test_review_status_is_set_filtered_and_audited(indexed):
    service = ReviewService(indexed)
    service.set_review_status("j-1", "needs_attention", LEAD)
    assert [r.conversation_id for r in service.list(ConversationFilter(review_status="needs_attention")).items] \
        == ["j-1"]
    with pytest.raises(InvalidInput):
        service.set_review_status("j-1", "done", LEAD)
    with pytest.raises(ConversationNotFound):
        service.set_review_status("missing", "reviewed", LEAD)
    entry = audit_entries(indexed)[-1]
    assert entry["action"] == "review.status" and entry["conversation_id"] == "j-1"
    assert entry["actor"] == LEAD[:32] and entry["details"]["user"] == LEAD
    assert entry["details"]["status"] == "needs_attention"


def test_reindexing_keeps_the_review_status(indexed, core):
    ReviewService(indexed).set_review_status("j-1", "reviewed", LEAD)
    more = conv.Conversation("j-1", core.clock, channel="widget")
    more.events = []
    more.user("thanks", "thanks")
    more.save(indexed)
    Indexer(indexed).run_once()
    assert ReviewService(indexed).conversation("j-1").review_status == "reviewed"


def test_tags_add_remove_filter_and_rules(indexed, core):
    service = ReviewService(indexed)
    assert service.add_tag("j-2", "  Card In Text ", LEAD) == "card-in-text"
    assert service.add_tag("j-2", "card-in-text", LEAD) == "card-in-text"  # once
    assert [r.conversation_id for r in service.list(ConversationFilter(tag="card-in-text")).items] == ["j-2"]
    for bad in ("", "   ", "x" * 65, "<script>", "-starts-with-dash"):
        with pytest.raises(InvalidInput):
            service.add_tag("j-2", bad, LEAD)
    assert service.remove_tag("j-2", "card-in-text", LEAD) is True
    assert service.remove_tag("j-2", "card-in-text", LEAD) is False
    assert service.list(ConversationFilter(tag="card-in-text")).total == 0
    # an automatic tag a lead confirms becomes manual: the rules no longer remove it
    assert "low-confidence" in service.conversation("j-1").tags
    service.add_tag("j-1", "low-confidence", LEAD)
    with session_scope(indexed) as session:
        source = session.execute(select(review_tags.c.source).where(
            review_tags.c.conversation_id == "j-1", review_tags.c.tag == "low-confidence")).scalar_one()
    assert source == "manual"
    actions = [e["action"] for e in audit_entries(indexed)]
    assert actions.count("review.tag_added") == 2 and actions.count("review.tag_removed") == 1


def test_notes(indexed):
    service = ReviewService(indexed)
    note_id = service.add_note("j-1", f"customer pasted {conv.LUHN_CARD} in a reply", LEAD)
    t = service.transcript("j-1")
    assert [n.id for n in t.notes] == [note_id] and t.notes[0].created_by == LEAD
    assert conv.LUHN_CARD not in t.notes[0].body
    with pytest.raises(InvalidInput):
        service.add_note("j-1", "   ", LEAD)


def test_intent_correction(indexed):
    service = ReviewService(indexed)
    t = service.transcript("j-1")
    wrong = next(turn for turn in t.turns if turn.intent == "nlu_fallback")
    correction = service.correct_intent("j-1", wrong.event_id, "out_of_scope", LEAD)
    assert (correction.original_intent, correction.corrected_intent) == ("nlu_fallback", "out_of_scope")
    assert correction.text_masked == "blorp the zizzle frobnicator"
    service.correct_intent("j-1", wrong.event_id, "faq", LEAD)  # replaces the first
    with session_scope(indexed) as session:
        assert [(c.event_id, c.corrected_intent) for c in judging.corrections(session)] == [
            (wrong.event_id, "faq")]
        shown = queries.transcript(session, "j-1")
    assert next(turn for turn in shown.turns if turn.event_id == wrong.event_id).corrected_intent == "faq"
    with pytest.raises(InvalidInput):
        service.correct_intent("j-1", wrong.event_id, "make_coffee", LEAD)
    other = service.transcript("j-2").turns[1]
    with pytest.raises(InvalidInput):  # a message of another conversation
        service.correct_intent("j-1", other.event_id, "faq", LEAD)
    bot_event = t.turns[1].event_id + 1  # the action after it, not a customer message
    with pytest.raises(InvalidInput):
        service.correct_intent("j-1", bot_event, "faq", LEAD)
    card = service.correct_intent("j-2", other.event_id, "duplicate_charge", LEAD)
    assert conv.LUHN_CARD not in card.text_masked and "carol.customer@" not in card.text_masked


def test_reveal_is_audited_with_the_transcript(indexed):
    service = ReviewService(indexed)
    t = service.transcript("j-2", reveal_by=LEAD)
    assert "carol.customer@example.com" in t.turns[1].text
    entry = audit_entries(indexed)[-1]
    assert (entry["action"], entry["conversation_id"], entry["details"]["user"]) == (
        "review.reveal", "j-2", LEAD)
    assert "carol" not in str(entry)  # the audit says THAT emails were revealed, not which
