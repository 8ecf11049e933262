"""The benchmark reports are rendered from results dicts (benchmarks/report.py + templates):
every table shows the figures it is given, a missing figure is an error, and the committed
reports are what their committed results JSON renders to."""
from __future__ import annotations

import copy
import importlib.util
import sys
from pathlib import Path

import jinja2
import pytest

ROOT = Path(__file__).resolve().parents[3]
BENCHMARKS = ROOT / "benchmarks"
DOCS = ROOT / "docs" / "benchmarks"


def _load(name: str):
    sys.path.insert(0, str(BENCHMARKS))
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def report():
    return _load("report")


def _scores(n, accuracy, macro_f1, recalls, confusions=()):
    return {"n": n, "accuracy": accuracy, "macro_f1": macro_f1, "fallback_rate": 0.0123,
            "confident_wrong_rate": 0.0456,
            "per_intent": {k: {"support": s, "recall": r} for k, (s, r) in recalls.items()},
            "top_confusions": [{"gold": g, "pred": p, "count": c} for g, p, c in confusions]}


def nlu_results() -> dict:
    return {
        "meta": {
            "date": "2031-01-02", "machine": "toaster, 3 cores", "n_examples": 1234,
            "n_intents": 3, "seed": 7, "train_frac": 0.8, "data_digest": "abcdef0123456789",
            "default_config_digest": "x", "default_from": "2031-01-01",
            "train_seconds": {"ours": 61.4, "default": 3601.6, "ours_full": 77.0},
            "pngs": {"heldout": "nlu_confusion_heldout.png"},
            "pipeline_yaml": "pipeline:\n- name: WhitespaceTokenizer\n",
            "latency": {"model": "/somewhere/models/bot.tar.gz", "n": 50, "median_ms": 12.34,
                        "p95_ms": 23.45, "max_ms": 345.67, "date": "2031-01-03",
                        "machine": "toaster, 3 cores"},
            "note": "a caveat about this run",
        },
        "results": {
            "heldout": {
                "by_source": {},
                "ours": _scores(300, 0.9612, 0.9587,
                                {"greet": (100, 0.93), "out_of_scope": (150, 0.9444),
                                 "thanks": (50, 0.99)}, [("greet", "thanks", 4)]),
                "default": _scores(300, 0.9001, 0.8888,
                                   {"greet": (100, 0.81), "out_of_scope": (150, 0.8222),
                                    "thanks": (50, 0.91)}),
            },
            "external": {
                "by_source": {"ours": {"clinc150": {"n": 40, "accuracy": 0.925}},
                              "default": {"clinc150": {"n": 40, "accuracy": 0.775}}},
                "ours": _scores(40, 0.8900, 0.8500, {"out_of_scope": (40, 0.8400)}),
                "default": _scores(40, 0.9100, 0.8000, {"out_of_scope": (40, 0.7000)}),
                "ours_full": _scores(40, 0.9321, 0.9123, {"out_of_scope": (40, 0.9654)}),
            },
        },
    }


def test_nlu_report_shows_every_table(report):
    text = report.render("nlu.md.j2", nlu_results())
    assert "on 2031-01-02 (toaster, 3 cores)" in text
    assert "1234 examples, 3 intents (digest `abcdef012345`)" in text and "(seed 7)" in text
    assert ("| held-out 20 % of our data | 300 | 0.961 | 0.959 | 0.900 | 0.889 | 0.944 | 0.822 "
            "| 0.012 | 0.046 |") in text
    assert "| external `intents.csv` | 40 | 0.890 | 0.850 | 0.910 | 0.800 | 0.840 | 0.700 |" in text
    assert "intents_bitext" not in text.split("## Summary")[1].split("Targets")[0]
    assert "- held-out accuracy ≥ 0.95: met (0.961 vs 0.950)" in text
    assert "- external accuracy ≥ 0.90: NOT met (0.890 vs 0.900)" in text
    assert "- external out_of_scope recall ≥ 0.85: NOT met (0.840 vs 0.850)" in text
    assert "- external accuracy ahead of default: NOT met (0.890 vs 0.910)" in text
    assert ("- ours trained on 100 % of our data (what the bot ships), on `intents.csv`: accuracy "
            "0.932, macro-F1 0.912, out_of_scope recall 0.965") in text
    assert "**Note on this run.** a caveat about this run" in text
    assert "| ours | 61 |" in text and "| default | 3602 |" in text and "| ours_full | 77 |" in text
    assert "`bot.tar.gz`, 50 held-out messages" in text
    assert "median 12.3 ms, p95 23.4 ms, max 345.7 ms" in text
    assert "| greet | 100 | 0.930 | 0.810 |" in text and "| thanks | 50 | 0.990 | 0.910 |" in text
    assert "| clinc150 | 40 | 0.925 | 0.775 |" in text
    assert "- greet → thanks: 4" in text
    assert "![confusion matrix, ours, heldout](nlu_confusion_heldout.png)" in text
    assert "```yaml\npipeline:\n- name: WhitespaceTokenizer\n```" in text
    assert "- heldout: greet 0.93, out_of_scope 0.94, thanks 0.99" in text
    assert "- external: out_of_scope 0.84" in text
    assert "nlu-notes.md" in text


def test_nlu_report_without_the_default_pipeline(report):
    results = nlu_results()
    for res in results["results"].values():
        res.pop("default")
        res["by_source"].pop("default", None)
    del results["meta"]["default_from"], results["meta"]["latency"], results["meta"]["note"]
    text = report.render("nlu.md.j2", results)
    assert "| held-out 20 % of our data | 300 | 0.961 | 0.959 | — | — | 0.944 | — |" in text
    assert "| greet | 100 | 0.930 | — |" in text and "| clinc150 | 40 | 0.925 | — |" in text
    assert "ahead of default:" not in text
    assert "Parse time" not in text and "Note on this run" not in text
    assert "measured on 2031-01-01" not in text


def test_a_missing_figure_is_an_error_not_an_empty_cell(report):
    results = nlu_results()
    del results["results"]["heldout"]["ours"]["macro_f1"]
    with pytest.raises(jinja2.UndefinedError):
        report.render("nlu.md.j2", results)
    faq = faq_results()
    del faq["sets"]["fresh"]["mrr"]
    with pytest.raises(jinja2.UndefinedError):
        report.render("faq.md.j2", faq)


def _set(n, top1, top3, mrr=0.5, answered=0.6, precision=0.7):
    return {"n": n, "top1": top1, "top3": top3, "mrr": mrr, "answered": answered,
            "precision": precision}


def faq_results() -> dict:
    return {
        "meta": {"generated": "2031-01-02 03:04 UTC", "elapsed_seconds": 1.234, "n_searches": 99,
                 "threshold": 0.25, "normaliser": {"mode": "stem", "synonyms": True},
                 "retriever": {"title": 1.0, "k1": 1.2}, "n_articles": 2,
                 "n_index_questions": 30,
                 "files": {"fresh": "benchmarks/f.yml", "main": "benchmarks/m.yml",
                           "fresh2": "benchmarks/f2.yml"}},
        "sets": {"fresh": _set(20, 0.9123, 0.9876, 0.9444, 0.8111, 0.9222),
                 "fresh_novel": _set(15, 0.8, 1.0), "fresh_novel_index": _set(12, 0.75, 1.0),
                 "main": _set(10, 0.9, 1.0), "second": _set(5, 0.6, 0.8),
                 "fresh2": _set(8, 0.875, 1.0),
                 "dev": {"n": 30, "top1": 0.7667, "top3": 0.9333}},
        "off_topic": {"fresh": {"n": 4, "highest": 0.4321, "rejected": 0.75},
                      "fresh2": {"n": 3, "highest": 0.1, "rejected": 1.0},
                      "main": {"n": 2, "highest": 0.05, "rejected": 1.0}},
        "before": {"description": "an older index", "threshold": 0.3,
                   "fresh": {"top1": 0.8, "top3": 0.9, "answered": 0.81, "precision": 0.91},
                   "main": {"top1": 0.7, "top3": 0.95, "answered": 0.71, "precision": 0.92},
                   "second": {"top1": 0.5, "top3": 0.6}, "dev": {"n": 20, "top1": 0.6, "top3": 0.9},
                   "ood_fresh": 0.5, "ood_main": 1.0},
        "before_fusion": {"description": "before fusion (BM25 only)",
                          "fresh": {"top1": 0.1, "top3": 0.2}, "main": {"top1": 0.3, "top3": 0.4},
                          "second": {"top1": 0.5, "top3": 0.6}, "ood_fresh": 0.7, "ood_main": 0.8},
        "ablations": {"sets": ["fresh", "main"],
                      "rows": [{"label": "BM25 only", "cells": {"fresh": {"top1": 0.85, "top3": 0.95},
                                                                "main": {"top1": 0.8, "top3": 0.9}}}]},
        "thresholds": [
            {"threshold": 0.2, "main": {"answered": 0.9, "precision": 0.8, "rejected": 0.5},
             "fresh": {"answered": 0.85, "precision": 0.75, "rejected": 0.25}},
            {"threshold": 0.25, "main": {"answered": 0.7, "precision": 0.6, "rejected": 1.0},
             "fresh": {"answered": 0.65, "precision": 0.55, "rejected": 0.75}}],
        "per_article": [{"id": "a-one", "index_questions": 12, "n": 5, "top1": 4, "top3": 5}],
        "main_misses": [{"expected": "a-one", "question": "where is it", "ids": ["b-two", "a-one"],
                         "confidence": 0.456, "top3": True}],
        "main_off_topic": [{"question": "tell me a joke", "id": None, "confidence": 0.0}],
    }


def test_faq_report_shows_every_table(report):
    text = report.render("faq.md.j2", faq_results())
    assert "on 2031-01-02 03:04 UTC" in text and "- time: 1.23 s for loading + 99 searches" in text
    assert ("- articles: 2 (`faq/`), 30 index questions; held-out questions: fresh 20 "
            "(`benchmarks/f.yml`), fresh2 8 (`benchmarks/f2.yml`), main 10 and second 5 "
            "(`benchmarks/m.yml`); out-of-scope questions: 4 fresh + 3 fresh2 + 2 main.") in text
    assert "normaliser mode=stem synonyms=True; {'title': 1.0, 'k1': 1.2}" in text
    assert "| **fresh (headline)** | 20 | **0.912** | **0.988** | 0.944 | 0.811 | 0.922 |" in text
    assert "| **fresh2 (second headline, aggregate only)** | 8 | **0.875** |" in text
    assert "| dev: leave-one-out on the articles' `questions:` | 30 | 0.767 | 0.933 | | | |" in text
    assert "| fresh `out_of_scope` | 4 | **0.750** | 0.43 |" in text
    assert "| main `out_of_scope` (tuning) | 2 | 1.000 | 0.05 |" in text
    flat = " ".join(text.split())
    assert "drops the 5 fresh questions" in flat and "drops the 8 that overlap" in flat
    assert "(an older index, threshold 0.3)" in " ".join(text.split())  # prose may wrap
    assert "| **fresh (headline)** | 0.800 | 0.912 | 0.900 | 0.988 |" in text
    assert "| **fresh2 (second headline, aggregate only)** | (not measured) | 0.875 | | 1.000 |" in text
    assert "| dev (leave-one-out, see above) | 0.600 | 0.767 | 0.900 | 0.933 |" in text
    assert "| off-topic rejected, fresh2 list | (not measured) | 1.000 | | |" in text
    assert "| main: answered / precision when answered | 0.710 / 0.920 | 0.600 / 0.700 | | |" in text
    assert "History: before fusion (BM25 only) fresh was 0.100 / 0.200, main 0.300 / 0.400" in text
    assert "| variant | fresh | main |\n| --- | --- | --- |\n| BM25 only | 0.850 / 0.950 | 0.800 / 0.900 |" in text
    assert "| 0.20 | 0.900 | 0.800 | 0.500 | 0.850 | 0.750 | 0.250 |" in text
    assert "| 0.25 (default) | 0.700 | 0.600 | 1.000 | 0.650 | 0.550 | 0.750 |" in text
    assert "| a-one | 12 | 5 | 4/5 | 5/5 |" in text
    assert '- `a-one`: "where is it" -> b-two, a-one (confidence 0.46)\n' in text
    assert '- "tell me a joke" -> (nothing) (0.00)' in text
    assert "faq-notes.md" in text


def test_faq_report_without_fresh2_or_baselines(report):
    results = faq_results()
    del results["sets"]["fresh2"], results["off_topic"]["fresh2"], results["meta"]["files"]["fresh2"]
    results["before"] = {}
    results["before_fusion"] = {}
    results["main_misses"] = []
    text = report.render("faq.md.j2", results)
    assert "fresh2" not in text
    assert "Before / after" not in text and "History:" not in text
    assert "## Misses of the main set (top-1 wrong)\n\nNone.\n" in text


@pytest.mark.parametrize("name", ["nlu", "faq", "review", "soak"])
def test_committed_report_is_its_results_json_rendered(report, name):
    results_file = DOCS / f"{name}_results.json"
    if not results_file.is_file():
        pytest.skip(f"{results_file.name} not committed")
    expected = (DOCS / f"{name}.md").read_text(encoding="utf-8")
    assert report.render(f"{name}.md.j2", report.load_results(results_file)) == expected


def test_benches_write_the_report_from_results(tmp_path):
    nlu_bench = _load("nlu_bench")
    path = nlu_bench.write_report(copy.deepcopy(nlu_results()), tmp_path / "nlu.md")
    assert "| held-out 20 % of our data | 300 | 0.961 |" in path.read_text(encoding="utf-8")

    faq_bench = _load("faq_bench")
    results = tmp_path / "faq_results.json"
    faq_bench.report.save_results(faq_results(), results)
    out = tmp_path / "faq.md"
    assert faq_bench.main(["--report-only", "--results", str(results), "--report", str(out)]) == 0
    assert "| **fresh (headline)** | 20 | **0.912** |" in out.read_text(encoding="utf-8")
