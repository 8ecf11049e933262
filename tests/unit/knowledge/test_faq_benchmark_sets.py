"""Hygiene of the FAQ benchmark files (benchmarks/faq_questions*.yml) and the bench helpers.

Only the files' shape is checked here, never the retriever's answers on them: the fresh set
must stay a set nobody tunes on."""
from __future__ import annotations

import importlib.util
import re

import pytest
import yaml
from faq_helpers import PROJECT_FAQ, PROJECT_ROOT

from supportbot.knowledge.articles import load_articles

MAIN = PROJECT_ROOT / "benchmarks" / "faq_questions.yml"
FRESH = PROJECT_ROOT / "benchmarks" / "faq_questions_fresh.yml"
FRESH2 = PROJECT_ROOT / "benchmarks" / "faq_questions_fresh2.yml"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("faq_bench", PROJECT_ROOT / "benchmarks" / "faq_bench.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def articles():
    return load_articles(PROJECT_FAQ)


def _plain(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9]+", text.lower()))


def test_fresh_set_covers_every_article(articles):
    data = yaml.safe_load(FRESH.read_text(encoding="utf-8"))
    sets = data["articles"]
    assert set(sets) == {a.id for a in articles}
    assert all(len(qs) >= 4 for qs in sets.values())
    assert sum(len(qs) for qs in sets.values()) >= 100
    assert len(data["out_of_scope"]) >= 15


def test_main_file_has_an_off_topic_tuning_list():
    data = yaml.safe_load(MAIN.read_text(encoding="utf-8"))
    assert len(data["out_of_scope"]) >= 20
    assert data["second_set"]


def test_no_benchmark_question_is_in_the_index(articles):
    """No held-out question is an index question or title. For the fresh sets only the number of
    such questions is reported, never their text (a failure must not show a test question)."""
    indexed = {_plain(q) for a in articles for q in a.questions} | {_plain(a.title) for a in articles}
    sets = [(MAIN, ("articles", "second_set")), (FRESH, ("articles",))]
    if FRESH2.is_file():
        sets.append((FRESH2, ("articles",)))
    for path, keys in sets:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        for key in keys:
            n_leaked = sum(1 for qs in (data.get(key) or {}).values() for q in qs if _plain(q) in indexed)
            assert n_leaked == 0, f"{path.name}:{key}: {n_leaked} question(s) copied into articles' questions:"


def test_novel_cases_drops_near_twins(bench):
    others = [("how do I cancel my subscription", "x"), ("charged twice", "y")]
    cases = [("cancel my subscription", "x"), ("two identical payments on my statement", "y"),
             ("where do I download invoices", "z")]
    assert bench.novel_cases(cases, others) == [("two identical payments on my statement", "y"),
                                                ("where do I download invoices", "z")]


def test_load_benchmark_reads_the_fresh_file(bench):
    cases, out_of_scope = bench.load_benchmark(FRESH)
    assert len(cases) >= 100 and len(out_of_scope) >= 15
    assert all(isinstance(q, str) and isinstance(a, str) for q, a in cases)


def test_tuning_only_never_reads_the_fresh_files(bench, tmp_path, capsys):
    """--tuning-only runs with the fresh files absent: it cannot have read them."""
    missing = tmp_path / "nowhere.yml"
    assert bench.main(["--tuning-only", "--no-dev", "--fresh", str(missing), "--fresh2", str(missing)]) == 0
    out = capsys.readouterr().out
    assert "main: n=" in out and "off-topic" in out and "fresh" not in out.lower()


def test_quiet_leak_check_names_no_question(bench, tmp_path):
    from supportbot.knowledge import KnowledgeBase

    folder = tmp_path / "faq"
    folder.mkdir()
    for article_id, question in (("a-one", "Where is my parcel?"), ("b-two", "How do I pay?")):
        (folder / f"{article_id}.md").write_text(
            f"---\nid: {article_id}\ntitle: Title {article_id}\nsource_seed: \"000\"\nquestions:\n"
            f"  - {question}\n---\nAnswer.\n", encoding="utf-8")
    kb = KnowledgeBase.load(folder, index_path=None, save=False)
    cases = [("where is my PARCEL", "a-one"), ("something else", "b-two")]
    with pytest.raises(SystemExit) as quiet:
        bench.check_held_out(kb, cases, minimum=1, quiet=True, name="fresh")
    assert "parcel" not in str(quiet.value.code).lower() and "'a-one': 1" in str(quiet.value.code)
    with pytest.raises(SystemExit) as loud:
        bench.check_held_out(kb, cases, minimum=1)
    assert "where is my PARCEL" in str(loud.value.code)
    assert bench.load_fresh2(tmp_path / "absent.yml", kb) is None
