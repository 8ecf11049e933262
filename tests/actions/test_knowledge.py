"""FAQ answers (actions/knowledge.py) from the project's faq/ articles: an answer always names
the article it comes from; below the retriever's threshold the bot offers titles, then a person."""
from __future__ import annotations

import json
import re

from tests.actions.conftest import buttons, make_tracker, run_action, slot_events, texts

STAFF_QUESTION = "How do I add a staff member to the console?"
VAGUE_QUESTION = "my thing is weird"


def _ask(domain, text, intent="faq", slots=None, sender="conv-faq"):
    tracker = make_tracker(sender, slots=slots or {}, intent=intent, text=text)
    dispatcher, events = run_action("action_answer_faq", tracker, domain)
    return dispatcher, slot_events(events)


def _best(kb, question):
    hits = kb.search(question, k=3)
    assert hits, question
    return hits[0]


def test_a_clear_question_gets_the_article_and_names_it(anchored_world, domain, faq_kb):
    best = _best(faq_kb, STAFF_QUESTION)
    assert best.article.id == "staff-accounts" and best.confidence >= faq_kb.threshold
    dispatcher, slots = _ask(domain, STAFF_QUESTION)
    said = texts(dispatcher)
    assert best.article.answer.strip().splitlines()[0] in said
    assert said.rstrip().endswith(best.article.source_line())
    assert f"Source: {best.article.title}" in said
    assert slots["faq_misses"] == 0 and slots["faq_article"] is None


def test_different_questions_get_different_articles(anchored_world, domain, faq_kb):
    for question, article_id in (("Why was I charged during my trial?", "trial-and-renewal-charges"),
                                 ("what permissions can staff have", "staff-permissions")):
        dispatcher, _ = _ask(domain, question)
        article = faq_kb.get(article_id)
        assert f"Source: {article.title}" in texts(dispatcher), question


def test_a_chosen_article_is_answered_whatever_the_words(anchored_world, domain, faq_kb):
    article = faq_kb.get("card-declined")
    dispatcher, slots = _ask(domain, "/faq", slots={"faq_article": "card-declined"})
    said = texts(dispatcher)
    assert article.source_line() in said
    assert slots["faq_article"] is None  # the choice is used once


def test_an_unknown_article_id_falls_back_to_the_question(anchored_world, domain, faq_kb):
    dispatcher, _ = _ask(domain, STAFF_QUESTION, slots={"faq_article": "no-such-article"})
    assert faq_kb.get("staff-accounts").source_line() in texts(dispatcher)


def test_tax_questions_offer_payment_processing_faq_questions_do_not(anchored_world, domain):
    question = "what is VAT and do you charge it"
    tax, _ = _ask(domain, question, intent="tax_question")
    faq, _ = _ask(domain, question, intent="faq")
    assert "Source: " in texts(tax) and "Source: " in texts(faq)
    tax_payloads = [b["payload"] for b in buttons(tax)]
    assert any("payment_processing" in p for p in tax_payloads)
    assert not any("payment_processing" in b["payload"] for b in buttons(faq))


def test_a_vague_question_offers_the_top_titles_as_buttons(anchored_world, domain, faq_kb):
    hits = faq_kb.search(VAGUE_QUESTION, k=3)
    assert hits and hits[0].confidence < faq_kb.threshold  # precondition: below the threshold
    dispatcher, slots = _ask(domain, VAGUE_QUESTION)
    said = texts(dispatcher)
    assert "Source:" not in said  # no confident wrong answer
    offered = buttons(dispatcher)
    assert [b["title"] for b in offered[:len(hits)]] == [h.article.title for h in hits]
    assert offered[-1]["payload"] == "/contact_human"
    assert slots["faq_misses"] == 1


def test_an_offered_title_leads_to_that_article(anchored_world, domain, faq_kb):
    dispatcher, _ = _ask(domain, VAGUE_QUESTION)
    payload = buttons(dispatcher)[0]["payload"]
    match = re.fullmatch(r"/faq(\{.*\})", payload)
    assert match, payload
    chosen = json.loads(match.group(1))["faq_article"]
    assert chosen in faq_kb
    picked, _ = _ask(domain, "/faq", slots={"faq_article": chosen, "faq_misses": 1})
    assert faq_kb.get(chosen).source_line() in texts(picked)


def test_a_second_miss_offers_a_person(anchored_world, domain):
    dispatcher, slots = _ask(domain, VAGUE_QUESTION, slots={"faq_misses": 1})
    payloads = [b["payload"] for b in buttons(dispatcher)]
    assert "/contact_human" in payloads
    assert not any(p.startswith("/faq") for p in payloads)
    assert "Source:" not in texts(dispatcher)
    assert slots["faq_misses"] == 0


def test_nonsense_offers_a_person_not_an_article(anchored_world, domain, faq_kb):
    assert faq_kb.search("qwxz blorf", k=3) == []
    dispatcher, _ = _ask(domain, "qwxz blorf")
    assert "Source:" not in texts(dispatcher)
    assert "/contact_human" in [b["payload"] for b in buttons(dispatcher)]
