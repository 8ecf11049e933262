"""Character n-gram TF-IDF cosine similarity, the second signal of the FAQ retriever.

Word-level BM25 misses a question when a word is misspelt beyond what the typo corrector
fixes, or inflected in a way the light stemmer does not cover ("reinstatement", "refundable",
"permisions", "subscrption"). Overlapping character n-grams still match most of such a word,
so their cosine similarity is a robust second opinion that the retriever fuses with BM25.

This is the same vector space as scikit-learn's
``TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True)`` (n-grams
inside word boundaries, each word padded with one space; smoothed idf
``ln((1 + n) / (1 + df)) + 1``; ``1 + ln(tf)``; L2-normalised rows), written out in a few
lines of plain Python: the knowledge base has a few dozen articles, so sparse dicts are fast
enough (well under a millisecond per question) and the FAQ code needs no extra dependency or
import time. tests/unit/knowledge/test_faq_charngrams.py checks it against scikit-learn.
"""
from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence

NGRAM_RANGE = (3, 5)


def char_wb_ngrams(text: str, ngram_range: tuple[int, int] = NGRAM_RANGE) -> list[str]:
    """The character n-grams of each whitespace-separated word padded with spaces, like
    scikit-learn's ``analyzer="char_wb"`` (a word shorter than n yields itself once)."""
    min_n, max_n = ngram_range
    out: list[str] = []
    for word in text.lower().split():
        w = f" {word} "
        size = len(w)
        for n in range(min_n, max_n + 1):
            offset = 0
            out.append(w[offset : offset + n])
            while offset + n < size:
                offset += 1
                out.append(w[offset : offset + n])
            if offset == 0:  # the padded word is shorter than n: counted once
                break
    return out


class CharNgramIndex:
    """TF-IDF vectors of character n-grams for a fixed list of documents; `similarities(text)`
    gives the cosine similarity of a text with each document (0..1)."""

    def __init__(self, docs: Sequence[str], ngram_range: tuple[int, int] = NGRAM_RANGE):
        self.ngram_range = ngram_range
        counts = [Counter(char_wb_ngrams(d, ngram_range)) for d in docs]
        df: Counter[str] = Counter()
        for c in counts:
            df.update(c.keys())
        n = len(docs)
        self.idf = {g: math.log((1 + n) / (1 + d)) + 1.0 for g, d in df.items()}
        self._postings: dict[str, list[tuple[int, float]]] = {}
        for i, c in enumerate(counts):
            vec = self._weights(c)
            for g, w in vec.items():
                self._postings.setdefault(g, []).append((i, w))
        self.size = n

    def _weights(self, counts: Counter) -> dict[str, float]:
        vec = {g: (1.0 + math.log(tf)) * self.idf[g] for g, tf in counts.items() if g in self.idf}
        norm = math.sqrt(sum(w * w for w in vec.values()))
        return {g: w / norm for g, w in vec.items()} if norm else {}

    def vector(self, text: str) -> dict[str, float]:
        """The L2-normalised TF-IDF vector of a text (n-grams unknown to the documents dropped)."""
        return self._weights(Counter(char_wb_ngrams(text, self.ngram_range)))

    def similarities(self, text: str) -> list[float]:
        sims = [0.0] * self.size
        for g, w in self.vector(text).items():
            for i, dw in self._postings[g]:
                sims[i] += w * dw
        return [min(1.0, s) for s in sims]


def char_text(words: Iterable[str]) -> str:
    """The text fed to the n-gram index: surface words (stop words already removed) joined."""
    return " ".join(words)
