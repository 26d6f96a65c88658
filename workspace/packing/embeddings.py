"""Optional: keyword ranking fused with embeddings from Ollama, when an embedding model is
configured (settings.CARREL_EMBED_MODEL, e.g. "embeddinggemma") and Ollama has it.

This path stores no vectors (the research side stores them beside their chunks and embeds
only the question: research/library/vectors.py; this one serves `default_retriever()`
elsewhere): the question and a pool of candidates — the keyword ranking's best, topped up
in reading order when few pieces match — are embedded per question (each piece's vector is
cached in memory), ranked by cosine similarity, and fused with the
keyword ranking by reciprocal rank fusion. A piece outside the pool can only be found by
keywords. Any embedding failure falls back to the keyword ranking: embeddings only refine.
"""

from __future__ import annotations

import hashlib
import logging
import math
import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Protocol

from workspace.packing.types import Piece, Ranked, Retriever

logger = logging.getLogger(__name__)

POOL = 64  # pieces embedded per question
RRF_K = 60  # reciprocal rank fusion constant (Cormack et al., 2009)


class Embedder(Protocol):
    name: str

    def __call__(self, texts: Sequence[str]) -> list[list[float]]: ...


class OllamaEmbedder:
    """Embeddings from Ollama's /api/embed, with an in-memory cache per text."""

    def __init__(self, *, host: str, model: str, timeout: float = 60.0, cache: int = 20000) -> None:
        import httpx
        import ollama

        self.name = f"{model} via Ollama"
        self.host = host
        self.model = model
        self._client = ollama.Client(host=host, timeout=httpx.Timeout(timeout, connect=3.0))
        self._cache: OrderedDict[str, list[float]] = OrderedDict()
        self._size = cache
        self._lock = threading.Lock()

    def __call__(self, texts: Sequence[str]) -> list[list[float]]:
        from workspace.runtime.ollama import _ollama_errors

        keys = [hashlib.sha1(text.encode()).hexdigest() for text in texts]
        with self._lock:
            found = {key: self._cache[key] for key in keys if key in self._cache}
        missing = sorted({i for i, key in enumerate(keys) if key not in found})
        if missing:
            with _ollama_errors(host=self.host, model=self.model, timeout=60.0):
                response = self._client.embed(model=self.model, input=[texts[i] for i in missing])
            with self._lock:
                for i, vector in zip(missing, response.embeddings, strict=True):
                    found[keys[i]] = self._cache[keys[i]] = list(vector)
                while len(self._cache) > self._size:
                    self._cache.popitem(last=False)
        return [found[key] for key in keys]


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=False))
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return dot / norm if norm else 0.0


class FusedRetriever:
    def __init__(self, keyword: Retriever, embedder: Embedder, *, pool: int = POOL) -> None:
        self.keyword = keyword
        self.embedder = embedder
        self.pool = pool
        self.name = f"{keyword.name}, fused with embeddings ({embedder.name})"

    def __call__(self, query: str, pieces: Sequence[Piece], k: int) -> list[Ranked]:
        ranked = self.keyword(query, pieces, len(pieces))
        matched = {item.piece_id for item in ranked}
        pool_ids = [item.piece_id for item in ranked[: self.pool]]
        for piece in pieces:  # few matches: let embeddings look at the rest too
            if len(pool_ids) >= self.pool:
                break
            if piece.id not in matched:
                pool_ids.append(piece.id)
        by_id = {piece.id: piece for piece in pieces}
        try:
            vectors = self.embedder([query, *(by_id[i].text for i in pool_ids)])
        except Exception as exc:  # embeddings only refine: keep the keyword ranking
            logger.warning("Embeddings unavailable, keyword ranking only: %s", exc)
            return ranked[:k]
        similarity = {i: cosine(vectors[0], v) for i, v in zip(pool_ids, vectors[1:], strict=True)}
        fused: dict[int, float] = {}
        for rank, item in enumerate(ranked):
            fused[item.piece_id] = 1 / (RRF_K + rank + 1)
        by_meaning = sorted(
            (i for i in pool_ids if similarity[i] > 0), key=lambda i: -similarity[i]
        )
        for rank, piece_id in enumerate(by_meaning):
            fused[piece_id] = fused.get(piece_id, 0.0) + 1 / (RRF_K + rank + 1)
        order = sorted(fused, key=lambda piece_id: -fused[piece_id])
        return [Ranked(piece_id, fused[piece_id]) for piece_id in order[:k]]


def with_embeddings(keyword: Retriever) -> Retriever:
    """The keyword retriever fused with embeddings when an embedding model is configured and
    Ollama answers with it; otherwise the keyword retriever alone."""
    from django.conf import settings

    model = getattr(settings, "CARREL_EMBED_MODEL", "")
    if not model:
        return keyword
    from workspace.runtime.select import probe_ollama

    if not probe_ollama().has(model):
        return keyword
    return FusedRetriever(keyword, _embedder(settings.OLLAMA_HOST, model))


_embedders: dict[tuple[str, str], OllamaEmbedder] = {}


def _embedder(host: str, model: str) -> OllamaEmbedder:
    key = (host, model)
    if key not in _embedders:
        _embedders[key] = OllamaEmbedder(host=host, model=model)
    return _embedders[key]
