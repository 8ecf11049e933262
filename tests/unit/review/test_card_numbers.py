"""A full card number in a raw tracker event is never shown, searchable, stored in the index
or exported, in any view or format, revealed or not."""
from __future__ import annotations

import io

import pytest
from sqlalchemy import select, text

from supportbot.db.engine import session_scope
from supportbot.review import pii, queries
from supportbot.review.indexer import Indexer
from supportbot.review.models import conversation_summaries
from supportbot.review.queries import ConversationFilter
from supportbot.review.service import ReviewService
from tests.unit.review import conversations as conv
from tests.unit.review.helpers import full_card_numbers

LEAD = "lead@example.com"


@pytest.fixture
def with_card(engine, core):
    c = conv.card_number_chat(engine, "card-1", core.clock)
    raw = [e for e in c.events if getattr(e, "text", None) and conv.LUHN_CARD in e.text]
    assert raw, "the raw tracker event holds the full number"
    with engine.connect() as conn:
        stored = " ".join(conn.execute(text("SELECT data FROM events WHERE sender_id = 'card-1'")).scalars())
    assert conv.LUHN_CARD_DIGITS in full_card_numbers(stored)  # really there, unmasked
    Indexer(engine).run_once()
    ReviewService(engine).correct_intent(
        "card-1", next(t.event_id for t in ReviewService(engine).transcript("card-1").turns if t.text),
        "duplicate_charge", LEAD)
    return engine


def _everything_shown(engine) -> str:
    service = ReviewService(engine)
    parts = [repr(service.list()), repr(service.conversation("card-1")),
             repr(service.transcript("card-1")), repr(service.transcript("card-1", reveal_by=LEAD))]
    for fmt in ("csv", "jsonl", "nlu", "stories"):
        out = io.StringIO()
        service.export(fmt, ConversationFilter(), out, LEAD)
        parts.append(out.getvalue())
    return "\n".join(parts)


def test_no_view_or_export_holds_the_card_number(with_card):
    shown = _everything_shown(with_card)
    assert "**** **** **** 1111" in shown  # masked where the customer wrote it
    assert full_card_numbers(shown) == []


def test_the_index_does_not_store_it_and_search_does_not_find_it(with_card):
    with with_card.connect() as conn:
        row = conn.execute(select(conversation_summaries).where(
            conversation_summaries.c.conversation_id == "card-1")).mappings().one()
        if with_card.dialect.name == "postgresql":
            fts = " ".join(conn.execute(text("SELECT document::text FROM review_fts")).scalars())
        else:
            fts = " ".join(conn.execute(text("SELECT body FROM review_fts")).scalars())
    assert full_card_numbers(repr(dict(row))) == [] and full_card_numbers(fts) == []
    with session_scope(with_card) as session:
        for query in (conv.LUHN_CARD, conv.LUHN_CARD_DIGITS, "charged twice"):
            found = queries.list_conversations(session, ConversationFilter(text=query)).total
            assert found == (1 if query == "charged twice" else 0), query


def test_the_check_would_catch_a_missing_mask(with_card, monkeypatch):
    """Control: with the masking function replaced by the identity, the same check fails."""
    monkeypatch.setattr(pii, "mask_card_numbers", lambda value: value)
    monkeypatch.setattr("supportbot.review.exports.pii.mask_card_numbers", lambda value: value)
    assert conv.LUHN_CARD_DIGITS in full_card_numbers(_everything_shown(with_card))
