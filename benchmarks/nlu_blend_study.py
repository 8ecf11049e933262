#!/usr/bin/env python
"""Intent classifier variants and DIET blend weights, scored on the benchmark's held-out split.

Trains DIET alone (config.yml's pipeline without the LinearIntentClassifier and the
FallbackClassifier) once on the stratified 80 % split of our data that benchmarks/nlu_bench.py
uses, keeps DIET's ranking for every held-out message, then trains each linear model variant in
`VARIANTS` (seconds each) and prints, for the held-out 20 %:

- the linear model alone and DIET alone (arg-max),
- the blend (1 - w) * linear + w * DIET,
- the blend after the FallbackClassifier rule (top < threshold, or top - second < ambiguity),

with accuracy (`nlu_fallback` right only for out_of_scope, as in nlu_bench.py), the number of
fallbacks and of confident wrong answers. Reads only our own data; prints aggregates only.
The figures of its last run, and what they decided: docs/benchmarks/nlu-notes.md.

    .venv/bin/python benchmarks/nlu_blend_study.py            # about 10-15 min on 2 cores
    .venv/bin/python benchmarks/nlu_blend_study.py --config benchmarks/default_config.yml
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("SQLALCHEMY_SILENCE_UBER_WARNING", "1")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
sys.path.insert(0, str(REPO))

OOS = "out_of_scope"
VARIANTS = {
    "logistic regression C=30": {"model": "logistic_regression", "C": 30},
    "linear SVM C=1": {"model": "linear_svm", "C": 1.0},
    "linear SVM C=1 + sentence embeddings": {"model": "linear_svm", "C": 1.0,
                                             "sentence_embeddings": True},
}
SETTINGS = [(0.0, 0.0, 0.0), (0.2, 0.0, 0.0), (0.2, 0.3, 0.05)]  # (DIET weight, threshold, ambiguity)
DROPPED = ("supportbot.nlu.linear_intent_classifier.LinearIntentClassifier", "FallbackClassifier")


def diet_only_config(tmp: Path, config: Path = REPO / "config.yml") -> Path:
    """`config`'s NLU pipeline without the LinearIntentClassifier and the FallbackClassifier,
    written to `tmp`; exits when no DIETClassifier is left to blend with."""
    import yaml

    doc = yaml.safe_load(config.read_text(encoding="utf-8"))
    pipeline = [c for c in doc.get("pipeline") or []
                if c.get("name") not in DROPPED]
    if not any(c.get("name") == "DIETClassifier" for c in pipeline):
        sys.exit(f"{config.name} has no DIETClassifier to blend with; pass --config FILE with one "
                 "(e.g. benchmarks/default_config.yml)")
    path = tmp / "diet_only.yml"
    nlu_only = {**{k: v for k, v in doc.items() if k != "policies"}, "pipeline": pipeline}
    path.write_text(yaml.safe_dump(nlu_only, sort_keys=False), encoding="utf-8")
    return path


def evaluate(probabilities, classes, rankings, gold, diet_weight, threshold, ambiguity):
    import numpy as np

    index = {c: i for i, c in enumerate(classes)}
    right = fallback = confident_wrong = 0
    for p, ranking, g in zip(probabilities, rankings, gold, strict=False):
        diet = np.zeros(len(classes))
        for name, confidence in ranking:
            if name in index:
                diet[index[name]] = confidence
        blend = (1 - diet_weight) * p + diet_weight * diet
        order = np.argsort(-blend)
        if blend[order[0]] < threshold or blend[order[0]] - blend[order[1]] < ambiguity:
            fallback += 1
            right += g == OOS
        else:
            right += classes[order[0]] == g
            confident_wrong += classes[order[0]] != g
    return right / len(gold), fallback, confident_wrong


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", type=Path, default=REPO / "config.yml",
                    help="the pipeline whose DIET is trained (default: config.yml)")
    args = ap.parse_args(argv)
    warnings.filterwarnings("ignore")
    from rasa.engine.graph import ExecutionContext, GraphSchema
    from rasa.engine.storage.local_model_storage import LocalModelStorage
    from rasa.engine.storage.resource import Resource

    import nlu_bench
    from supportbot.nlu.linear_intent_classifier import LinearIntentClassifier

    td = nlu_bench.load_our_data()
    train_td, test_td = td.train_test_split(train_frac=nlu_bench.TRAIN_FRAC, random_seed=nlu_bench.SEED)
    texts = [m.get("text") for m in test_td.intent_examples]
    gold = [m.get("intent") for m in test_td.intent_examples]
    with tempfile.TemporaryDirectory(prefix="nlu_blend_") as tmp:
        tmp = Path(tmp)
        train_file = nlu_bench.write_training_data(train_td, tmp / "train.yml")
        model, took = nlu_bench.train(diet_only_config(tmp, args.config.resolve()), train_file, tmp / "models", "diet")
        rankings = [[(r["name"], r["confidence"]) for r in p.get("intent_ranking", [])]
                    for p in nlu_bench.parse(model, texts)]
        diet_acc = sum((r[0][0] if r else None) == g for r, g in zip(rankings, gold, strict=False)) / len(gold)
        print(f"{len(train_td.intent_examples)} training / {len(gold)} held-out examples; "
              f"DIET trained in {took:.0f}s; DIET alone (arg-max) {diet_acc:.4f}")
        for label, config in VARIANTS.items():
            (tmp / label).mkdir()
            component = LinearIntentClassifier.create(
                {**LinearIntentClassifier.get_default_config(), **config},
                LocalModelStorage(tmp / label), Resource("linear"),
                ExecutionContext(GraphSchema({}), "study"))
            started = time.monotonic()
            component.train(train_td)
            seconds = time.monotonic() - started
            probabilities = component.predict_proba(texts)
            print(f"\n{label}: trained in {seconds:.0f}s, temperature {component.temperature:.2f}")
            for weight, threshold, ambiguity in SETTINGS:
                acc, fallback, wrong = evaluate(probabilities, component.classes, rankings, gold,
                                                weight, threshold, ambiguity)
                print(f"  DIET weight {weight}, fallback {threshold}/{ambiguity}: accuracy "
                      f"{acc:.4f}, nlu_fallback {fallback}, confident wrong {wrong}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
