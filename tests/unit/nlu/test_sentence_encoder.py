"""The local sentence encoder: pinned model files, normalised vectors that carry meaning."""
from __future__ import annotations

import numpy as np
import pytest

from supportbot.nlu.sentence_encoder import (
    DIMENSION,
    EmbeddingCache,
    SentenceEncoder,
    SentenceEncoderUnavailable,
    shared_encoder,
)


def test_vectors_are_unit_length_and_one_per_text():
    vectors = shared_encoder().encode(["I want my money back", "hello", "", "   "])
    assert vectors.shape == (4, DIMENSION)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-4)


def test_paraphrases_are_closer_than_unrelated_sentences():
    refund, reimburse, weather, recipe = shared_encoder().encode([
        "please refund my order", "can you give me my money back for this purchase",
        "will it rain in Paris tomorrow", "how long do I boil an egg"])
    assert refund @ reimburse > refund @ weather + 0.2
    assert refund @ reimburse > refund @ recipe + 0.2


def test_batches_give_the_same_vectors_as_single_texts():
    texts = [f"order {100000000 + i} has not arrived yet" for i in range(70)] + ["hi"]
    together = shared_encoder().encode(texts)
    alone = np.vstack([shared_encoder().encode([t]) for t in (texts[0], texts[-1])])
    np.testing.assert_allclose(together[[0, -1]], alone, atol=1e-4)


def test_a_missing_or_altered_model_file_is_a_clear_error(tmp_path):
    with pytest.raises(SentenceEncoderUnavailable, match="not found"):
        SentenceEncoder(onnx_path=tmp_path / "absent.onnx")
    altered = tmp_path / "model.onnx"
    altered.write_bytes(b"not the pinned network")
    with pytest.raises(SentenceEncoderUnavailable, match="sha256"):
        SentenceEncoder(onnx_path=altered)


def test_texts_of_mixed_lengths_come_back_in_their_own_order():
    # encode() batches texts by length: every vector must still land on its own text
    texts = ["a much longer sentence about a refund for order 100000001 that never arrived",
             "hi", "where is my licence key", "ok"]
    together = shared_encoder().encode(texts)
    alone = np.vstack([shared_encoder().encode([t]) for t in texts])
    np.testing.assert_allclose(together, alone, atol=1e-4)


def test_the_embedding_cache_encodes_only_texts_it_has_not_seen(tmp_path):
    cache = EmbeddingCache(tmp_path / "cache" / "embeddings.sqlite")
    first = cache.encode(shared_encoder(), ["refund please", "hello", "refund please"])
    assert cache.last_encoded == 2  # the repeated text is encoded once
    again = cache.encode(shared_encoder(), ["hello", "cancel my plan", "refund please"])
    assert cache.last_encoded == 1  # only "cancel my plan" is new
    np.testing.assert_array_equal(again[0], first[1])
    np.testing.assert_array_equal(again[2], first[0])
    np.testing.assert_allclose(again, shared_encoder().encode(["hello", "cancel my plan", "refund please"]),
                               atol=1e-6)


def test_the_cache_key_depends_on_the_model_and_the_exact_text():
    assert EmbeddingCache.key("Refund") != EmbeddingCache.key("refund")
    assert EmbeddingCache.key("refund") == EmbeddingCache.key("refund")
    assert len(EmbeddingCache.key("refund")) == 32
