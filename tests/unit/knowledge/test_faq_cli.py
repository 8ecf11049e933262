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
