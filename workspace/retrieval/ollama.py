"""Embeddings from Ollama (e.g. `embeddinggemma`) as an Embedder: the research side embeds
chunks at ingest with `embed_passages` and stores the vectors beside them, and embeds each
question with `embed_query`. Uses Ollama's /api/embed through the official client (the
same calls workspace.packing.embeddings makes), so errors are the runtime's errors."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from workspace.packing.embeddings import OllamaEmbedder
from workspace.retrieval.vectors import normalise_rows

# embeddinggemma's documented task prompts; models that take none get the bare text.
QUERY_PREFIX = "task: search result | query: "
PASSAGE_PREFIX = "title: none | text: "


class OllamaVectors:
    """An Embedder backed by an Ollama embedding model (vectors cached per text)."""

    def __init__(
        self,
        *,
        host: str,
        model: str,
        query_prefix: str = QUERY_PREFIX,
        passage_prefix: str = PASSAGE_PREFIX,
        timeout: float = 60.0,
        cache: int = 20000,
    ) -> None:
        """`cache`: texts whose vectors are kept in memory (0: none, as at ingest, where
        each vector is stored once and never asked for again)."""
        self._client = OllamaEmbedder(host=host, model=model, timeout=timeout, cache=cache)
        self.name = self._client.name
        self.query_prefix = query_prefix
        self.passage_prefix = passage_prefix

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        return normalise_rows(np.array(self._client([self.passage_prefix + t for t in texts])))

    def embed_query(self, text: str) -> np.ndarray:
        return normalise_rows(np.array(self._client([self.query_prefix + text])))[0]
