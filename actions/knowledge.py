"""Answers from the FAQ knowledge base (faq/), always naming the article they come from.

Below the retriever's threshold the bot offers the top 3 titles as buttons; when that
does not help either, it offers a person.
"""
from __future__ import annotations

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions import runtime
from actions.common import latest_text
from supportbot.core.vocabulary import TEAM_PAYMENT_PROCESSING

HUMAN_BUTTON = {"title": "Talk to a person", "payload": "/contact_human"}
PAYMENT_TEAM_BUTTON = {"title": "Ask Payment Processing",
                       "payload": f'/contact_human{{"handoff_team": "{TEAM_PAYMENT_PROCESSING}"}}'}


def answer_question(dispatcher: CollectingDispatcher, tracker: Tracker, question: str,
                    intent: str = "faq") -> list[EventType]:
    kb = runtime.knowledge()
    chosen = tracker.get_slot("faq_article")
    extra = [PAYMENT_TEAM_BUTTON] if intent == "tax_question" else []
    if chosen:
        article = kb.get(chosen)
        if article is not None:
            dispatcher.utter_message(text=article.format_chat(), buttons=extra or None)
            return [SlotSet("faq_article", None), SlotSet("faq_misses", 0)]
    hit = kb.answer(question)
    if hit is not None:
        dispatcher.utter_message(text=hit.article.format_chat(), buttons=extra or None)
        return [SlotSet("faq_article", None), SlotSet("faq_misses", 0)]
    hits = kb.search(question, k=3)
    misses = float(tracker.get_slot("faq_misses") or 0)
    if hits and misses < 1:
        buttons = [{"title": h.article.title, "payload": f'/faq{{"faq_article": "{h.article.id}"}}'}
                   for h in hits[:3]]
        dispatcher.utter_message(text="I'm not sure I have the right answer. Is it one of these?",
                                 buttons=buttons + [HUMAN_BUTTON])
        return [SlotSet("faq_article", None), SlotSet("faq_misses", misses + 1)]
    dispatcher.utter_message(
        text="I don't have a good answer to that. A person from our support team can help.",
        buttons=[HUMAN_BUTTON, {"title": "No thanks", "payload": "/thanks"}])
    return [SlotSet("faq_article", None), SlotSet("faq_misses", 0)]


class ActionAnswerFaq(Action):
    def name(self) -> str:
        return "action_answer_faq"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
            domain: DomainDict) -> list[EventType]:
        intent = (tracker.latest_message.get("intent") or {}).get("name") or "faq"
        return answer_question(dispatcher, tracker, latest_text(tracker), intent)
