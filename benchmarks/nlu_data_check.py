#!/usr/bin/env python
"""Training-data check: which of OUR examples does a cross-validated linear model label differently?

A linear SVM over the shipped classifier's features (TF-IDF word + character n-grams and, unless
--no-embeddings, the MiniLM sentence embeddings of supportbot/nlu/sentence_encoder.py) is trained
with 5-fold cross-validation over data/nlu.yml + data/nlu/*.yml (a few minutes on 2 cores, no
Rasa training). It prints texts that carry two intents, the CV recall per intent and the
examples it gets wrong: mislabelled, ambiguous without context, or a phrasing the data covers
only once (how to decide: docs/nlu-labelling-guide.md). It reads only our own data (never
../shared/benchmarks).

    .venv/bin/python benchmarks/nlu_data_check.py                 # per-intent CV recall + errors
    .venv/bin/python benchmarks/nlu_data_check.py --intents goodbye,thanks
    .venv/bin/python benchmarks/nlu_data_check.py --summary       # numbers only
"""
from __future__ import annotations

import argparse
import os
import sys
import warnings
from collections import Counter, defaultdict
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("SQLALCHEMY_SILENCE_UBER_WARNING", "1")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
sys.path.insert(0, str(REPO))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--intents", default="", help="comma-separated: only errors touching these")
    ap.add_argument("--summary", action="store_true", help="numbers only, no example list")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--no-embeddings", action="store_true",
                    help="n-grams only (faster)")
    args = ap.parse_args()
    warnings.filterwarnings("ignore")

    from sklearn.model_selection import StratifiedKFold
    from sklearn.svm import LinearSVC

    import nlu_bench
    from supportbot.nlu.linear_intent_classifier import LinearIntentClassifier, build_vectorizers, featurise, rows

    td = nlu_bench.load_our_data()
    texts = [m.get("text") for m in td.intent_examples]
    gold = [m.get("intent") for m in td.intent_examples]
    config = LinearIntentClassifier.get_default_config()
    embeddings = None
    if not args.no_embeddings:
        from supportbot.nlu.sentence_encoder import shared_encoder

        embeddings = shared_encoder().encode(texts)
    folds = StratifiedKFold(n_splits=args.folds, shuffle=True, random_state=42)
    pred = [None] * len(texts)
    for train_idx, test_idx in folds.split(texts, gold):
        vectorizers = build_vectorizers(config)
        fit = featurise(vectorizers, [texts[i] for i in train_idx], fit=True,
                        embeddings=rows(embeddings, train_idx))
        model = LinearSVC(C=1.0, max_iter=3000).fit(fit, [gold[i] for i in train_idx])
        apply = featurise(vectorizers, [texts[i] for i in test_idx],
                          embeddings=rows(embeddings, test_idx))
        for i, p in zip(test_idx, model.predict(apply), strict=False):
            pred[i] = p

    seen = defaultdict(set)
    for t, g in zip(texts, gold, strict=False):
        seen[" ".join(t.lower().split()).strip(" .!?")].add(g)
    clashes = {t: sorted(i) for t, i in seen.items() if len(i) > 1}
    if clashes:
        print(f"{len(clashes)} texts carry two intents (fix these first):")
        for t, intents in sorted(clashes.items()):
            print(f"    {t!r}: {', '.join(intents)}")

    wanted = {i.strip() for i in args.intents.split(",") if i.strip()}
    total = Counter(gold)
    hits = Counter(g for g, p in zip(gold, pred, strict=False) if g == p)
    acc = sum(hits.values()) / len(gold)
    print(f"{len(gold)} examples, {len(total)} intents, {args.folds}-fold CV accuracy {acc:.3f}")
    for intent in sorted(total, key=lambda i: hits[i] / total[i]):
        if wanted and intent not in wanted:
            continue
        print(f"  {intent:24s} n={total[intent]:4d} recall={hits[intent] / total[intent]:.3f}")
    if args.summary:
        return 0
    errors = defaultdict(list)
    for t, g, p in zip(texts, gold, pred, strict=False):
        if g != p and (not wanted or g in wanted or p in wanted):
            errors[(g, p)].append(t)
    for (g, p), items in sorted(errors.items(), key=lambda kv: -len(kv[1])):
        print(f"\n[{g} -> {p}] {len(items)}")
        for t in items:
            print(f"    {t}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
