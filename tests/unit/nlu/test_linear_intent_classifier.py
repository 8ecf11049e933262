"""LinearIntentClassifier: trained, persisted and loaded the way Rasa's graph does it."""
from __future__ import annotations

import numpy as np
import pytest
from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.shared.nlu.constants import INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from supportbot.nlu.linear_intent_classifier import LinearIntentClassifier, softmax
from supportbot.nlu.sentence_encoder import EmbeddingCache, shared_encoder

EXAMPLES = {
    "request_refund": [
        "I want a refund", "refund my order please", "can I get my money back",
        "I would like to return this and be refunded", "please give me a refund",
        "money back please", "how do I get a refund for my purchase",
    ],
    "card_declined": [
        "my card was declined", "the payment failed at checkout", "why was my card refused",
        "card payment didn't go through", "the bank rejected my payment",
        "transaction declined", "my visa keeps getting declined",
    ],
    "greet": ["hi", "hello", "hey there", "good morning", "hiya", "hello team", "hey"],
}


def training_data() -> TrainingData:
    return TrainingData([
        Message(data={TEXT: text, INTENT: intent})
        for intent, texts in EXAMPLES.items() for text in texts
    ])


@pytest.fixture()
def storage(tmp_path) -> LocalModelStorage:
    (tmp_path / "models").mkdir()
    return LocalModelStorage(tmp_path / "models")


@pytest.fixture()
def context() -> ExecutionContext:
    return ExecutionContext(GraphSchema({}), "test")


def trained(storage, context, **config) -> LinearIntentClassifier:
    component = LinearIntentClassifier.create(
        {**LinearIntentClassifier.get_default_config(), **config},
        storage, Resource("linear"), context,
    )
    component.train(training_data())
    return component


def classify(component, text: str, upstream=None) -> Message:
    message = Message(data={TEXT: text})
    if upstream is not None:
        message.set(INTENT_RANKING_KEY, upstream)
        message.set(INTENT, upstream[0])
    [out] = component.process([message])
    return out


def test_unseen_paraphrases_and_typos_get_the_right_intent(storage, context):
    component = trained(storage, context, upstream_weight=0.0)
    assert classify(component, "i want my mony back").get(INTENT)["name"] == "request_refund"
    assert classify(component, "my card got declined again").get(INTENT)["name"] == "card_declined"
    assert classify(component, "helo there").get(INTENT)["name"] == "greet"


def test_ranking_is_a_probability_distribution_sorted_best_first(storage, context):
    out = classify(trained(storage, context, upstream_weight=0.0), "refund please")
    ranking = out.get(INTENT_RANKING_KEY)
    confidences = [r["confidence"] for r in ranking]
    assert confidences == sorted(confidences, reverse=True)
    assert sum(confidences) == pytest.approx(1.0, abs=1e-5)
    assert out.get(INTENT) == ranking[0]
    assert {r["name"] for r in ranking} == set(EXAMPLES)


def test_upstream_ranking_is_blended_with_its_weight(storage, context):
    component = trained(storage, context, upstream_weight=0.0)
    alone = {r["name"]: r["confidence"] for r in classify(component, "hello").get(INTENT_RANKING_KEY)}
    component.config["upstream_weight"] = 0.5
    upstream = [{"name": "card_declined", "confidence": 1.0}]
    blended = {
        r["name"]: r["confidence"]
        for r in classify(component, "hello", upstream).get(INTENT_RANKING_KEY)
    }
    assert blended["greet"] == pytest.approx(0.5 * alone["greet"], abs=1e-6)
    assert blended["card_declined"] == pytest.approx(0.5 * alone["card_declined"] + 0.5, abs=1e-6)


def test_a_loaded_model_predicts_exactly_like_the_trained_one(storage, context):
    component = trained(storage, context, upstream_weight=0.0)
    texts = ["refund please", "card declined", "hey", "what is this"]
    before = component.predict_proba(texts)
    loaded = LinearIntentClassifier.load(
        {**LinearIntentClassifier.get_default_config(), "upstream_weight": 0.0},
        storage, Resource("linear"), context,
    )
    np.testing.assert_allclose(loaded.predict_proba(texts), before, rtol=1e-5, atol=1e-6)
    assert classify(loaded, "refund please").get(INTENT)["name"] == "request_refund"


def test_an_untrained_component_leaves_messages_alone(storage, context):
    component = LinearIntentClassifier.load(
        LinearIntentClassifier.get_default_config(), storage, Resource("missing"), context
    )
    out = classify(component, "hello")
    assert out.get(INTENT) is None


def test_softmax_is_stable_for_large_scores():
    probabilities = softmax(np.array([[1000.0, 1001.0, 999.0]]))
    assert np.isfinite(probabilities).all()
    assert probabilities.sum() == pytest.approx(1.0)
    assert probabilities.argmax() == 1


@pytest.mark.parametrize("model", ["linear_svm", "logistic_regression"])
def test_both_linear_models_classify_and_survive_persistence(storage, context, model):
    component = trained(storage, context, model=model, upstream_weight=0.0)
    loaded = LinearIntentClassifier.load(
        {**LinearIntentClassifier.get_default_config(), "model": model, "upstream_weight": 0.0},
        storage, Resource("linear"), context,
    )
    assert loaded.temperature == pytest.approx(component.temperature)
    for text, intent in [("i want my mony back", "request_refund"),
                         ("card declined at checkout", "card_declined"), ("hiya", "greet")]:
        assert classify(loaded, text).get(INTENT)["name"] == intent
        assert classify(loaded, text).get(INTENT)["confidence"] == pytest.approx(
            classify(component, text).get(INTENT)["confidence"], abs=1e-6)


def test_svm_temperature_is_fitted_not_left_at_one(storage, context):
    component = trained(storage, context, model="linear_svm", upstream_weight=0.0)
    assert component.temperature != pytest.approx(1.0)
    # the fitted temperature makes a clear message confident and a vague one much less so
    clear = classify(component, "please give me a refund").get(INTENT)["confidence"]
    vague = classify(component, "hmm").get(INTENT)["confidence"]
    assert clear > 0.6
    assert vague < clear


def test_two_intents_give_a_two_way_distribution(storage, context):
    data = TrainingData([Message(data={TEXT: t, INTENT: i})
                         for i in ("request_refund", "greet") for t in EXAMPLES[i]])
    component = LinearIntentClassifier.create(
        {**LinearIntentClassifier.get_default_config(), "upstream_weight": 0.0},
        storage, Resource("linear"), context)
    component.train(data)
    ranking = classify(component, "refund please").get(INTENT_RANKING_KEY)
    assert [r["name"] for r in ranking][0] == "request_refund"
    assert sum(r["confidence"] for r in ranking) == pytest.approx(1.0, abs=1e-5)
    assert len(ranking) == 2


def test_unknown_model_name_is_a_clear_error(storage, context):
    with pytest.raises(ValueError, match="unknown model"):
        trained(storage, context, model="forest")


def test_sentence_embeddings_persist_and_reload_identically(storage, context):
    component = trained(storage, context, sentence_embeddings=True, upstream_weight=0.0)
    assert component.sentence_encoder == "all-MiniLM-L6-v2-onnx-int8"
    # 384 embedding columns follow the TF-IDF ones
    n_tfidf = sum(len(v.vocabulary_) for v in component.vectorizers.values())
    assert component.coef.shape[1] == n_tfidf + 384
    # the loaded model uses the embeddings because the stored model says so, whatever the config
    loaded = LinearIntentClassifier.load(
        {**LinearIntentClassifier.get_default_config(), "upstream_weight": 0.0},
        storage, Resource("linear"), context)
    assert loaded.sentence_encoder == component.sentence_encoder
    texts = ["could you reimburse me", "the bank refused my card", "good evening"]
    np.testing.assert_allclose(loaded.predict_proba(texts), component.predict_proba(texts),
                               rtol=1e-5, atol=1e-6)


def test_sentence_embeddings_carry_meaning_the_ngrams_do_not(storage, context):
    # none of these words occur in the training examples; only the encoder links them
    component = trained(storage, context, sentence_embeddings=True, upstream_weight=0.0)
    plain = trained(storage, context, sentence_embeddings=False, upstream_weight=0.0)
    text = "could you reimburse what I paid"
    with_meaning = {r["name"]: r["confidence"]
                    for r in classify(component, text).get(INTENT_RANKING_KEY)}
    without = {r["name"]: r["confidence"] for r in classify(plain, text).get(INTENT_RANKING_KEY)}
    assert max(with_meaning, key=with_meaning.get) == "request_refund"
    assert with_meaning["request_refund"] > without["request_refund"]


def test_a_model_trained_with_another_encoder_is_refused(storage, context):
    import json

    trained(storage, context, sentence_embeddings=True, upstream_weight=0.0)
    with storage.write_to(Resource("linear")) as directory:
        path = directory / "linear_intent_classifier.json"
        meta = json.loads(path.read_text())
        meta["sentence_encoder"] = "some-other-model"
        path.write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="retrain"):
        LinearIntentClassifier.load(LinearIntentClassifier.get_default_config(),
                                    storage, Resource("linear"), context)


def test_a_retrain_reads_known_examples_from_the_embedding_cache(storage, context, embedding_cache):
    first = trained(storage, context, sentence_embeddings=True)
    assert embedding_cache.is_file()
    texts = [e.get(TEXT) for e in training_data().intent_examples]
    cache = EmbeddingCache(embedding_cache)
    cache.encode(shared_encoder(), texts)
    assert cache.last_encoded == 0  # training stored every example
    second = trained(storage, context, sentence_embeddings=True)
    for text in ("I want my money back", "where is my licence"):
        assert classify(first, text).get(INTENT) == classify(second, text).get(INTENT)
