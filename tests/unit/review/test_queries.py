"""Finding conversations (filters, full text, paging, sorting, URL round trip) and reading one
(turns with NLU info, side effects of the core at the right turn, pages, masking)."""
from __future__ import annotations

from datetime import date, timedelta

import pytest

from supportbot.db.engine import session_scope
from supportbot.review import judging, queries
from supportbot.review.errors import ConversationNotFound, InvalidInput
from supportbot.review.indexer import Indexer
from supportbot.review.queries import ConversationFilter
from tests.unit.review import conversations as conv


@pytest.fixture
def indexed(engine, core):
    conv.refund_issued(core, engine, "c-refund")
    conv.refund_declined(core, engine, "c-declined")
    conv.fallback_chat(engine, "c-fallback", core.clock)
    conv.card_number_chat(engine, "c-card", core.clock)
    core.clock.advance(days=3)
    mail = conv.Conversation("email-3f1c", core.clock, channel="email",
                             client_address="email:dora@example.com")
    mail.user("Hello, I need an invoice for my order. Regards, Dora Lindqvist", "download_invoice", 0.64)
    mail.action("action_start_task")
    mail.bot("Sure, which order? Please send the order reference.")
    mail.listen()
    mail.save(engine)
    Indexer(engine).run_once()
    return engine


def ids(engine, **params) -> list[str]:
    with session_scope(engine) as session:
        page = queries.list_conversations(session, ConversationFilter.from_params(params), page_size=100)
        return [row.conversation_id for row in page.items]


def test_each_filter(indexed):
    e = indexed
    assert set(ids(e)) == {"c-refund", "c-declined", "c-fallback", "c-card", "email-3f1c"}
    assert set(ids(e, channel="widget")) == {"c-declined", "c-fallback"}
    assert ids(e, channel="email") == ["email-3f1c"]
    assert set(ids(e, channel="rest")) == {"c-refund", "c-card"}
    assert ids(e, refund="issued") == ["c-refund"]
    assert ids(e, refund="declined") == ["c-declined"]
    assert ids(e, refund="failed") == []
    assert set(ids(e, refund="none")) == {"c-fallback", "c-card", "email-3f1c"}
    assert ids(e, handed_off="true") == ["c-declined"]
    assert "c-declined" not in ids(e, handed_off="false")
    assert ids(e, team="customer_service") == ["c-declined"]
    assert ids(e, team="payment_processing") == []
    assert ids(e, reason="refund_window_passed") == ["c-declined"]
    assert set(ids(e, verified="true")) == {"c-refund", "c-declined"}
    assert ids(e, had_fallback="yes") == ["c-fallback"]
    assert ids(e, intent="duplicate_charge") == ["c-card"]
    assert set(ids(e, intent="inform")) == {"c-refund", "c-declined"}
    assert ids(e, action="action_default_fallback") == ["c-fallback"]
    assert set(ids(e, confidence_max="0.7")) == {"c-fallback", "email-3f1c"}
    assert ids(e, confidence_min="0.905", confidence_max="0.92") == ["c-declined"]
    assert ids(e, tag="low-confidence") == ["c-fallback"]
    assert ids(e, review_status="reviewed") == []
    day = conv.ANCHOR.date()
    assert "email-3f1c" not in ids(e, date_to=day.isoformat())
    assert ids(e, date_from=(day + timedelta(days=2)).isoformat()) == ["email-3f1c"]


def test_filters_combine(indexed):
    assert ids(indexed, channel="widget", refund="declined", text="NoteNest") == ["c-declined"]
    assert ids(indexed, channel="rest", refund="declined") == []
    assert ids(indexed, verified="true", had_fallback="false", intent="affirm") == ["c-refund"]


def test_full_text_finds_customer_and_bot_words(indexed):
    assert ids(indexed, text="frobnicator") == ["c-fallback"]  # the customer's words
    assert ids(indexed, text="staff accounts") == ["c-fallback"]  # the bot's
    assert ids(indexed, text="INVOICE Lindqvist") == ["email-3f1c"]  # every word, any case
    assert ids(indexed, text="invoice frobnicator") == []
    assert ids(indexed, text='"; DROP TABLE events; --') == []  # just words
    assert set(ids(indexed, text="alice@example.com")) == {"c-refund"}  # addresses are searchable
    assert ids(indexed, text="!!!") == ids(indexed)  # nothing to search for: no restriction


def test_paging_and_sorting(indexed):
    with session_scope(indexed) as session:
        first = queries.list_conversations(session, ConversationFilter(sort="user_turns",
                                                                       descending=True), page=1, page_size=2)
        second = queries.list_conversations(session, ConversationFilter(sort="user_turns",
                                                                        descending=True), page=2, page_size=2)
        third = queries.list_conversations(session, ConversationFilter(sort="user_turns",
                                                                       descending=True), page=3, page_size=2)
    assert (first.total, first.pages, first.has_next, first.has_previous) == (5, 3, True, False)
    assert [r.conversation_id for r in first.items] == ["c-refund", "c-fallback"] or \
        [r.user_turns for r in first.items] == [7, 3]
    turns = [r.user_turns for r in first.items + second.items + third.items]
    assert turns == sorted(turns, reverse=True) and len(turns) == 5
    assert len({r.conversation_id for r in first.items + second.items + third.items}) == 5
    assert not third.has_next and third.total == 5  # a last page needs no count query
    latest = ids(indexed)
    assert latest[0] == "email-3f1c"  # default: newest activity first
    assert ids(indexed, sort="last_activity", descending="false")[-1] == "email-3f1c"
    assert ids(indexed, sort="lowest_confidence", descending="false")[0] == "c-fallback"


def test_rows_carry_tags_and_masked_first_message(indexed):
    with session_scope(indexed) as session:
        judging.add_tag(session, "c-card", "Needs Training Data", "lead@example.com")
    with session_scope(indexed) as session:
        row = queries.conversation(session, "c-card")
    assert row.tags == ("needs-training-data",)
    assert "carol.customer@example.com" not in row.first_message
    assert "c***r@example.com" in row.first_message
    assert conv.LUHN_CARD not in row.first_message and "**** **** **** 1111" in row.first_message


def test_filter_round_trips_through_the_url_and_refuses_bad_values():
    flt = ConversationFilter(date_from=date(2024, 6, 1), channel="email", confidence_max=0.5,
                             had_fallback=False, refund="declined", text="refund", sort="user_turns",
                             descending=False, tag="vip")
    params = flt.to_params()
    assert ("channel", "email") in params and ("had_fallback", "false") in params
    assert ConversationFilter.from_params(dict(params)) == flt
    assert ConversationFilter.from_params({"channel": ["widget", "email"]}).channel == "widget"
    assert ConversationFilter.from_params({"channel": "", "page": "3"}) == ConversationFilter()
    for bad in ({"channel": "fax"}, {"refund": "maybe"}, {"confidence_min": "high"},
                {"confidence_max": "2"}, {"date_from": "yesterday"}, {"verified": "perhaps"},
                {"sort": "password"}, {"team": "sales"}, {"review_status": "done"},
                {"date_from": "2024-06-02", "date_to": "2024-06-01"}, {"text": "x" * 500},
                {"confidence_min": "nan"}):
        with pytest.raises(InvalidInput) as caught:
            ConversationFilter.from_params(bad)
        assert caught.value.field in bad or caught.value.field == "date_to"


def test_bad_pages_are_refused(indexed):
    with session_scope(indexed) as session:
        for page, size in ((0, 50), (1, 0), (1, 10_000)):
            with pytest.raises(InvalidInput):
                queries.list_conversations(session, None, page=page, page_size=size)


def test_transcript_turns_show_nlu_actions_replies_and_side_effects(indexed):
    with session_scope(indexed) as session:
        t = queries.transcript(session, "c-refund")
    assert t.summary.refund_outcome == "issued" and t.total_turns == 8 and t.pages == 1
    prelude, greet, ask = t.turns[0], t.turns[1], t.turns[2]
    assert prelude.index == 0 and prelude.text is None and prelude.actions == ("action_session_start",)
    assert (greet.text, greet.intent, greet.actions) == ("hi", "greet", ("utter_greet",))
    assert greet.bot_replies[0].text == "Hello! How can I help you?"
    assert ask.intent == "request_refund" and ask.confidence == pytest.approx(0.93)
    assert ask.alternatives[0][0] == "faq" and len(ask.alternatives) == 2
    assert ("requested_slot", "email") in ask.slots
    email_turn = t.turns[3]
    assert email_turn.text == "a***e@example.com"  # masked
    assert email_turn.entities[0]["entity"] == "email"
    assert email_turn.entities[0]["value"] == "a***e@example.com"
    assert ("email", "a***e@example.com") in email_turn.slots
    by_turn = {turn.index: [e.kind for e in turn.side_effects] for turn in t.turns}
    assert by_turn[4] == ["verification_attempt", "verified"]
    assert by_turn[5] == ["code_sent"]
    assert by_turn[6] == ["confirmation"]
    assert by_turn[7] == ["refund_decision", "refund_issued"]
    assert all(not v for k, v in by_turn.items() if k not in (4, 5, 6, 7))
    code_turn = t.turns[6]
    assert code_turn.text == "******" and code_turn.entities[0]["value"] == "******"
    assert ("one_time_code", "******") in code_turn.slots
    code_sent = t.turns[5].side_effects[0].details
    assert code_sent["purpose"] == "refund" and "code" not in code_sent and "code_hash" not in code_sent
    assert "111111" not in repr(t)  # the one-time code (CodeBox's first) appears nowhere
    issued = t.turns[7].side_effects[1].details
    assert (issued["amount_minor"], issued["currency"], issued["provider_status"]) == (4900, "EUR",
                                                                                       "completed")
    assert isinstance(issued["ledger_id"], int) and issued["card_last4"] == "4242"
    decision = t.turns[7].side_effects[0].details
    assert decision["automatic"] is True and decision["outcome"] == "refunded"
    verified = t.turns[4].side_effects[1].details
    assert verified["order"] == "******001"
    assert t.turns[4].bot_replies[0].buttons[0][0] == "No longer needed"


def test_declined_refund_shows_reason_codes_explanation_and_ticket(indexed):
    with session_scope(indexed) as session:
        t = queries.transcript(session, "c-declined")
    effects = {e.kind: e.details for turn in t.turns for e in turn.side_effects}
    assert effects["refund_decision"]["reason_codes"] == ["refund_window_passed"]
    assert effects["refund_decision"]["automatic"] is False
    assert effects["refund_decision"]["explanation"]
    assert (effects["ticket_created"]["team"], effects["ticket_created"]["reason"]) == (
        "customer_service", "refund_window_passed")


def test_reveal_shows_emails_but_never_the_card(indexed):
    with session_scope(indexed) as session:
        masked = queries.transcript(session, "c-card")
        revealed = queries.transcript(session, "c-card", reveal=True)
    assert "carol.customer@example.com" not in repr(masked)
    assert "carol.customer@example.com" in revealed.turns[1].text and revealed.revealed
    for t in (masked, revealed):
        assert conv.LUHN_CARD not in repr(t) and conv.LUHN_CARD_DIGITS not in repr(t)


def test_long_conversations_load_in_pages(engine, core):
    c = conv.Conversation("long", core.clock)
    for i in range(25):
        c.user(f"message number {i}", "faq", 0.9)
        c.action("action_answer_faq")
        c.bot(f"answer number {i}")
        c.listen()
        if i == 12:
            core.clock.advance(seconds=1)
            core.services.hand_off("long", "customer_service", "customer_request", "wants a person")
    c.save(engine)
    Indexer(engine).run_once()
    with session_scope(engine) as session:
        pages = [queries.transcript(session, "long", page=p, page_size=10) for p in (1, 2, 3)]
        beyond = queries.transcript(session, "long", page=9, page_size=10)
    assert [len(p.turns) for p in pages] == [10, 10, 6] and pages[0].total_turns == 26
    assert pages[0].pages == 3 and beyond.turns == ()
    texts = [t.text for p in pages for t in p.turns]
    assert texts[0] is None and texts[1:] == [f"message number {i}" for i in range(25)]
    assert [t.index for p in pages for t in p.turns] == list(range(26))
    tickets = [(p.page, t.index) for p in pages for t in p.turns for e in t.side_effects
               if e.kind == "ticket_created"]
    assert tickets == [(2, 13)]  # on the page and turn where it happened, once


def test_unknown_conversation(indexed):
    with session_scope(indexed) as session, pytest.raises(ConversationNotFound):
        queries.transcript(session, "nope")
