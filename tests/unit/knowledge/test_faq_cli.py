"""`supportbot faq ...` through the installed console script (a real subprocess)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from faq_helpers import PROJECT_FAQ, PROJECT_ROOT

SUPPORTBOT = Path(sys.executable).parent / "supportbot"


def run(*args: str, var_dir: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "SUPPORTBOT_VAR_DIR": str(var_dir), "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run([str(SUPPORTBOT), "faq", *args], capture_output=True, text=True,
                          env=env, cwd=PROJECT_ROOT, timeout=120)


def test_ask_json_uses_and_writes_the_default_index(tmp_path: Path):
    var_dir = tmp_path / "var"
    result = run("ask", "why was my card declined", "--json", var_dir=var_dir)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["question"] == "why was my card declined"
    assert data["answer"] == "card-declined"
    assert 0 < data["threshold"] < 1
    assert len(data["hits"]) == 3
    top = data["hits"][0]
    assert top["id"] == "card-declined" and top["title"] == "Why was my card declined?"
    assert top["score"] > data["hits"][1]["score"]
    assert 0 <= top["confidence"] <= 1
    assert (var_dir / "faq_index.json").is_file()


def test_reindex_list_and_malformed_article(tmp_path: Path):
    faq = tmp_path / "faq"
    faq.mkdir()
    for name in ("card-declined.md", "quotes-and-purchase-orders.md"):
        (faq / name).write_text((PROJECT_FAQ / name).read_text())
    index = tmp_path / "index.json"
    result = run("reindex", "--faq-dir", str(faq), "--index", str(index), "--json", var_dir=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["articles"] == 2 and index.is_file()

    listed = run("list", "--json", "--faq-dir", str(faq), var_dir=tmp_path)
    assert [a["id"] for a in json.loads(listed.stdout)] == ["card-declined", "quotes-and-purchase-orders"]

    (faq / "bad.md").write_text("---\nid: bad\ntitle: Bad\nsource_seed: '000'\nquestions: oops\n---\nx\n")
    failed = run("reindex", "--faq-dir", str(faq), "--index", str(index), var_dir=tmp_path)
    assert failed.returncode == 1
    assert "bad.md" in failed.stderr and "field 'questions'" in failed.stderr
    assert "Traceback" not in failed.stderr


# --- speed: `faq ask` runs spaCy's tokenizer rules without importing spaCy ------------------------
_CORPUS_SCRIPT = r"""
import json, random, sys
from pathlib import Path
import yaml
root = Path(sys.argv[2])
texts = []
for path in sorted((root / "faq").glob("*.md")) + sorted((root / "docs").rglob("*.md")):
    texts += [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
def walk(node):
    if isinstance(node, str):
        texts.extend(line.strip() for line in node.splitlines() if line.strip())
    elif isinstance(node, dict):
        for value in node.values():
            walk(value)
    elif isinstance(node, list):
        for value in node:
            walk(value)
for path in sorted((root / "benchmarks").glob("faq_questions*.yml")) + sorted((root / "data").rglob("*.yml")):
    walk(yaml.safe_load(path.read_text(encoding="utf-8")))
texts += ["can't log-in!!! (again) :-) e-mail me @ bob@example.com", "W-9 / W-8BEN-E?", "2x charged $49.00",
          "refund 50% pls...", "https://support.example/lookup?id=1", "visa ****1234", "don't gonna ya'll",
          "(see languages): ok", "10:30 a.m. 1/2 a/b e.g. U.S. <3 :) :-( o_O ''quoted'' ``tex''"]
soup = "abc xyz 0123456789 .,;:!?'\"-/()[]{}$€%@#&*_+=<>~`’“”…\t\n\u00a0"
rng = random.Random(7)
texts += ["".join(rng.choice(soup) for _ in range(rng.randint(1, 40))) for _ in range(3000)]
texts = [t.lower() for t in texts]
if sys.argv[1] == "plain":
    import spacy
    from spacy.lang.en.stop_words import STOP_WORDS
    tokenizer = spacy.blank("en").tokenizer
    docs = [tokenizer(t) for t in texts]
    tokens = [[tok.text for tok in doc if not tok.is_space] for doc in docs]
    kept = [[tok.text for tok in doc if not (tok.is_space or tok.is_punct or tok.is_quote or tok.is_bracket)]
            for doc in docs]
    stop_words = sorted(STOP_WORDS)
else:
    from supportbot.knowledge import text
    from supportbot.knowledge.tokenizer import is_punct
    tokenizer = text._tokenizer()
    tokens = [tokenizer(t) for t in texts]
    kept = [[tok for tok in toks if not is_punct(tok)] for toks in tokens]
    stop_words = sorted(text.cached_rules()["stop_words"])
strip = "'’`\"-_.,;:!?*#()[]"
words = [[w for w in (tok.strip(strip) for tok in toks) if len(w) > 1 or w.isdigit()] for toks in kept]
print(json.dumps({"tokens": tokens, "words": words, "stop_words": stop_words, "n": len(texts),
                  "spacy": "spacy" in sys.modules}))
"""


def _corpus_tokens(mode: str, var_dir: Path) -> dict:
    result = subprocess.run([sys.executable, "-c", _CORPUS_SCRIPT, mode, str(PROJECT_ROOT)],
                            capture_output=True, text=True, cwd=PROJECT_ROOT, timeout=300, check=False,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "SUPPORTBOT_VAR_DIR": str(var_dir)})
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_the_rule_tokenizer_tokenizes_like_spacy(tmp_path: Path):
    lean_first = _corpus_tokens("lean", tmp_path)  # no rules cached yet: made with spaCy
    lean, plain = _corpus_tokens("lean", tmp_path), _corpus_tokens("plain", tmp_path)
    assert lean["n"] > 20000
    assert lean_first["spacy"] is True and lean["spacy"] is False  # the second run reads the cache
    assert lean["stop_words"] == plain["stop_words"]
    real = lean["n"] - 3000  # the articles, docs and Rasa data: the very same tokens
    assert lean["tokens"][:real] == plain["tokens"][:real]
    # random punctuation soup: the words the FAQ keeps are the same everywhere
    assert lean["words"] == plain["words"]
    differing = sum(a != b for a, b in zip(lean["tokens"], plain["tokens"], strict=True))
    assert differing <= 30, differing  # only emoticon-like punctuation runs


def test_faq_ask_does_not_import_tensorflow_and_tensorflow_stays_importable(tmp_path: Path):
    code = ("import sys\nfrom supportbot.cli import main\n"
            "main(['faq', 'ask', 'how do I add a staff account', '--json'])\n"
            "assert 'tensorflow' not in sys.modules and 'rasa' not in sys.modules\n"
            "assert sys.modules.get('tensorflow', 0) is not None  # no placeholder left behind\n"
            "import importlib.util; assert importlib.util.find_spec('tensorflow') is not None\n"
            "import spacy.cli; assert hasattr(spacy.cli, 'download')  # the real spaCy CLI on demand\n")
    env = {**os.environ, "SUPPORTBOT_VAR_DIR": str(tmp_path), "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env=env, cwd=PROJECT_ROOT, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["answer"] == "staff-accounts"
