"""Retrieval shared by packing and the research side: rank fusion, query expansion from the
question's own words, document ranking, and the vector-search and embedding interfaces that
the database (sqlite-vec, pgvector, or an array column scored in the worker) or memory (the
benchmark, tests) implement.

Everything here ranks by position, never by raw score, so a full-text index's BM25 (FTS5),
PostgreSQL's ts_rank and a cosine similarity mix without calibration.
"""

from workspace.retrieval.documents import DocumentRank, rank_documents
from workspace.retrieval.expansion import expand_query
from workspace.retrieval.fusion import RRF_K, reciprocal_rank_fusion
from workspace.retrieval.hybrid import HybridRetriever
from workspace.retrieval.vectors import (
    Embedder,
    MemoryVectors,
    VectorSearch,
    vector_from_bytes,
    vector_to_bytes,
)

__all__ = [
    "RRF_K",
    "DocumentRank",
    "Embedder",
    "HybridRetriever",
    "MemoryVectors",
    "VectorSearch",
    "expand_query",
    "rank_documents",
    "reciprocal_rank_fusion",
    "vector_from_bytes",
    "vector_to_bytes",
]
