"""Retrievers rank candidate pieces for a query. The packer depends only on the protocol,
a function from (query, candidate pieces, k) to ranked piece ids, so it stays pure.

- BM25Retriever: in memory, for tests, benchmarks and as a fallback.
- DatabaseRetriever: the database's full-text index via research.library.search.chunk_search
  (FTS5 on SQLite, full-text search on PostgreSQL).
- FusedRetriever (workspace/packing/embeddings.py): keyword ranking fused with embeddings
  from Ollama, when configured, embedded per question. Questions on the research side use
  research.library.vectors.chunk_retriever() instead: vectors stored beside their chunks.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence

from workspace.packing.bm25 import BM25Index, IndexCache
from workspace.packing.types import Piece, Ranked, Retriever


class BM25Retriever:
    name = "bm25 (in memory)"

    def __init__(self, *, cache_size: int = 4) -> None:
        self._indexes = IndexCache(cache_size)

    def index_for(self, pieces: Sequence[Piece]) -> BM25Index:
        """The index over exactly these pieces, built once and reused for later questions."""
        return self._indexes.get(
            tuple(piece.id for piece in pieces), lambda: [piece.text for piece in pieces]
        )

    def __call__(self, query: str, pieces: Sequence[Piece], k: int) -> list[Ranked]:
        index = self.index_for(pieces)
        return [Ranked(pieces[position].id, score) for position, score in index.top(query, k)]


class DatabaseRetriever:
    """Ranks with research.library.search.chunk_search; piece ids are Chunk ids."""

    name = "database full-text index"

    def __call__(self, query: str, pieces: Sequence[Piece], k: int) -> list[Ranked]:
        search = importlib.import_module("research.library.search")
        wanted = {piece.id for piece in pieces}
        document_ids = sorted({piece.source_id for piece in pieces})
        hits = search.chunk_search(query=query, document_ids=document_ids, limit=k)
        return [Ranked(chunk_id, float(score)) for chunk_id, score in hits if chunk_id in wanted]


def database_search_available() -> bool:
    try:
        search = importlib.import_module("research.library.search")
    except ImportError:
        return False
    return callable(getattr(search, "chunk_search", None))


_shared_bm25 = BM25Retriever()


def default_retriever() -> Retriever:
    """The database's index when ingestion provides it, else in-memory BM25; fused with
    embeddings when an embedding model is configured and Ollama has it; each passage
    scored with its neighbours (workspace.retrieval.HybridRetriever)."""
    from workspace.packing.embeddings import with_embeddings
    from workspace.retrieval.hybrid import HybridRetriever

    keyword: Retriever = DatabaseRetriever() if database_search_available() else _shared_bm25
    return HybridRetriever(with_embeddings(keyword))


class RecordingRetriever:
    """Another retriever, keeping the last ranking it gave: the passages answer quotes the
    pieces packing ranked highest without ranking them a second time."""

    def __init__(self, inner: Retriever) -> None:
        self.inner = inner
        self.name = inner.name
        self.ranking: list[Ranked] = []

    def __call__(self, query: str, pieces: Sequence[Piece], k: int) -> list[Ranked]:
        self.ranking = self.inner(query, pieces, k)
        return self.ranking
