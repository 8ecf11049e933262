"""FAQ retriever benchmark: top-1 / top-3 accuracy on held-out paraphrases.

Measures, writes the figures to docs/benchmarks/faq_results.json and renders
docs/benchmarks/faq.md from them (template benchmarks/templates/faq.md.j2). What the sets are
and how to read the figures: docs/benchmarks/faq-notes.md.

    .venv/bin/python benchmarks/faq_bench.py            # measure: report to stdout, results JSON
                                                        # + docs/benchmarks/faq.md
    .venv/bin/python benchmarks/faq_bench.py --report-only   # re-render faq.md from the JSON
    .venv/bin/python benchmarks/faq_bench.py --dev      # leave-one-out on the articles' own
                                                        # `questions:` (for tuning; no held-out data)
    .venv/bin/python benchmarks/faq_bench.py --no-write --set char_weight=0

    .venv/bin/python benchmarks/faq_bench.py --tuning-only  # main set + dev only: never reads
                                                        # the fresh sets (use this while tuning)
    .venv/bin/python benchmarks/faq_bench.py --check-leaks  # held-out questions in the index?

Held-out sets (the script refuses to run if one of their questions also appears, after
normalising case and punctuation, in an article's title or `questions:`):

  benchmarks/faq_questions_fresh.yml  FRESH, the headline set: only its aggregates are printed or
                                      stored, never a question or an article's score.
  benchmarks/faq_questions_fresh2.yml FRESH2, a second headline set; evaluated when the file
                                      exists, aggregates only.
  benchmarks/faq_questions.yml        `articles` (the main set) and `out_of_scope`: the TUNING
                                      set, its misses are listed. `second_set`: aggregate only.

The before/after figures (`before`, `before_fusion` in the results JSON) are recorded baselines:
a run keeps those of the previous results file, or measures `before` anew from --before-faq-dir.
"""
from __future__ import annotations

import argparse
import dataclasses
import re
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import report  # noqa: E402
from supportbot.knowledge import KnowledgeBase, RetrieverConfig  # noqa: E402
from supportbot.knowledge.articles import load_articles  # noqa: E402
from supportbot.knowledge.text import Normaliser  # noqa: E402

QUESTIONS_FILE = ROOT / "benchmarks" / "faq_questions.yml"
FRESH_FILE = ROOT / "benchmarks" / "faq_questions_fresh.yml"
FRESH2_FILE = ROOT / "benchmarks" / "faq_questions_fresh2.yml"
REPORT_FILE = ROOT / "docs" / "benchmarks" / "faq.md"
RESULTS_FILE = ROOT / "docs" / "benchmarks" / "faq_results.json"
TEMPLATE = "faq.md.j2"
THRESHOLDS = (0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5)


def _plain(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9]+", text.lower()))


def _content(text: str) -> set[str]:
    from supportbot.knowledge.text import is_stop_word

    return {w for w in _plain(text).split() if not is_stop_word(w)}


def novel_cases(cases, others, limit: float = 0.5):
    """The cases whose content words overlap (Jaccard) less than `limit` with every question of
    `others`: the part of the fresh set that is not a near-twin of a tuning question."""
    other_sets = [_content(q) for q, _ in others]
    out = []
    for q, a in cases:
        words = _content(q)
        overlap = max((len(words & o) / len(words | o) for o in other_sets if words | o), default=0.0)
        if overlap < limit:
            out.append((q, a))
    return out


def index_phrasings(kb: KnowledgeBase) -> list[tuple[str, str]]:
    """(question or title, article id) for every index phrasing of the knowledge base."""
    return [(q, a.id) for a in kb for q in (a.title, *a.questions)]


def load_benchmark(path: Path, key: str = "articles") -> tuple[list[tuple[str, str]], list[str]]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    cases = [(q, article_id) for article_id, qs in (data.get(key) or {}).items() for q in qs]
    return cases, list(data.get("out_of_scope") or [])


def leaked_cases(kb: KnowledgeBase, cases: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The held-out cases whose question is also (after normalising case and punctuation) an
    article title or an index question."""
    index_questions = {_plain(q) for a in kb for q in a.questions} | {_plain(a.title) for a in kb}
    return [(q, a) for q, a in cases if _plain(q) in index_questions]


def check_held_out(kb: KnowledgeBase, cases: list[tuple[str, str]], minimum: int = 4,
                   quiet: bool = False, name: str = "held-out set") -> None:
    """Exit when the set names unknown articles, leaks into the index or covers an article with
    fewer than `minimum` questions. `quiet` (the fresh sets): name only the articles concerned
    and counts, never a question, so that the message cannot turn the set into a tuning set."""
    missing = sorted({a for _, a in cases if a not in kb})
    if missing:
        sys.exit(f"{name}: benchmark names unknown article ids: {missing}")
    leaked = leaked_cases(kb, cases)
    if leaked:
        if quiet:
            counts = {a: sum(1 for _, x in leaked if x == a) for a in sorted({a for _, a in leaked})}
            sys.exit(f"{name}: {len(leaked)} held-out question(s) also used to build the index "
                     f"(titles/questions), per expected article: {counts}")
        sys.exit(f"{name}: held-out questions also used to build the index (titles/questions): "
                 f"{[q for q, _ in leaked]}")
    uncovered = sorted(a.id for a in kb if sum(1 for _, x in cases if x == a.id) < minimum)
    if uncovered:
        sys.exit(f"{name}: articles with fewer than {minimum} held-out questions: {uncovered}")


def evaluate(kb: KnowledgeBase, cases, out_of_scope):
    rows = []
    for question, expected in cases:
        hits = kb.search(question, k=3)
        ids = [h.article.id for h in hits]
        rows.append({
            "question": question,
            "expected": expected,
            "ids": ids,
            "confidence": hits[0].confidence if hits else 0.0,
            "top1": bool(ids) and ids[0] == expected,
            "top3": expected in ids,
        })
    ood = []
    for question in out_of_scope:
        hits = kb.search(question, k=1)
        ood.append({"question": question, "id": hits[0].article.id if hits else None,
                    "confidence": hits[0].confidence if hits else 0.0})
    return rows, ood


def dev_leave_one_out(faq_dir: Path, normaliser: Normaliser, config: RetrieverConfig):
    """Each article question in turn is removed from the index and asked as a query."""
    articles = load_articles(faq_dir)
    rows = []
    for ai, article in enumerate(articles):
        for qi, question in enumerate(article.questions):
            reduced = dataclasses.replace(article, questions=article.questions[:qi] + article.questions[qi + 1:])
            kb = KnowledgeBase(articles[:ai] + [reduced] + articles[ai + 1:], normaliser=normaliser, config=config)
            ids = [h.article.id for h in kb.search(question, k=3)]
            rows.append({"question": question, "expected": article.id, "ids": ids,
                         "top1": bool(ids) and ids[0] == article.id, "top3": article.id in ids})
    return rows


def threshold_table(rows, ood):
    lines = []
    for t in THRESHOLDS:
        answered = [r for r in rows if r["confidence"] >= t]
        correct = sum(1 for r in answered if r["top1"])
        rejected = sum(1 for r in ood if r["confidence"] < t)
        lines.append((t, len(answered) / len(rows), correct / len(answered) if answered else 1.0,
                      rejected / len(ood) if ood else 1.0))
    return lines


def parse_overrides(items: list[str]) -> dict:
    out = {}
    fields = {f.name: f.type for f in dataclasses.fields(RetrieverConfig)}
    for item in items:
        key, _, value = item.partition("=")
        if key not in fields:
            sys.exit(f"unknown retriever setting {key!r}; known: {', '.join(fields)}")
        out[key] = float(value)
    return out


def summarise(rows, threshold: float) -> dict:
    n = len(rows)
    if not n:
        return {"n": 0, "top1": 0.0, "top3": 0.0, "mrr": 0.0, "answered": 0.0, "precision": 1.0}
    answered = [r for r in rows if r["confidence"] >= threshold]
    return {
        "n": n,
        "top1": sum(r["top1"] for r in rows) / n,
        "top3": sum(r["top3"] for r in rows) / n,
        "mrr": sum(1 / (r["ids"].index(r["expected"]) + 1) for r in rows if r["expected"] in r["ids"]) / n,
        "answered": len(answered) / n,
        "precision": sum(r["top1"] for r in answered) / len(answered) if answered else 1.0,
    }


def rejection(ood, threshold: float) -> float:
    return sum(1 for o in ood if o["confidence"] < threshold) / len(ood) if ood else 1.0


def tuning_only(args, normaliser: Normaliser, config: RetrieverConfig, settings_line: str) -> int:
    """The tuning signal alone: the main set's `articles` (with misses) and `out_of_scope`
    (rejection and the highest confidence), plus the dev leave-one-out. The fresh sets and the
    main file's `second_set` are not read, so tuning with this cannot see them."""
    kb = KnowledgeBase.load(args.faq_dir, index_path=None, save=False, normaliser=normaliser, config=config)
    threshold = KnowledgeBase.threshold
    cases, out_of_scope = load_benchmark(args.questions)
    check_held_out(kb, cases)
    rows, ood = evaluate(kb, cases, out_of_scope)
    s = summarise(rows, threshold)
    print(f"tuning set: {settings_line}")
    print(f"  main: n={s['n']} top-1 {s['top1']:.3f} top-3 {s['top3']:.3f} mrr {s['mrr']:.3f} "
          f"answered {s['answered']:.3f} precision {s['precision']:.3f}")
    print(f"  main off-topic: rejected {rejection(ood, threshold):.3f} "
          f"highest {max((o['confidence'] for o in ood), default=0):.2f}")
    for t, answered, precision, rejected in threshold_table(rows, ood):
        print(f"    threshold {t:.2f}: answered {answered:.3f} precision {precision:.3f} "
              f"off-topic rejected {rejected:.3f}")
    for r in rows:
        if not r["top1"]:
            print(f"  miss {r['expected']}: {r['question']!r} -> {r['ids']} ({r['confidence']:.2f})"
                  f"{'' if r['top3'] else ' NOT IN TOP-3'}")
    for o in sorted(ood, key=lambda o: -o["confidence"])[:5]:
        print(f"  off-topic {o['confidence']:.2f} {o['id']}: {o['question']!r}")
    if not args.no_dev:
        dev = dev_leave_one_out(args.faq_dir, normaliser, config)
        n = len(dev)
        print(f"  dev (leave-one-out): n={n} top-1 {sum(r['top1'] for r in dev) / n:.3f} "
              f"top-3 {sum(r['top3'] for r in dev) / n:.3f}")
    return 0


def load_fresh2(path: Path, kb: KnowledgeBase):
    """(cases, out_of_scope) of the second fresh set, or None when the file does not exist. Same
    loader and leak check as the other sets; messages never show one of its questions."""
    if not path.is_file():
        return None
    try:
        cases, out_of_scope = load_benchmark(path)
    except (yaml.YAMLError, AttributeError, TypeError) as exc:
        sys.exit(f"{path.name}: cannot read it as a benchmark file ({type(exc).__name__})")
    if not cases:
        sys.exit(f"{path.name}: no `articles` questions")
    check_held_out(kb, cases, minimum=1, quiet=True, name=path.name)
    return cases, out_of_scope


def check_leaks_only(args, normaliser: Normaliser, config: RetrieverConfig) -> int:
    kb = KnowledgeBase.load(args.faq_dir, index_path=None, save=False, normaliser=normaliser, config=config)
    sets = [("main articles", load_benchmark(args.questions)[0], False),
            ("main second_set", load_benchmark(args.questions, "second_set")[0], False),
            (args.fresh.name, load_benchmark(args.fresh)[0], True)]
    if args.fresh2.is_file():
        sets.append((args.fresh2.name, load_benchmark(args.fresh2)[0], True))
    for name, cases, quiet in sets:
        leaked = leaked_cases(kb, cases)
        if quiet:
            counts = {a: sum(1 for _, x in leaked if x == a) for a in sorted({a for _, a in leaked})}
            print(f"{name}: {len(leaked)} leaked {counts if counts else ''}")
        else:
            print(f"{name}: {len(leaked)} leaked {[q for q, _ in leaked]}")
    return 0


def _shown(path: Path) -> str:
    """`path` relative to the repository when it is inside it."""
    path = Path(path).resolve()
    return path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else str(path)


def _ood_stats(ood) -> dict:
    return {"n": len(ood), "highest": max((o["confidence"] for o in ood), default=0)}


def measure_before(args, normaliser: Normaliser, threshold: float, sets: dict) -> dict:
    """The previous round's articles (--before-faq-dir) and settings (--before-set) on the same
    sets; `sets` maps a key to (cases, out_of_scope)."""
    before_config = dataclasses.replace(RetrieverConfig(), **parse_overrides(args.before_set))
    before_kb = KnowledgeBase.load(args.before_faq_dir, index_path=None, save=False,
                                   normaliser=normaliser, config=before_config)
    measured = {}
    for key, (set_cases, set_ood) in sets.items():
        if not set_cases:
            continue
        check_held_out(before_kb, set_cases, minimum=1, quiet=True, name=f"{key} (before)")
        b_rows, b_ood = evaluate(before_kb, set_cases, set_ood)
        measured[key] = summarise(b_rows, threshold)
        if set_ood:
            measured[f"ood_{key}"] = rejection(b_ood, threshold)
    b_novel = novel_cases(sets["fresh"][0], index_phrasings(before_kb))
    measured["fresh_novel_index"] = summarise(evaluate(before_kb, b_novel, [])[0], threshold)
    print(f"before ({args.before_faq_dir}, {before_config.to_dict()}): " + "; ".join(
        f"{k} {v['top1']:.3f}/{v['top3']:.3f}" if isinstance(v, dict) else f"{k} {v:.3f}"
        for k, v in measured.items()))
    return measured


def ablations(args, normaliser: Normaliser, config: RetrieverConfig, ablation_sets) -> dict:
    """top-1 / top-3 of retriever variants on the same articles and sets."""
    bm25_only = dataclasses.replace(config, char_weight=0.0, char_confidence=0.0)
    rows = []
    for label, variant, variant_config in (
        ("default: BM25 + n-gram cosine, stemming + thesaurus", normaliser, config),
        ("BM25 only (no n-gram fusion)", normaliser, bm25_only),
        ("n-gram cosine only", normaliser, dataclasses.replace(config, char_weight=1.0)),
        ("stemming, no thesaurus", Normaliser(synonyms=False), config),
        ("lowercase tokens only + thesaurus", Normaliser(mode="none"), config),
    ):
        variant_kb = KnowledgeBase.load(args.faq_dir, index_path=None, save=False,
                                        normaliser=variant, config=variant_config)
        cells = {}
        for key, set_cases in ablation_sets:
            variant_rows, _ = evaluate(variant_kb, set_cases, [])
            m = len(variant_rows)
            cells[key] = {"top1": sum(r["top1"] for r in variant_rows) / m,
                          "top3": sum(r["top3"] for r in variant_rows) / m}
        rows.append({"label": label, "cells": cells})
    return {"sets": [k for k, _ in ablation_sets], "rows": rows}


def measure(args, normaliser: Normaliser, config: RetrieverConfig, previous: dict) -> dict:
    """Every figure of the report, as a JSON-able dict. Only aggregates of the fresh sets;
    questions of the main (tuning) set only. `previous`: the last results, for the baselines."""
    started = time.perf_counter()
    kb = KnowledgeBase.load(args.faq_dir, index_path=None, save=False, normaliser=normaliser,
                            config=config)
    threshold = KnowledgeBase.threshold
    cases, out_of_scope = load_benchmark(args.questions)
    check_held_out(kb, cases)
    second, _ = load_benchmark(args.questions, "second_set")
    check_held_out(kb, second, minimum=1)
    fresh, fresh_ood = load_benchmark(args.fresh)
    check_held_out(kb, fresh, quiet=True, name=args.fresh.name)
    fresh2_data = load_fresh2(args.fresh2, kb)
    novel = novel_cases(fresh, cases + second)

    rows, ood = evaluate(kb, cases, out_of_scope)
    second_rows, _ = evaluate(kb, second, [])
    fresh_rows, fresh_ood_rows = evaluate(kb, fresh, fresh_ood)
    novel_rows, _ = evaluate(kb, novel, [])
    # the fresh questions with no near-twin among the index questions and titles: how much of the
    # fresh figure comes from the index having (by chance) a phrasing close to the question
    novel_index = novel_cases(fresh, index_phrasings(kb))
    novel_index_rows, _ = evaluate(kb, novel_index, [])
    fresh2_rows = fresh2_ood_rows = None
    if fresh2_data is not None:
        fresh2_rows, fresh2_ood_rows = evaluate(kb, *fresh2_data)
    elapsed = time.perf_counter() - started

    sets = {
        "fresh": summarise(fresh_rows, threshold),
        "fresh_novel": summarise(novel_rows, threshold),
        "fresh_novel_index": summarise(novel_index_rows, threshold),
        "main": summarise(rows, threshold),
        "second": summarise(second_rows, threshold),
    }
    if fresh2_rows is not None:
        sets["fresh2"] = summarise(fresh2_rows, threshold)
    dev = dev_leave_one_out(args.faq_dir, normaliser, config)
    sets["dev"] = {"n": len(dev), "top1": sum(r["top1"] for r in dev) / len(dev),
                   "top3": sum(r["top3"] for r in dev) / len(dev)}
    off_topic = {"fresh": {**_ood_stats(fresh_ood_rows),
                           "rejected": rejection(fresh_ood_rows, threshold)}}
    if fresh2_ood_rows:
        off_topic["fresh2"] = {**_ood_stats(fresh2_ood_rows),
                               "rejected": rejection(fresh2_ood_rows, threshold)}
    off_topic["main"] = {**_ood_stats(ood), "rejected": rejection(ood, threshold)}

    before = dict(previous.get("before") or {})
    if args.before_faq_dir is not None:
        measured = measure_before(args, normaliser, threshold, {
            "fresh": (fresh, fresh_ood), "main": (cases, out_of_scope), "second": (second, []),
            "fresh2": fresh2_data or ([], [])})
        for key in ("fresh2", "ood_fresh2", "fresh_novel_index"):
            if key in measured:
                before[key] = measured[key]

    per_article: dict = {}
    misses = []
    for r in rows:
        s = per_article.setdefault(r["expected"], {"n": 0, "top1": 0, "top3": 0})
        s["n"] += 1
        s["top1"] += r["top1"]
        s["top3"] += r["top3"]
    for article_id in per_article:
        misses += [{k: r[k] for k in ("expected", "question", "ids", "confidence", "top3")}
                   for r in rows if r["expected"] == article_id and not r["top1"]]

    ablation_sets = ([("fresh", fresh)] + ([("fresh2", fresh2_data[0])] if fresh2_data else [])
                     + [("main", cases), ("second", second)])
    fresh_thresholds = threshold_table(fresh_rows, fresh_ood_rows)
    n_searches = (len(rows) + len(second_rows) + len(fresh_rows) + len(novel_rows) + len(ood)
                  + len(fresh_ood_rows) + len(fresh2_rows or []) + len(fresh2_ood_rows or []))
    return {
        "meta": {
            "generated": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "elapsed_seconds": elapsed,
            "n_searches": n_searches,
            "threshold": threshold,
            "normaliser": {"mode": normaliser.mode, "synonyms": normaliser.use_synonyms},
            "retriever": config.to_dict(),
            "n_articles": len(kb),
            "n_index_questions": sum(len(a.questions) for a in kb),
            "files": {"fresh": _shown(args.fresh), "main": _shown(args.questions),
                      **({"fresh2": _shown(args.fresh2)} if fresh2_data else {})},
        },
        "sets": sets,
        "off_topic": off_topic,
        "before": before,
        "before_fusion": previous.get("before_fusion") or {},
        "ablations": ablations(args, normaliser, config, ablation_sets),
        "thresholds": [
            {"threshold": t,
             "main": {"answered": answered, "precision": precision, "rejected": rejected},
             "fresh": {"answered": f[1], "precision": f[2], "rejected": f[3]}}
            for (t, answered, precision, rejected), f in zip(threshold_table(rows, ood),
                                                             fresh_thresholds, strict=False)],
        "per_article": [{"id": a, "index_questions": len(kb.get(a).questions), **per_article[a]}
                        for a in sorted(per_article)],
        "main_misses": misses,
        "main_off_topic": [{k: o[k] for k in ("question", "id", "confidence")} for o in ood],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faq-dir", type=Path, default=ROOT / "faq")
    parser.add_argument("--questions", type=Path, default=QUESTIONS_FILE)
    parser.add_argument("--fresh", type=Path, default=FRESH_FILE)
    parser.add_argument("--fresh2", type=Path, default=FRESH2_FILE,
                        help="second headline set, evaluated (aggregates only) when the file exists")
    parser.add_argument("--report", type=Path, default=REPORT_FILE)
    parser.add_argument("--results", type=Path, default=RESULTS_FILE,
                        help="results JSON the report is rendered from")
    parser.add_argument("--no-write", action="store_true",
                        help="print only, write neither the results nor the report")
    parser.add_argument("--report-only", action="store_true",
                        help="re-render the report from the results JSON, no measuring")
    parser.add_argument("--before-faq-dir", type=Path, default=None,
                        help="also measure the articles of this folder (e.g. the previous round's) "
                             "with --before-set overrides, for the before/after table")
    parser.add_argument("--before-set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--dev", action="store_true", help="leave-one-out on the articles' questions")
    parser.add_argument("--mode", default="stem", help="normaliser mode: stem or none")
    parser.add_argument("--no-synonyms", action="store_true")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a RetrieverConfig setting, e.g. char_weight=0")
    parser.add_argument("--tuning-only", action="store_true",
                        help="dev leave-one-out + the main set's `articles` and `out_of_scope` only, "
                             "with their misses; never opens the fresh sets (use this while tuning)")
    parser.add_argument("--no-dev", action="store_true", help="with --tuning-only: skip the leave-one-out")
    parser.add_argument("--check-leaks", action="store_true",
                        help="only check that no held-out question (any set) is in the index; for "
                             "the fresh sets print counts per article, never a question or a score")
    args = parser.parse_args(argv)

    if args.report_only:
        path = report.write_report(TEMPLATE, report.load_results(args.results), args.report)
        print(f"report: {_shown(path)}")
        return 0

    normaliser = Normaliser(mode=args.mode, synonyms=not args.no_synonyms)
    config = dataclasses.replace(RetrieverConfig(), **parse_overrides(args.set))
    settings_line = f"normaliser mode={normaliser.mode} synonyms={normaliser.use_synonyms}; {config.to_dict()}"

    if args.dev:
        rows = dev_leave_one_out(args.faq_dir, normaliser, config)
        n = len(rows)
        print(f"dev (leave-one-out on articles' questions): {settings_line}")
        print(f"  questions: {n}  top-1: {sum(r['top1'] for r in rows) / n:.3f}  "
              f"top-3: {sum(r['top3'] for r in rows) / n:.3f}")
        for r in rows:
            if not r["top1"]:
                print(f"  miss {r['expected']}: {r['question']!r} -> {r['ids']}")
        return 0

    if args.tuning_only:
        return tuning_only(args, normaliser, config, settings_line)
    if args.check_leaks:
        return check_leaks_only(args, normaliser, config)

    previous = report.load_results(args.results) if args.results.is_file() else {}
    results = measure(args, normaliser, config, previous)
    text = report.render(TEMPLATE, results)
    print(text)
    if not args.no_write:
        report.save_results(results, args.results)
        args.report.parent.mkdir(parents=True, exist_ok=True)
        args.report.write_text(text, encoding="utf-8")
        print(f"written to {_shown(args.results)} and {_shown(args.report)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
