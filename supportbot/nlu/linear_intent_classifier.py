"""The intent classifier: TF-IDF n-grams + sentence embeddings -> a linear model.

Features: word 1-2-grams and character 2-5-grams (sublinear TF-IDF; emails, references,
amounts, dates and codes replaced by placeholder words) recognise short, rare and misspelled
phrasings. It writes `intent` and `intent_ranking` for the FallbackClassifier after it. If a
classifier earlier in the pipeline has already ranked the message, `upstream_weight` > 0 blends
the two:

    p(intent) = (1 - upstream_weight) * p_linear(intent) + upstream_weight * p_upstream(intent)

(the shipped config.yml has no other classifier; docs/benchmarks/nlu-notes.md says why).

With `sentence_embeddings: true` (config.yml) the 384 numbers of the all-MiniLM-L6-v2 sentence
encoder (`supportbot.nlu.sentence_encoder`, ONNX, from pinned packages) are appended to the
n-gram features, times `sentence_embedding_weight`. They bring word meaning the n-grams lack
("reimburse" ~ "refund"; a medical question is not a product question): 5-fold CV accuracy on
the benchmark's training split rose from 0.935 to 0.958. A stored model records which encoder it
was trained with and is refused by an installation with another one.

Two linear models are available (`model`):

- `linear_svm` (default): a one-vs-rest linear SVM (squared hinge). Its decision scores are not
  probabilities, so they go through a softmax with a temperature `T`,
  p = softmax(T * scores); `T` is fitted at training time on 3-fold out-of-fold scores of the
  training data by minimising the log-loss, so confidences (and with them the fallback
  thresholds) mean what they say. On our data it is more accurate than the logistic regression
  and trains in seconds instead of about a minute (figures in docs/benchmarks/nlu.md).
- `logistic_regression`: multinomial logistic regression (probabilities directly, T = 1).

The model is stored without pickle: the vocabularies as JSON, the IDF weights, coefficients and
intercepts as a NumPy `.npz` file loaded with `allow_pickle=False`.
"""
from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.classifier import IntentClassifier
from rasa.shared.nlu.constants import INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from supportbot.core.vocabulary import EMAIL_ADDRESS, ORDER_REFERENCE

logger = logging.getLogger(__name__)

VECTORIZERS = ("words", "chars")

# Details customers paste (an email address, an order reference, an amount...) carry their
# meaning in their shape, not their characters: each becomes one placeholder word before the
# n-grams are counted, so "100004567" and "100098765" look the same to the model.
SHAPES = [
    ("shapeemail", EMAIL_ADDRESS),
    ("shapecard", re.compile(r"(?:[*xX•]{4}[\s-]?){2,3}\d{4}")),
    ("shapedate", re.compile(r"\b\d{4}-\d{1,2}-\d{1,2}\b|\b\d{1,2}[./]\d{1,2}[./]\d{2,4}\b")),
    ("shapeamount", re.compile(
        r"(?:[$€£¥]\s?\d+(?:[.,]\d+)*)|(?:\b\d+(?:[.,]\d+)*\s?(?:€|\$|£|eur|usd|gbp|chf"
        r"|euros?|dollars?|pounds?)\b)|(?:\b(?:eur|usd|gbp|chf)\s?\d+(?:[.,]\d+)*)",
        re.IGNORECASE)),
    ("shapeorder", re.compile("#?" + ORDER_REFERENCE.pattern)),
    ("shapecode", re.compile(r"\b\d{6}\b")),
    ("shapedigits", re.compile(r"\b\d{4}\b")),
]


def replace_shapes(text: str) -> str:
    for word, pattern in SHAPES:
        text = pattern.sub(f" {word} ", text)
    return text


def preprocess(text: str) -> str:
    return replace_shapes(text).lower()


def build_vectorizers(config: dict[str, Any]) -> dict[str, Any]:
    from sklearn.feature_extraction.text import TfidfVectorizer

    return {
        "words": TfidfVectorizer(
            analyzer="word",
            ngram_range=tuple(config["word_ngram_range"]),
            sublinear_tf=True,
            lowercase=True,
            token_pattern=r"(?u)\b\w+\b",
            preprocessor=preprocess if config["replace_shapes"] else None,
        ),
        "chars": TfidfVectorizer(
            analyzer="char_wb",
            ngram_range=tuple(config["char_ngram_range"]),
            sublinear_tf=True,
            lowercase=True,
            preprocessor=preprocess if config["replace_shapes"] else None,
        ),
    }


def featurise(vectorizers: dict[str, Any], texts: Sequence[str], fit: bool = False,
              embeddings: np.ndarray | None = None, embedding_weight: float = 1.0):
    """The word and character TF-IDF features side by side (fitting the vectorizers if asked),
    followed by the sentence embeddings times `embedding_weight` when given."""
    from scipy.sparse import csr_matrix, hstack

    blocks = [vectorizers[k].fit_transform(texts) if fit else vectorizers[k].transform(texts)
              for k in VECTORIZERS]
    if embeddings is not None:
        blocks.append(csr_matrix(np.asarray(embeddings, dtype=np.float64) * embedding_weight))
    return hstack(blocks).tocsr()


def rows(embeddings: np.ndarray | None, index) -> np.ndarray | None:
    """The embeddings of some examples (None stays None)."""
    return None if embeddings is None else embeddings[index]


def both_sides(scores: np.ndarray) -> np.ndarray:
    """A binary linear model scores only the second class (s); softmax([-s/2, s/2]) equals the
    sigmoid of s, so two intents work like many."""
    scores = np.asarray(scores)
    if scores.ndim == 1:
        scores = scores[:, None]
    return np.hstack([-scores / 2, scores / 2]) if scores.shape[1] == 1 else scores


def softmax(scores: np.ndarray) -> np.ndarray:
    shifted = scores - scores.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True)
class LinearIntentClassifier(IntentClassifier, GraphComponent):
    """TF-IDF word + char n-grams -> linear SVM (or logistic regression), blended with upstream."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {
            "word_ngram_range": [1, 2],
            "char_ngram_range": [2, 5],
            # "linear_svm" (scores -> softmax with a fitted temperature) or "logistic_regression"
            "model": "linear_svm",
            # inverse regularisation strength of the linear model
            "C": 1.0,
            # folds used to fit the SVM's softmax temperature on out-of-fold scores
            "calibration_folds": 3,
            # replace emails, order references, amounts, dates, codes by placeholder words
            "replace_shapes": True,
            # append all-MiniLM-L6-v2 sentence embeddings (supportbot.nlu.sentence_encoder)
            "sentence_embeddings": False,
            "sentence_embedding_weight": 1.0,
            # keep the training examples' embeddings in <var>/cache (EmbeddingCache)
            "embedding_cache": True,
            "max_iter": 3000,
            # weight of the ranking an earlier classifier left on the message; 0 = ignore
            "upstream_weight": 0.0,
            "ranking_length": 10,
        }

    @staticmethod
    def required_packages() -> list[str]:
        return ["sklearn", "onnxruntime", "tokenizers"]

    def __init__(
        self,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        vectorizers: dict[str, Any] | None = None,
        coef: np.ndarray | None = None,
        intercept: np.ndarray | None = None,
        classes: Sequence[str] | None = None,
        temperature: float = 1.0,
        sentence_encoder: str | None = None,
    ) -> None:
        self.config = {**self.get_default_config(), **config}
        self._model_storage = model_storage
        self._resource = resource
        self.vectorizers = vectorizers
        self.coef = coef
        self.intercept = intercept
        self.classes = list(classes or [])
        self.temperature = float(temperature)
        # the encoder the coefficients were trained with (None: TF-IDF only); set by train/load
        self.sentence_encoder = sentence_encoder

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> LinearIntentClassifier:
        return cls(config, model_storage, resource)

    # ------------------------------------------------------------------ training

    def _new_model(self):
        from sklearn.linear_model import LogisticRegression
        from sklearn.svm import LinearSVC

        kind = self.config["model"]
        if kind == "linear_svm":
            return LinearSVC(C=float(self.config["C"]), max_iter=int(self.config["max_iter"]),
                             random_state=42)
        if kind == "logistic_regression":
            return LogisticRegression(C=float(self.config["C"]),
                                      max_iter=int(self.config["max_iter"]), random_state=42)
        raise ValueError(f"LinearIntentClassifier: unknown model {kind!r} "
                         "(use 'linear_svm' or 'logistic_regression')")

    def _embeddings(self, texts: Sequence[str], cached: bool = False) -> np.ndarray | None:
        """The sentence embeddings of `texts` (None without an encoder). Training asks for
        `cached`: examples encoded by an earlier training are read from the embedding cache."""
        if not self.sentence_encoder:
            return None
        from supportbot.nlu.sentence_encoder import EmbeddingCache, shared_encoder

        if cached and self.config["embedding_cache"]:
            cache = EmbeddingCache(EmbeddingCache.default_path())
            vectors = cache.encode(shared_encoder(), texts)
            logger.debug("LinearIntentClassifier: %d of %d examples encoded, the rest cached",
                         cache.last_encoded, len(texts))
            return vectors
        return shared_encoder().encode(texts)

    def _features(self, vectorizers, texts: Sequence[str], embeddings: np.ndarray | None,
                  fit: bool = False):
        return featurise(vectorizers, texts, fit=fit, embeddings=embeddings,
                         embedding_weight=float(self.config["sentence_embedding_weight"]))

    def _fold_scores(self, texts: list[str], y: np.ndarray, n_classes: int,
                     embeddings: np.ndarray | None, train_idx, test_idx):
        """Scores of the examples in `test_idx` by a model fitted on `train_idx` only (its own
        vocabulary, so the scores are what an unseen message gets)."""
        vectorizers = build_vectorizers(self.config)
        fit = self._features(vectorizers, [texts[i] for i in train_idx],
                             rows(embeddings, train_idx), fit=True)
        apply = self._features(vectorizers, [texts[i] for i in test_idx],
                               rows(embeddings, test_idx))
        model = self._new_model().fit(fit, y[train_idx])
        scores = np.zeros((len(test_idx), n_classes))
        scores[:, model.classes_] = both_sides(model.decision_function(apply))
        return test_idx, scores

    def _fit_temperature(self, texts: list[str], labels: list[str],
                         embeddings: np.ndarray | None, pool: ThreadPoolExecutor) -> float:
        """The softmax temperature that best turns out-of-fold SVM scores into probabilities.
        The folds run in `pool` (liblinear releases the GIL, so they use both cores)."""
        from sklearn.model_selection import StratifiedKFold

        folds = int(self.config["calibration_folds"])
        smallest = min(labels.count(label) for label in set(labels))
        if folds < 2 or smallest < folds:
            return 1.0
        classes = sorted(set(labels))
        column = {c: i for i, c in enumerate(classes)}
        y = np.array([column[label] for label in labels])
        splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=42)
        jobs = [pool.submit(self._fold_scores, texts, y, len(classes), embeddings, train_idx, test_idx)
                for train_idx, test_idx in splitter.split(texts, labels)]
        scores = np.zeros((len(texts), len(classes)))
        for job in jobs:
            test_idx, fold_scores = job.result()
            scores[test_idx] = fold_scores
        grid = np.exp(np.linspace(np.log(0.5), np.log(50.0), 60))
        losses = [-np.mean(np.log(softmax(t * scores)[np.arange(len(y)), y] + 1e-12))
                  for t in grid]
        return float(grid[int(np.argmin(losses))])

    def train(self, training_data: TrainingData) -> Resource:
        examples = [e for e in training_data.intent_examples if e.get(INTENT) and e.get(TEXT)]
        if len({e.get(INTENT) for e in examples}) < 2:
            logger.warning("LinearIntentClassifier needs at least two intents; not trained.")
            return self._resource
        texts = [e.get(TEXT) for e in examples]
        labels = [e.get(INTENT) for e in examples]
        from supportbot.nlu.sentence_encoder import MODEL_ID

        self.sentence_encoder = MODEL_ID if self.config["sentence_embeddings"] else None
        embeddings = self._embeddings(texts, cached=True)
        self.vectorizers = build_vectorizers(self.config)
        features = self._features(self.vectorizers, texts, embeddings, fit=True)
        with ThreadPoolExecutor(max_workers=2) as pool:
            fitted = pool.submit(self._new_model().fit, features, labels)
            self.temperature = (self._fit_temperature(texts, labels, embeddings, pool)
                                if self.config["model"] == "linear_svm" else 1.0)
            model = fitted.result()
        self.coef = model.coef_.astype(np.float32)
        self.intercept = np.atleast_1d(model.intercept_).astype(np.float32)
        self.classes = [str(c) for c in model.classes_]
        logger.debug("LinearIntentClassifier: %s, temperature %.2f, sentence encoder %s",
                     self.config["model"], self.temperature, self.sentence_encoder)
        self.persist()
        return self._resource

    # ------------------------------------------------------------------ inference

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        features = self._features(self.vectorizers, texts, self._embeddings(texts))
        scores = both_sides(np.asarray(features @ self.coef.T) + self.intercept)
        return softmax(self.temperature * scores)

    def process(self, messages: list[Message]) -> list[Message]:
        if self.vectorizers is None or not self.classes:
            return messages
        texts = [m.get(TEXT) or "" for m in messages]
        probabilities = self.predict_proba(texts)
        weight = float(self.config["upstream_weight"])
        index = {name: i for i, name in enumerate(self.classes)}
        for message, linear in zip(messages, probabilities, strict=False):
            blended = linear
            upstream = message.get(INTENT_RANKING_KEY) or []
            if weight > 0 and upstream:
                other = np.zeros_like(linear)
                for item in upstream:
                    i = index.get(item.get("name"))
                    if i is not None:
                        other[i] = float(item.get("confidence") or 0.0)
                blended = (1.0 - weight) * linear + weight * other
            order = np.argsort(-blended)
            ranking = [
                {"name": self.classes[i], "confidence": float(blended[i])}
                for i in order[: int(self.config["ranking_length"])]
            ]
            message.set(INTENT, ranking[0], add_to_output=True)
            message.set(INTENT_RANKING_KEY, ranking, add_to_output=True)
        return messages

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data

    # ------------------------------------------------------------------ storage

    def persist(self) -> None:
        with self._model_storage.write_to(self._resource) as directory:
            meta = {"classes": self.classes, "temperature": self.temperature,
                    "sentence_encoder": self.sentence_encoder,
                    "sentence_embedding_weight": float(self.config["sentence_embedding_weight"]),
                    "vectorizers": {}}
            arrays = {"coef": self.coef, "intercept": self.intercept}
            for key in VECTORIZERS:
                vec = self.vectorizers[key]
                meta["vectorizers"][key] = {
                    term: int(col) for term, col in vec.vocabulary_.items()
                }
                arrays[f"idf_{key}"] = vec.idf_
            (directory / "linear_intent_classifier.json").write_text(
                json.dumps(meta), encoding="utf-8"
            )
            np.savez(directory / "linear_intent_classifier.npz", **arrays)

    @classmethod
    def load(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> LinearIntentClassifier:
        try:
            with model_storage.read_from(resource) as directory:
                meta = json.loads(
                    (directory / "linear_intent_classifier.json").read_text(encoding="utf-8")
                )
                with np.load(directory / "linear_intent_classifier.npz", allow_pickle=False) as npz:
                    arrays = {k: npz[k] for k in npz.files}
        except (ValueError, FileNotFoundError):
            logger.warning("LinearIntentClassifier: no trained model found; it will do nothing.")
            return cls.create(config, model_storage, resource, execution_context)
        merged = {**cls.get_default_config(), **config}
        encoder = meta.get("sentence_encoder")
        if encoder:
            from supportbot.nlu.sentence_encoder import MODEL_ID, shared_encoder

            if encoder != MODEL_ID:
                raise ValueError(f"LinearIntentClassifier was trained with sentence encoder "
                                 f"{encoder!r} but this installation has {MODEL_ID!r}: retrain")
            shared_encoder()  # load it now: a missing package fails here, not on a message
            config = {**config, "sentence_embedding_weight": float(
                meta.get("sentence_embedding_weight", merged["sentence_embedding_weight"]))}
        vectorizers = build_vectorizers(merged)
        for key in VECTORIZERS:
            vec = vectorizers[key]
            vec.vocabulary_ = meta["vectorizers"][key]
            vec.idf_ = arrays[f"idf_{key}"]
        return cls(
            config,
            model_storage,
            resource,
            vectorizers=vectorizers,
            coef=arrays["coef"],
            intercept=arrays["intercept"],
            classes=meta["classes"],
            temperature=float(meta.get("temperature", 1.0)),
            sentence_encoder=encoder,
        )
