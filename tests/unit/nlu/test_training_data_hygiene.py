"""Training data must never contain sentences of the external benchmark (test data only)."""
from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
BENCHMARKS = ROOT.parent / "shared" / "benchmarks"


def _norm(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", text.lower()).strip()


def test_no_benchmark_sentence_in_training_data():
    if not BENCHMARKS.is_dir():
        pytest.skip(f"no benchmark folder at {BENCHMARKS}")
    bench = set()
    for path in BENCHMARKS.rglob("*.csv"):
        with open(path, newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                text = _norm(row.get("text", ""))
                if len(text.split()) >= 3:
                    bench.add(text)
    assert bench, "the benchmark CSVs were found but held no text"
    leaks = []
    for path in (ROOT / "data").rglob("*.yml"):
        for line in path.read_text(encoding="utf-8").splitlines():
            match = re.match(r"\s*-\s*(.+)", line)
            if match and _norm(re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", match.group(1))) in bench:
                leaks.append(f"{path.relative_to(ROOT)}: {match.group(1)[:80]}")
    assert not leaks, "benchmark sentences in training data:\n" + "\n".join(leaks)
