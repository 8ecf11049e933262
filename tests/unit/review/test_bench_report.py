"""The review benchmark's report renders from its results JSON (benchmarks/report.py pattern)."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import jinja2
import pytest

ROOT = Path(__file__).resolve().parents[3]


def _report():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    spec = importlib.util.spec_from_file_location("report", ROOT / "benchmarks" / "report.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def results() -> dict:
    return {
        "meta": {"date": "2031-01-02", "commit": "abc1234", "machine": {"cpu": "toaster", "cores": 3},
                 "postgres": "15.2", "command": "benchmarks/review_bench.py", "seed": 1},
        "data": {"conversations": 100000, "events": 1512345, "generate_seconds": 71.2,
                 "indexed_conversations": 101000, "table_mb": {"events": 900, "review_fts": 40}},
        "full_index": {"seconds": 250.4, "events": 1512345, "batches": 303, "events_per_second": 6040},
        "incremental": {"conversations": 1000, "events": 15001, "seconds": 2.34, "indexed_events": 15001,
                        "target_seconds": 10.0},
        "list": {"n": 180, "p50_ms": 41.5, "p95_ms": 123.4, "max_ms": 201.0, "target_p95_ms": 300.0,
                 "by_shape": {"channel + refund + text": {"n": 36, "p50_ms": 40.1, "p95_ms": 99.9,
                                                          "median_total": 57}},
                 "rss_mb_before": 120.0, "rss_mb_after": 121.5},
    }


def test_the_report_shows_the_figures():
    text = _report().render("review.md.j2", results())
    assert "| 1000 new conversations | 15001 | 2.34 | ≤ 10 s |" in text
    assert "| all | 41.5 | 123.4 | 201.0 | ≤ 300 ms |" in text
    assert "| channel + refund + text (median 57 matches) | 40.1 | 99.9 | | |" in text
    assert "1512345 events" in text and "120.0 MB /\n121.5 MB" in text


def test_a_missing_figure_is_an_error():
    broken = results()
    del broken["incremental"]["seconds"]
    with pytest.raises(jinja2.UndefinedError):
        _report().render("review.md.j2", broken)


def test_the_committed_report_is_its_results_rendered():
    results_file = ROOT / "docs" / "benchmarks" / "review_results.json"
    if not results_file.is_file():
        pytest.skip("review_results.json not written yet (benchmarks/review_bench.py)")
    report = _report()
    expected = (ROOT / "docs" / "benchmarks" / "review.md").read_text(encoding="utf-8")
    assert report.render("review.md.j2", report.load_results(results_file)) == expected
