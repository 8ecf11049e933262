"""The NLU training data and the pipeline in config.yml: shape checks that need no training."""
from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]

CANONICAL_INTENTS = [
    "greet", "goodbye", "thanks", "affirm", "deny", "bot_challenge", "inform", "contact_human",
    "unknown_charge", "card_declined", "duplicate_charge", "missing_confirmation", "get_license",
    "request_refund", "refund_status", "cancel_subscription", "reinstate_subscription",
    "subscription_status", "change_payment_method", "update_billing_address",
    "download_invoice", "payment_missing", "tax_question", "quote_request",
    "technical_support", "faq", "out_of_scope",
]
SMALL_TALK = {"greet", "goodbye", "thanks", "affirm", "deny", "bot_challenge"}


def nlu_files() -> list[Path]:
    return [REPO / "data" / "nlu.yml"] + sorted((REPO / "data" / "nlu").glob("*.yml"))


@pytest.fixture(scope="module")
def examples() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for path in nlu_files():
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        for block in doc.get("nlu", []):
            if "intent" not in block:
                continue
            lines = [ln.strip()[2:].strip() for ln in block["examples"].splitlines()
                     if ln.strip().startswith("- ")]
            out.setdefault(block["intent"], []).extend(lines)
    return out


def test_every_canonical_intent_has_many_examples(examples):
    for intent in CANONICAL_INTENTS:
        minimum = 60 if intent not in SMALL_TALK else 50
        assert len(examples.get(intent, [])) >= minimum, intent


def test_no_intent_outside_the_canonical_list(examples):
    assert set(examples) <= set(CANONICAL_INTENTS)


def test_out_of_scope_and_faq_are_the_largest(examples):
    sizes = {k: len(v) for k, v in examples.items()}
    assert sizes["out_of_scope"] == max(sizes.values())
    business = [k for k in sizes if k not in SMALL_TALK | {"out_of_scope", "inform"}]
    assert sizes["faq"] >= max(sizes[k] for k in business)


def test_no_example_is_labelled_with_two_intents(examples):
    owner: dict[str, str] = {}
    clashes = []
    for intent, lines in examples.items():
        for line in lines:
            key = line.lower()
            if key in owner and owner[key] != intent:
                clashes.append((line, owner[key], intent))
            owner[key] = intent
    assert clashes == []


def test_no_duplicates_within_an_intent(examples):
    for intent, lines in examples.items():
        dupes = [k for k, c in Counter(ln.lower() for ln in lines).items() if c > 1]
        assert dupes == [], intent


def test_examples_carry_no_entity_markup(examples):
    # entities come from supportbot.nlu.pattern_entities, not from DIET annotations
    markup = re.compile(r"\[[^\]]+\]\([^)]+\)|\[[^\]]+\]\{")
    for intent, lines in examples.items():
        assert not [ln for ln in lines if markup.search(ln)], intent


def test_emails_pasted_whole_are_represented(examples):
    # the email bridge sends whole bodies: business intents need multi-sentence examples
    for intent in CANONICAL_INTENTS:
        if intent in SMALL_TALK or intent in {"inform"}:
            continue
        multi = [ln for ln in examples[intent] if ln.count(". ") + ln.count("? ") >= 1 and
                 re.search(r"\b(Thanks|Regards|Best|Kind regards|Sincerely|Yours|Cheers)\b", ln)]
        assert len(multi) >= 2, intent


def test_config_pipeline_builds_a_graph_with_the_pattern_extractor():
    from rasa.engine.recipes.recipe import Recipe
    from rasa.shared.data import TrainingType

    config = yaml.safe_load((REPO / "config.yml").read_text(encoding="utf-8"))
    names = [c["name"] for c in config["pipeline"]]
    assert "supportbot.nlu.pattern_entities.PatternEntityExtractor" in names
    classifier = "supportbot.nlu.linear_intent_classifier.LinearIntentClassifier"
    assert names.index("FallbackClassifier") > names.index(classifier)
    linear = next(c for c in config["pipeline"] if c["name"] == classifier)
    assert linear["sentence_embeddings"] is True
    fallback = next(c for c in config["pipeline"] if c["name"] == "FallbackClassifier")
    assert 0.3 <= fallback["threshold"] <= 0.6

    recipe = Recipe.recipe_for_name(config.get("recipe", "default.v1"))
    graphs = recipe.graph_config_for_recipe(config, {}, training_type=TrainingType.NLU)
    uses = {node.uses.__name__ for node in graphs.predict_schema.nodes.values()}
    assert "PatternEntityExtractor" in uses
    assert "LinearIntentClassifier" in uses
