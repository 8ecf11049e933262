"""The character n-gram TF-IDF index: same vector space as scikit-learn's char_wb vectorizer."""
from __future__ import annotations

import math

import pytest

from supportbot.knowledge.charngrams import NGRAM_RANGE, CharNgramIndex, char_wb_ngrams

DOCS = [
    "card declined bank rejected card payment failed",
    "refund self service form request refund online",
    "cancel subscription renewal reinstate cancelled subscription",
    "w9 w8 tax forms vendor forms",
    "a an x",  # words shorter than the n-gram size
]
QUERIES = ["declind card", "refnd form", "subscrption cancelation", "qwerty", "", "x"]


def test_ngrams_of_a_word_are_padded_and_bounded():
    grams = char_wb_ngrams("Card")
    assert grams[:3] == [" ca", "car", "ard"]
    assert " card" in grams and "card " in grams
    assert " card " not in grams  # 6 characters: longer than the 5-gram limit
    assert all(NGRAM_RANGE[0] <= len(g) <= NGRAM_RANGE[1] for g in grams)


def test_short_words_count_once():
    assert char_wb_ngrams("a") == [" a "]
    assert char_wb_ngrams("an") == [" an", "an ", " an "]


def test_identical_text_has_similarity_one_and_disjoint_text_zero():
    index = CharNgramIndex(DOCS)
    sims = index.similarities(DOCS[1])
    assert math.isclose(sims[1], 1.0, rel_tol=1e-9)
    assert max(sims[:1] + sims[2:]) < 0.5
    assert index.similarities("zzzz qqqq") == [0.0] * len(DOCS)
    assert index.similarities("") == [0.0] * len(DOCS)


def test_misspelt_words_still_match_their_document():
    index = CharNgramIndex(DOCS)
    for query, expected in (("declind card", 0), ("refnd form", 1), ("subscrption cancelation", 2)):
        sims = index.similarities(query)
        assert max(range(len(DOCS)), key=sims.__getitem__) == expected, query


def test_same_vector_space_as_scikit_learn():
    sklearn_text = pytest.importorskip("sklearn.feature_extraction.text")
    vectorizer = sklearn_text.TfidfVectorizer(analyzer="char_wb", ngram_range=NGRAM_RANGE, sublinear_tf=True)
    matrix = vectorizer.fit_transform(DOCS)
    analyzer = vectorizer.build_analyzer()
    index = CharNgramIndex(DOCS)
    for text in DOCS + QUERIES:
        assert char_wb_ngrams(text) == analyzer(text.lower())
    for query in QUERIES:
        expected = (matrix @ vectorizer.transform([query]).T).toarray().ravel()
        assert index.similarities(query) == pytest.approx(list(expected), abs=1e-9), query
