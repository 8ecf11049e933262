"""Low NLU confidence: 'did you mean ...?' with the top intents as buttons, then a request
to rephrase, then the FAQ, then a person. Never a confident wrong answer."""
from __future__ import annotations

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, UserUtteranceReverted
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions import runtime
from actions.common import INTENT_TITLES, latest_text
from actions.knowledge import HUMAN_BUTTON


class ActionDefaultAskAffirmation(Action):
    def name(self) -> str:
        return "action_default_ask_affirmation"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
            domain: DomainDict) -> list[EventType]:
        ranking = tracker.latest_message.get("intent_ranking") or []
        buttons: list[dict[str, str]] = []
        for entry in ranking:
            name = entry.get("name")
            if name in INTENT_TITLES and len(buttons) < 3:
                buttons.append({"title": INTENT_TITLES[name], "payload": f"/{name}"})
        buttons.append({"title": "Something else", "payload": "/out_of_scope"})
        dispatcher.utter_message(text="Sorry, I'm not sure I understood. Did you mean one of these?",
                                 buttons=buttons)
        return []


class ActionDefaultFallback(Action):
    """Last stage: try the knowledge base with the customer's words, else offer a person."""

    def name(self) -> str:
        return "action_default_fallback"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
            domain: DomainDict) -> list[EventType]:
        question = latest_text(tracker)
        kb = runtime.get_optional_knowledge()
        hit = kb.answer(question) if kb is not None and question else None
        if hit is not None:
            dispatcher.utter_message(text=hit.article.format_chat())
            return [UserUtteranceReverted()]
        dispatcher.utter_message(
            text="I'm sorry, I couldn't work out what you need. A person from our support team can help.",
            buttons=[HUMAN_BUTTON, {"title": "Start over", "payload": "/greet"}])
        return [UserUtteranceReverted()]
