"""The knowledge base: articles + retriever + a saved index that rebuilds itself when faq/ changes.

    from supportbot.knowledge import KnowledgeBase
    kb = KnowledgeBase.load()                 # <project>/faq, index in <var_dir>/faq_index.json
    hits = kb.search("my card was refused")   # [Hit(article, score, confidence), ...] best first
    hit = kb.answer("my card was refused")    # best Hit, or None below kb.threshold
    print(hit.article.format_chat())

No training step: the index is a few term lists per article. `load()` compares a hash of the
folder's article files with the one stored in the index file and rebuilds (and rewrites the
file) when they differ, so editing an article takes effect on the next load or `refreshed()`.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from supportbot.knowledge.articles import Article, FaqError, article_files, load_articles
from supportbot.knowledge.retriever import FIELDS, Retriever, RetrieverConfig
from supportbot.knowledge.text import Normaliser, TypoCorrector, content_words, is_stop_word, words
from supportbot.knowledge.tokenizer import tokenizer_version
from supportbot.settings import PROJECT_ROOT

log = logging.getLogger(__name__)

INDEX_FORMAT = 1
INDEX_FILENAME = "faq_index.json"
DEFAULT_FAQ_DIR = PROJECT_ROOT / "faq"


def default_index_path() -> Path:
    from supportbot.settings import Settings

    return Settings.from_env().var_dir / INDEX_FILENAME


def folder_fingerprint(faq_dir: Path | str) -> str:
    """sha256 over the names and bytes of the folder's article files (cheap: a few KB each)."""
    h = hashlib.sha256()
    for path in article_files(Path(faq_dir)):
        h.update(path.name.encode())
        h.update(b"\0")
        h.update(path.read_bytes())
        h.update(b"\0")
    return h.hexdigest()


@dataclass(frozen=True)
class Hit:
    """A search result. `score` is the fused retrieval score (BM25 + character n-grams, at most
    1, see retriever.py), only meaningful for ranking; `confidence` (0..1) is what thresholds use."""

    article: Article
    score: float
    confidence: float

    def to_dict(self) -> dict:
        return {
            "id": self.article.id,
            "title": self.article.title,
            "score": round(self.score, 4),
            "confidence": self.confidence,
            "client": self.article.client,
            "link": self.article.link,
        }


def _article_terms(article: Article, normaliser: Normaliser) -> dict:
    """The index terms of an article, per field (see retriever.py)."""
    title = normaliser.analyse(f"{article.title} {article.id.replace('-', ' ')}")
    body = article.answer + ("\n" + article.answer_email if article.answer_email else "")
    return {
        "title": title,
        "questions": [t for q in article.questions for t in normaliser.analyse(q)]
        + normaliser.analyse(article.title),
        "body": normaliser.analyse(body),
    }


def article_char_text(article: Article) -> str:
    """The text of an article for the character n-gram index: title, questions, chat and email
    answers, lowercased, stop words removed. Stored in the index (`char_texts`) with the
    tokenizer's version, so that loading a saved index tokenises nothing."""
    parts = [article.title, *article.questions, article.answer, article.answer_email or ""]
    return " ".join(content_words(" ".join(parts)))


def _surface_vocabulary(articles: Iterable[Article]) -> dict[str, int]:
    counts: Counter[str] = Counter()
    for a in articles:
        for text in (a.title, a.answer, a.answer_email or "", *a.questions):
            counts.update(w for w in words(text) if w.isalpha())
    return dict(sorted(counts.items()))


class KnowledgeBase:
    """FAQ articles and a BM25 retriever over them. Build with `KnowledgeBase.load()`."""

    #: default confidence below which `answer()` returns None (the caller then offers the
    #: top titles as buttons); measured on the benchmark, see docs/benchmarks/faq.md
    threshold: float = 0.25

    def __init__(
        self,
        articles: list[Article],
        *,
        normaliser: Normaliser | None = None,
        config: RetrieverConfig | None = None,
        terms: dict[str, dict] | None = None,
        vocabulary: dict[str, int] | None = None,
        faq_dir: Path | None = None,
        fingerprint: str | None = None,
        index_path: Path | None = None,
        from_index: bool = False,
        char_texts: dict[str, str] | None = None,
    ):
        self.normaliser = normaliser or Normaliser()
        self.config = config or RetrieverConfig()
        self.faq_dir = faq_dir
        self.fingerprint = fingerprint
        self.index_path = index_path
        self.from_index = from_index
        self._articles = list(articles)
        self._by_id = {a.id: a for a in self._articles}
        if terms is None:
            terms = {a.id: _article_terms(a, self.normaliser) for a in self._articles}
        self._terms = terms
        self.vocabulary = vocabulary if vocabulary is not None else _surface_vocabulary(self._articles)
        ids = [a.id for a in self._articles]
        known_terms = {t for i in ids for name in FIELDS for t in terms[i][name]}
        self._corrector = TypoCorrector(self.vocabulary, lambda w: self.normaliser.term(w) in known_terms)
        self._char_texts = {a.id: (char_texts or {}).get(a.id) or article_char_text(a) for a in self._articles}
        self._retriever = Retriever(
            ids,
            {name: [terms[i][name] for i in ids] for name in FIELDS},
            self.config,
            texts=[self._char_texts[i] for i in ids],
        )
        self._checked_at = time.monotonic()

    # ------------------------------------------------------------------ loading
    @classmethod
    def build(cls, faq_dir: Path | str, **kwargs) -> KnowledgeBase:
        """Parse every article of `faq_dir` (FaqError on the first malformed one) and index them."""
        faq_dir = Path(faq_dir)
        articles = load_articles(faq_dir)
        return cls(articles, faq_dir=faq_dir, fingerprint=folder_fingerprint(faq_dir), **kwargs)

    @classmethod
    def load(
        cls,
        faq_dir: Path | str | None = None,
        index_path: Path | str | None = None,
        *,
        save: bool = True,
        normaliser: Normaliser | None = None,
        config: RetrieverConfig | None = None,
    ) -> KnowledgeBase:
        """The knowledge base of `faq_dir` (default <project>/faq).

        With the default folder the index file is <var_dir>/faq_index.json; with an explicit
        folder only an explicit `index_path` is used (so tests never touch the project's index).
        The index is reused when it matches the folder's current hash and this code's
        normalisation, otherwise the folder is re-read and the index rewritten (when `save`).
        When the folder does not exist but the index does, the prebuilt index is used as is.
        """
        explicit_dir = faq_dir is not None
        faq_dir = Path(faq_dir) if faq_dir is not None else DEFAULT_FAQ_DIR
        if index_path is None and not explicit_dir:
            index_path = default_index_path()
        index_path = Path(index_path) if index_path is not None else None
        normaliser = normaliser or Normaliser()
        config = config or RetrieverConfig()

        if not faq_dir.is_dir():
            if index_path is not None and index_path.is_file():
                return cls.from_index_file(index_path, normaliser=normaliser, config=config, check=False)
            raise FaqError("FAQ folder not found (and no prebuilt index)", faq_dir)

        fingerprint = folder_fingerprint(faq_dir)
        if index_path is not None and index_path.is_file():
            try:
                data = json.loads(index_path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                log.warning("ignoring unreadable FAQ index %s: %s", index_path, exc)
                data = None
            if data and cls._index_matches(data, fingerprint, normaliser):
                return cls._from_index_data(data, index_path, normaliser, config, faq_dir)
        kb = cls.build(faq_dir, normaliser=normaliser, config=config, index_path=index_path)
        if save and index_path is not None:
            try:
                kb.save(index_path)
            except OSError as exc:
                log.warning("could not write the FAQ index %s: %s", index_path, exc)
        return kb

    @staticmethod
    def _index_matches(data: dict, fingerprint: str, normaliser: Normaliser) -> bool:
        return (
            data.get("format") == INDEX_FORMAT
            and data.get("fingerprint") == fingerprint
            and data.get("normaliser") == normaliser.signature
        )

    @classmethod
    def from_index_file(
        cls,
        index_path: Path | str,
        *,
        normaliser: Normaliser | None = None,
        config: RetrieverConfig | None = None,
        check: bool = True,
    ) -> KnowledgeBase:
        """A knowledge base from a saved index alone (e.g. deployed without the faq/ folder)."""
        index_path = Path(index_path)
        try:
            data = json.loads(index_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise FaqError(f"cannot read the FAQ index: {exc}", index_path) from exc
        normaliser = normaliser or Normaliser()
        if data.get("format") != INDEX_FORMAT:
            raise FaqError(f"unsupported index format {data.get('format')!r}; run `supportbot faq reindex`", index_path)
        if check and data.get("normaliser") != normaliser.signature:
            raise FaqError("the index was built with other normalisation settings; run `supportbot faq reindex`",
                           index_path)
        faq_dir = Path(data["faq_dir"]) if data.get("faq_dir") else None
        return cls._from_index_data(data, index_path, normaliser, config or RetrieverConfig(), faq_dir)

    @classmethod
    def _from_index_data(cls, data, index_path, normaliser, config, faq_dir) -> KnowledgeBase:
        articles = [Article.from_dict(a) for a in data["articles"]]
        terms = data["terms"]
        if data.get("normaliser") != normaliser.signature:
            terms = None  # prebuilt with other settings: re-analyse the stored articles
        char_texts = data.get("char_texts") if data.get("tokenizer") == tokenizer_version() else None
        return cls(
            articles,
            normaliser=normaliser,
            config=config,
            terms=terms,
            vocabulary=data.get("vocabulary"),
            faq_dir=faq_dir,
            fingerprint=data.get("fingerprint"),
            index_path=index_path,
            from_index=True,
            char_texts=char_texts,
        )

    def to_index_data(self) -> dict:
        return {
            "format": INDEX_FORMAT,
            "normaliser": self.normaliser.signature,
            "normaliser_mode": self.normaliser.mode,
            "faq_dir": str(self.faq_dir.resolve()) if self.faq_dir else None,
            "fingerprint": self.fingerprint,
            "built_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "articles": [a.to_dict() for a in self._articles],
            "terms": self._terms,
            "vocabulary": self.vocabulary,
            "tokenizer": tokenizer_version(),
            "char_texts": self._char_texts,
        }

    def save(self, index_path: Path | str | None = None) -> Path:
        """Write the index atomically (temporary file + rename) and return its path."""
        path = Path(index_path or self.index_path or default_index_path())
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".faq_index.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(self.to_index_data(), fh, ensure_ascii=False, indent=1)
            os.chmod(tmp, 0o644)
            os.replace(tmp, path)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
        self.index_path = path
        return path

    def is_stale(self) -> bool:
        """True when the faq folder's articles differ from what this knowledge base was built from."""
        if self.faq_dir is None or not self.faq_dir.is_dir():
            return False
        return folder_fingerprint(self.faq_dir) != self.fingerprint

    def refreshed(self, min_interval: float = 0.0) -> KnowledgeBase:
        """This knowledge base, or a rebuilt one if the folder changed (checked at most every
        `min_interval` seconds). Long-running processes call `kb = kb.refreshed(5)` per request."""
        now = time.monotonic()
        if min_interval and now - self._checked_at < min_interval:
            return self
        self._checked_at = now
        if not self.is_stale():
            return self
        return KnowledgeBase.load(self.faq_dir, self.index_path, normaliser=self.normaliser, config=self.config)

    # ------------------------------------------------------------------ queries
    @property
    def articles(self) -> list[Article]:
        return list(self._articles)

    def __len__(self) -> int:
        return len(self._articles)

    def __iter__(self) -> Iterator[Article]:
        return iter(self._articles)

    def __contains__(self, article_id: object) -> bool:
        return article_id in self._by_id

    def get(self, article_id: str) -> Article | None:
        return self._by_id.get(article_id)

    def analyse_question(self, question: str) -> list[str]:
        """The index terms of a question (after typo correction); handy for debugging."""
        return self.normaliser.terms_from_words(self._corrector.correct_all(words(question)))

    def search(self, question: str, k: int = 3) -> list[Hit]:
        """The k best articles for a question, best first (fewer when few articles match)."""
        corrected = self._corrector.correct_all(words(question or ""))
        terms = self.normaliser.terms_from_words(corrected)
        text = " ".join(w for w in corrected if not is_stop_word(w))
        return [
            Hit(self._articles[i], score, confidence)
            for i, score, confidence in self._retriever.search(terms, k=max(1, k), text=text)
        ]

    def answer(self, question: str, threshold: float | None = None) -> Hit | None:
        """The best hit if its confidence reaches the threshold (default `self.threshold`)."""
        hits = self.search(question, k=2)
        limit = self.threshold if threshold is None else threshold
        if hits and hits[0].confidence >= limit:
            return hits[0]
        return None


_shared: KnowledgeBase | None = None


def default_knowledge_base(refresh_interval: float = 5.0) -> KnowledgeBase:
    """A process-wide knowledge base of the project's faq/ folder, rebuilt when articles change
    (checked at most every `refresh_interval` seconds). Meant for the action server."""
    global _shared
    if _shared is None:
        _shared = KnowledgeBase.load()
    else:
        _shared = _shared.refreshed(refresh_interval)
    return _shared
