"""Low NLU confidence (actions/fallback.py): 'did you mean ...?' buttons from the intent
ranking, then the FAQ with the customer's words, then a person -- and the person offered is
the team that owns the customer's task."""
from __future__ import annotations

from sqlalchemy import select

from supportbot.db.models import HandoffTicket
from tests.actions.conftest import buttons, make_tracker, run_action, texts


def _ranked(sender, ranking, text="hmm", slots=None):
    tracker = make_tracker(sender, slots=slots or {}, intent=ranking[0][0] if ranking else "nlu_fallback",
                           text=text)
    tracker.latest_message["intent_ranking"] = [{"name": n, "confidence": c} for n, c in ranking]
    return tracker


def _tickets(world):
    with world.engine.connect() as conn:
        return conn.execute(select(HandoffTicket)).all()


def test_did_you_mean_offers_the_top_intents_in_ranking_order(anchored_world, domain):
    tracker = _ranked("conv-fb", [("request_refund", 0.41), ("refund_status", 0.33),
                                  ("duplicate_charge", 0.12), ("get_license", 0.05)])
    dispatcher, events = run_action("action_default_ask_affirmation", tracker, domain)
    payloads = [b["payload"] for b in buttons(dispatcher)]
    assert payloads[:3] == ["/request_refund", "/refund_status", "/duplicate_charge"]
    assert "/get_license" not in payloads  # at most three guesses
    assert payloads[-1] == "/out_of_scope"  # and a way out
    assert "?" in texts(dispatcher)
    assert events == []


def test_did_you_mean_skips_what_is_not_a_task(anchored_world, domain):
    tracker = _ranked("conv-fb2", [("nlu_fallback", 0.5), ("greet", 0.2), ("cancel_subscription", 0.15),
                                   ("thanks", 0.1)])
    dispatcher, _ = run_action("action_default_ask_affirmation", tracker, domain)
    payloads = [b["payload"] for b in buttons(dispatcher)]
    assert payloads == ["/cancel_subscription", "/out_of_scope"]


def test_every_offered_button_is_an_intent_of_the_domain(anchored_world, domain):
    ranking = [(name, 0.1) for name in domain["intents"]]
    dispatcher, _ = run_action("action_default_ask_affirmation", _ranked("conv-fb3", ranking), domain)
    offered = buttons(dispatcher)
    assert len(offered) == 4
    for button in offered:
        assert button["payload"].lstrip("/") in domain["intents"], button
        assert button["title"] and not button["title"].startswith("/")


def test_no_ranking_still_offers_a_way_out(anchored_world, domain):
    dispatcher, _ = run_action("action_default_ask_affirmation", _ranked("conv-fb4", []), domain)
    assert [b["payload"] for b in buttons(dispatcher)] == ["/out_of_scope"]


def test_last_fallback_answers_from_the_faq_when_it_can(anchored_world, domain, faq_kb):
    question = "Why was I charged during my trial?"
    best = faq_kb.search(question, k=1)[0]
    assert best.confidence >= faq_kb.threshold
    tracker = make_tracker("conv-fb5", intent="nlu_fallback", text=question)
    dispatcher, events = run_action("action_default_fallback", tracker, domain)
    assert best.article.source_line() in texts(dispatcher)
    assert [e["event"] for e in events] == ["rewind"]  # the misunderstood turn is taken back


def test_last_fallback_offers_a_person_for_what_nobody_can_answer(anchored_world, domain):
    tracker = make_tracker("conv-fb6", intent="nlu_fallback", text="qwxz blorf")
    dispatcher, events = run_action("action_default_fallback", tracker, domain)
    assert "Source:" not in texts(dispatcher)
    assert "/contact_human" in [b["payload"] for b in buttons(dispatcher)]
    assert [e["event"] for e in events] == ["rewind"]
    assert _tickets(anchored_world) == []  # offering a person is not handing over yet


def test_empty_message_offers_a_person(anchored_world, domain):
    dispatcher, _ = run_action("action_default_fallback", make_tracker("conv-fb7", intent="nlu_fallback"),
                               domain)
    assert "/contact_human" in [b["payload"] for b in buttons(dispatcher)]


def test_the_person_offered_during_payment_missing_is_payment_processing(anchored_world, domain):
    """Fallback -> 'Talk to a person' (/contact_human) in the middle of a payment_missing task."""
    w, sender = anchored_world, "conv-fb-pay"
    dispatcher, _ = run_action("action_default_fallback",
                               make_tracker(sender, slots={"pending_task": "payment_missing"},
                                            intent="nlu_fallback", text="qwxz blorf"), domain)
    press = next(b for b in buttons(dispatcher) if b["payload"] == "/contact_human")
    handoff, events = run_action("action_hand_off",
                                 make_tracker(sender, slots={"pending_task": "payment_missing"},
                                              intent="contact_human", text=press["title"]), domain)
    (ticket,) = _tickets(w)
    assert ticket.team == "payment_processing"
    assert ticket.conversation_id == sender
    assert ticket.order_id is None  # nothing verified, nothing attached
    assert "Payment Processing team (case #" in texts(handoff)
    assert any(e.get("event") == "pause" for e in events)


def test_the_person_offered_without_a_task_is_customer_service(anchored_world, domain):
    w, sender = anchored_world, "conv-fb-cs"
    run_action("action_hand_off", make_tracker(sender, intent="contact_human", text="Talk to a person"),
               domain)
    (ticket,) = _tickets(w)
    assert ticket.team == "customer_service"
