"""Lexical retrieval: weighted BM25 (rank_bm25) over an article's fields.

Each article has three fields, indexed as separate BM25 collections so that a word in the
title counts differently from the same word deep in the body:
  title      the article title and the words of its id ("card-declined")
  questions  the example phrasings in the front matter, plus the title
  body       the chat and email answers
bm25(article) = sum(weight[field] * bm25_field(question, article))

The BM25 score is fused with a character n-gram TF-IDF cosine over the whole article (title,
questions and body; see charngrams.py), which still matches misspelt or oddly inflected words:
score(article) = (1 - char_weight) * bm25(article) / max bm25
                 + char_weight * cosine(article) / max cosine
so the score of the best article is at most 1. Without any BM25 match a question gets hits
only when its best cosine reaches `char_min_similarity` (a typo the corrector missed), so
gibberish and off-topic chatter still return nothing.

Confidence (0..1, for thresholding) combines how much of the question the best article covers
(idf-weighted share of the question's terms found anywhere in the article), how clearly it
beats the runner-up and, capped at 1, its n-gram cosine / `char_confidence` (off-topic questions
that share a word with an article but none of its wording stay low); see `Retriever.search`.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from rank_bm25 import BM25Okapi

from supportbot.knowledge.charngrams import CharNgramIndex

FIELDS = ("title", "questions", "body")


@dataclass(frozen=True)
class RetrieverConfig:
    title: float = 1.0
    questions: float = 1.0
    body: float = 0.75
    k1: float = 1.2
    b: float = 0.75
    # confidence = coverage ** coverage_power * score / best_score
    #              * (margin_floor + (1 - margin_floor) * (best - second) / best)
    # 1.5 (was 1.0): a question with a word the article lacks loses more confidence; with about
    # 25 index phrasings per article, off-topic questions share more words with some article
    # (e.g. "renew my driver's license"), and this keeps them well below the threshold
    coverage_power: float = 1.5
    margin_floor: float = 0.6
    # fusion with the character n-gram cosine (0 = BM25 only)
    char_weight: float = 0.25
    char_min_similarity: float = 0.3
    # confidence *= min(1, cosine(article) / char_confidence): a question sharing only a word or
    # two with an article but none of its wording (off-topic chatter) loses confidence (0 = off)
    char_confidence: float = 0.2

    def to_dict(self) -> dict:
        return asdict(self)


class _Field:
    """One BM25 collection; empty documents are padded so rank_bm25 never divides by zero."""

    def __init__(self, docs: Sequence[Sequence[str]], k1: float, b: float):
        self.size = len(docs)
        padded = [list(d) if d else ["\x00"] for d in docs]
        self.bm25 = BM25Okapi(padded, k1=k1, b=b) if padded else None

    def scores(self, query: Sequence[str]) -> list[float]:
        if self.bm25 is None or not query:
            return [0.0] * self.size
        return [max(0.0, float(s)) for s in self.bm25.get_scores(list(query))]


class Retriever:
    def __init__(
        self,
        ids: Sequence[str],
        fields: dict[str, Sequence[Sequence[str]]],
        config: RetrieverConfig | None = None,
        texts: Sequence[str] | None = None,
    ):
        """ids[i] is the article whose terms are fields[name][i] for each name in FIELDS and
        whose text for the character n-gram index is texts[i] (no n-gram signal without texts)."""
        self.ids = list(ids)
        self.config = config or RetrieverConfig()
        c = self.config
        self._fields = {name: _Field(fields[name], c.k1, c.b) for name in FIELDS}
        self._chars = CharNgramIndex(texts) if texts is not None and c.char_weight > 0 else None
        # per-article term sets and document frequencies over whole articles (for coverage)
        self._terms: list[set[str]] = []
        for i in range(len(self.ids)):
            terms: set[str] = set()
            for name in FIELDS:
                terms.update(fields[name][i])
            self._terms.append(terms)
        df: dict[str, int] = {}
        for terms in self._terms:
            for t in terms:
                df[t] = df.get(t, 0) + 1
        n = max(1, len(self.ids))
        self._idf = {t: math.log(1 + (n - d + 0.5) / (d + 0.5)) for t, d in df.items()}
        self._idf_unknown = math.log(1 + (n + 0.5) / 0.5)

    def raw_scores(self, query: Sequence[str]) -> list[float]:
        c = self.config
        totals = [0.0] * len(self.ids)
        for name in FIELDS:
            weight = getattr(c, name)
            if weight:
                for i, s in enumerate(self._fields[name].scores(query)):
                    totals[i] += weight * s
        return totals

    def char_similarities(self, text: str) -> list[float]:
        """Character n-gram cosine of a question text with each article (all 0 when disabled)."""
        if self._chars is None or not text:
            return [0.0] * len(self.ids)
        return self._chars.similarities(text)

    def scores(self, query: Sequence[str], text: str = "") -> list[float]:
        """Fused scores (see the module docstring); all 0 when nothing matches."""
        return self._scores(query, text)[0]

    def _scores(self, query: Sequence[str], text: str) -> tuple[list[float], list[float]]:
        """(fused scores, character n-gram cosines)."""
        bm25 = self.raw_scores(query) if query else [0.0] * len(self.ids)
        top_bm25 = max(bm25, default=0.0)
        chars = self.char_similarities(text)
        top_chars = max(chars, default=0.0)
        if top_bm25 <= 0 and top_chars < self.config.char_min_similarity:
            return [0.0] * len(self.ids), chars
        w = self.config.char_weight if top_chars > 0 else 0.0
        fused = [
            (1 - w) * (b / top_bm25 if top_bm25 > 0 else 0.0) + w * (ch / top_chars if top_chars > 0 else 0.0)
            for b, ch in zip(bm25, chars, strict=False)
        ]
        return fused, chars

    def coverage(self, query: Sequence[str], index: int) -> float:
        """idf-weighted share of the question's distinct terms that occur in the article."""
        unique = set(query)
        if not unique:
            return 0.0
        total = found = 0.0
        for t in unique:
            w = self._idf.get(t, self._idf_unknown)
            total += w
            if t in self._terms[index]:
                found += w
        return found / total if total else 0.0

    def search(self, query: Sequence[str], k: int = 3, text: str = "") -> list[tuple[int, float, float]]:
        """Top-k (article index, score, confidence), best first; nothing for an empty question.
        `query` is the question's index terms, `text` its words for the n-gram index."""
        if (not query and not text) or not self.ids:
            return []
        scores, chars = self._scores(query, text)
        order = sorted(range(len(scores)), key=lambda i: (-scores[i], self.ids[i]))
        top = scores[order[0]]
        if top <= 0:
            return []
        second = scores[order[1]] if len(order) > 1 else 0.0
        margin = (top - second) / top
        c = self.config
        margin_factor = c.margin_floor + (1 - c.margin_floor) * margin
        out = []
        for i in order[:k]:
            if scores[i] <= 0:
                break
            conf = (self.coverage(query, i) ** c.coverage_power) * (scores[i] / top) * margin_factor
            if c.char_confidence > 0 and self._chars is not None:
                conf *= min(1.0, chars[i] / c.char_confidence)
            out.append((i, scores[i], round(min(1.0, max(0.0, conf)), 4)))
        return out
