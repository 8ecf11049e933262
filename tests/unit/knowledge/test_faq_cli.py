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


# --- speed: `faq ask` loads spaCy's tokenizer without TensorFlow or the spaCy CLI ----------------
_CORPUS_SCRIPT = r"""
import json, sys
from pathlib import Path
import yaml
root = Path(sys.argv[2])
texts = [p.read_text(encoding="utf-8") for p in sorted((root / "faq").glob("*.md"))]
for path in sorted((root / "benchmarks").glob("faq_questions*.yml")):
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    texts += [q for qs in data.get("articles", {}).values() for q in qs]
    texts += list(data.get("out_of_scope", []))
texts += ["can't log-in!!! (again) :-) e-mail me @ bob@example.com", "W-9 / W-8BEN-E?", "2x charged $49.00",
          "refund 50% pls...", "https://support.example/lookup?id=1", "visa ****1234", "don't gonna ya'll"]
if sys.argv[1] == "plain":
    import spacy
    tokenizer = spacy.blank("en").tokenizer
    from spacy.lang.en.stop_words import STOP_WORDS
else:
    from supportbot.knowledge import text
    tokenizer = text._tokenizer()
    text._stop_words()
    from spacy.lang.en.stop_words import STOP_WORDS
    assert all(sys.modules.get(m, 1) is not None for m in ("tensorflow", "torch", "spacy.cli"))
tokens = [[(t.text, t.is_space, t.is_punct, t.is_quote, t.is_bracket) for t in tokenizer(s.lower())]
          for s in texts]
print(json.dumps({"tokens": tokens, "stop_words": sorted(STOP_WORDS), "n": len(texts),
                  "tensorflow": "tensorflow" in sys.modules}))
"""


def _corpus_tokens(mode: str) -> dict:
    result = subprocess.run([sys.executable, "-c", _CORPUS_SCRIPT, mode, str(PROJECT_ROOT)],
                            capture_output=True, text=True, cwd=PROJECT_ROOT, timeout=300, check=False,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_the_lean_spacy_import_tokenizes_exactly_like_a_plain_import():
    lean, plain = _corpus_tokens("lean"), _corpus_tokens("plain")
    assert lean["n"] > 500
    assert lean["tensorflow"] is False  # and the plain import did load it: that was the cost
    assert lean["tokens"] == plain["tokens"]
    assert lean["stop_words"] == plain["stop_words"]


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
