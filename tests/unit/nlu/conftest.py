"""NLU unit tests keep the training-example embedding cache in their own temporary folder."""
from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def embedding_cache(tmp_path, monkeypatch):
    path = tmp_path / "embedding-cache.sqlite"
    monkeypatch.setenv("SUPPORTBOT_EMBEDDING_CACHE", str(path))
    return path
