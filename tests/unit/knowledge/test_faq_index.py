"""The saved index: written by load()/save(), reused while faq/ is unchanged, rebuilt on edits."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from faq_helpers import write_article

from supportbot.knowledge import FaqError, KnowledgeBase
from supportbot.knowledge.kb import INDEX_FILENAME, default_index_path, folder_fingerprint
from supportbot.knowledge.text import Normaliser


def test_load_writes_then_reuses_the_index(faq_dir: Path, tmp_path: Path):
    index = tmp_path / "var" / "faq_index.json"
    kb = KnowledgeBase.load(faq_dir, index)
    assert not kb.from_index and index.is_file()
    data = json.loads(index.read_text())
    assert data["fingerprint"] == folder_fingerprint(faq_dir) == kb.fingerprint
    assert {a["id"] for a in data["articles"]} == {"card-declined", "staff-accounts", "quotes"}

    again = KnowledgeBase.load(faq_dir, index)
    assert again.from_index
    assert [a.id for a in again] == [a.id for a in kb]
    assert again.get("card-declined") == kb.get("card-declined")
    q = "my payment was refused by the bank"
    assert [(h.article.id, round(h.score, 6)) for h in again.search(q)] == \
           [(h.article.id, round(h.score, 6)) for h in kb.search(q)]


def test_edited_article_is_picked_up_without_retraining(faq_dir: Path, tmp_path: Path):
    index = tmp_path / "faq_index.json"
    kb = KnowledgeBase.load(faq_dir, index)
    assert kb.search("zanzibar voucher") == []
    old_fingerprint = kb.fingerprint

    write_article(faq_dir, "quotes", "Customer Service prepares quotes. Zanzibar vouchers too.",
                  title="Can I get a quote?", questions=["Pay with a purchase order"])
    assert kb.is_stale()
    reloaded = KnowledgeBase.load(faq_dir, index)
    assert not reloaded.from_index
    assert reloaded.fingerprint != old_fingerprint
    assert reloaded.search("zanzibar voucher")[0].article.id == "quotes"
    assert json.loads(index.read_text())["fingerprint"] == reloaded.fingerprint

    # a new article file and a deleted one are changes too
    write_article(faq_dir, "vat", "Payment Processing answers VAT questions.", title="VAT questions")
    refreshed = reloaded.refreshed()
    assert refreshed is not reloaded and "vat" in refreshed
    (faq_dir / "vat.md").unlink()
    assert "vat" not in refreshed.refreshed()
    assert reloaded.refreshed(min_interval=3600) is reloaded  # checked recently: no disk access


def test_unchanged_folder_is_not_stale(faq_dir: Path):
    kb = KnowledgeBase.load(faq_dir)
    assert not kb.is_stale()
    assert kb.refreshed() is kb


def test_explicit_folder_without_index_path_writes_nothing(faq_dir: Path, var_dir: Path):
    KnowledgeBase.load(faq_dir)
    assert not var_dir.exists()


def test_default_index_path_follows_var_dir(var_dir: Path):
    assert default_index_path() == var_dir / INDEX_FILENAME


def test_prebuilt_index_without_the_folder(faq_dir: Path, tmp_path: Path):
    index = tmp_path / "prebuilt.json"
    KnowledgeBase.build(faq_dir).save(index)
    kb = KnowledgeBase.load(tmp_path / "not-deployed", index)
    assert kb.from_index and len(kb) == 3
    assert kb.search("bank rejected my card")[0].article.id == "card-declined"
    assert KnowledgeBase.from_index_file(index).get("quotes").title == "Can I get a quote?"
    with pytest.raises(FaqError, match="FAQ folder not found"):
        KnowledgeBase.load(tmp_path / "not-deployed", tmp_path / "missing.json")


def test_corrupt_or_foreign_index_is_rebuilt(faq_dir: Path, tmp_path: Path):
    index = tmp_path / "faq_index.json"
    index.write_text("{not json")
    kb = KnowledgeBase.load(faq_dir, index)
    assert not kb.from_index and json.loads(index.read_text())["format"] == 1

    # built with other normalisation settings: not reused
    kb_none = KnowledgeBase.load(faq_dir, index, normaliser=Normaliser(mode="none"))
    assert not kb_none.from_index
    assert not KnowledgeBase.load(faq_dir, index).from_index
    assert KnowledgeBase.load(faq_dir, index).from_index
    with pytest.raises(FaqError, match="reindex"):
        KnowledgeBase.from_index_file(index, normaliser=Normaliser(mode="none"))
    with pytest.raises(FaqError, match="cannot read"):
        KnowledgeBase.from_index_file(tmp_path / "missing.json")


def test_malformed_article_fails_the_load_with_file_and_field(faq_dir: Path, tmp_path: Path):
    (faq_dir / "broken.md").write_text("---\nid: broken\ntitle: Broken\nsource_seed: '000'\nlinks: nope\n---\nx\n")
    with pytest.raises(FaqError) as err:
        KnowledgeBase.load(faq_dir, tmp_path / "faq_index.json")
    assert "broken.md" in str(err.value) and "field 'links'" in str(err.value)
    assert not (tmp_path / "faq_index.json").exists()


def test_unwritable_index_location_still_loads(faq_dir: Path, tmp_path: Path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    kb = KnowledgeBase.load(faq_dir, blocker / "faq_index.json")  # parent is a file
    assert len(kb) == 3
