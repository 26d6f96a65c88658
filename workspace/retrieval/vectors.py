"""Dense retrieval interfaces: an Embedder turns text into unit vectors, a VectorSearch ranks
pieces by similarity to a query vector.

The research side backs VectorSearch with vectors stored beside their chunks (sqlite-vec on
SQLite; pgvector on PostgreSQL where the extension exists, else a float4[] column scored in
the worker after the full-text prefilter), written with `vector_to_bytes` (float32,
little-endian: sqlite-vec's format). MemoryVectors is the same algorithm in memory, for the
benchmark and tests.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np

from workspace.packing.types import Piece, Ranked


class Embedder(Protocol):
    name: str

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        """One L2-normalised float32 row per text."""
        ...

    def embed_query(self, text: str) -> np.ndarray:
        """The L2-normalised float32 vector of a question."""
        ...


class VectorSearch(Protocol):
    name: str

    def __call__(self, vector: np.ndarray, pieces: Sequence[Piece], k: int) -> list[Ranked]:
        """At most k of `pieces` by cosine similarity to `vector`, best first; pieces with no
        stored vector are absent."""
        ...


def vector_to_bytes(vector: Sequence[float] | np.ndarray) -> bytes:
    return np.asarray(vector, dtype="<f4").tobytes()


def vector_from_bytes(data: bytes) -> np.ndarray:
    return np.frombuffer(data, dtype="<f4")


def normalise_rows(matrix: np.ndarray) -> np.ndarray:
    matrix = np.asarray(matrix, dtype=np.float32)
    norms = np.linalg.norm(matrix, axis=-1, keepdims=True)
    return matrix / np.where(norms == 0, 1, norms)


class MemoryVectors:
    """Vectors of pieces held in memory, embedded once per piece id."""

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder
        self.name = f"vectors in memory ({embedder.name})"
        self._row: dict[int, int] = {}
        self._blocks: list[np.ndarray] = []
        self._matrix: np.ndarray | None = None

    def add(self, pieces: Sequence[Piece], *, batch: int = 256) -> None:
        """Embed the pieces not seen before (what ingest does once per chunk)."""
        missing = [piece for piece in pieces if piece.id not in self._row]
        for start in range(0, len(missing), batch):
            part = missing[start : start + batch]
            vectors = normalise_rows(self.embedder.embed_passages([p.text for p in part]))
            base = sum(len(block) for block in self._blocks)
            for offset, piece in enumerate(part):
                self._row[piece.id] = base + offset
            self._blocks.append(vectors)
        if missing:
            self._matrix = None

    def matrix(self) -> np.ndarray:
        if self._matrix is None:
            self._matrix = (
                np.concatenate(self._blocks) if self._blocks else np.zeros((0, 1), np.float32)
            )
        return self._matrix

    def __call__(self, vector: np.ndarray, pieces: Sequence[Piece], k: int) -> list[Ranked]:
        known = [piece.id for piece in pieces if piece.id in self._row]
        if not known or k <= 0:
            return []
        rows = np.fromiter((self._row[i] for i in known), dtype=np.int64, count=len(known))
        similarity = self.matrix()[rows] @ np.asarray(vector, dtype=np.float32)
        order = np.argsort(-similarity, kind="stable")[:k]
        return [Ranked(known[i], float(similarity[i])) for i in order]
