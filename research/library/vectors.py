"""Chunk vectors stored beside their chunks, and the retrieval that reads them.

When settings.CARREL_EMBED_MODEL names an Ollama embedding model that Ollama has, every
indexed document's chunks are embedded in batches through /api/embed by a task on the
low-priority batch lane (`embed_document`, tasks.py), and each vector is stored as a
`ChunkVector` row: float32 bytes, L2-normalised, one row per chunk and model. A question
embeds only itself: its full-text prefilter's pool (the keyword ranking's best POOL chunks,
topped up in reading order) is scored against the stored vectors in the worker with numpy,
and fused with the keyword ranking by reciprocal rank (workspace.retrieval.HybridRetriever).
A pool chunk with no vector yet is embedded for that question (cached in memory), as
before vectors were stored, so a document is askable before its vectors exist and a
changed model serves at once while `embed_missing_vectors` re-embeds in the background.
Any embedding failure leaves the keyword ranking alone: vectors only refine.

The same bytes and the same scoring serve SQLite and PostgreSQL. Neither sqlite-vec nor
pgvector is used: the pool is at most POOL chunks, which numpy scores in well under a
millisecond, so an index in the database would only pay if vectors ranked the whole
library (docs/architecture.md).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta

import numpy as np
from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from research.models import Chunk, ChunkVector, Document
from workspace.packing.embeddings import POOL
from workspace.packing.retrievers import DatabaseRetriever, default_retriever
from workspace.packing.types import Piece, Ranked, Retriever
from workspace.retrieval.hybrid import HybridRetriever
from workspace.retrieval.ollama import OllamaVectors
from workspace.retrieval.vectors import Embedder, vector_from_bytes, vector_to_bytes
from workspace.runtime import ModelRuntimeError

logger = logging.getLogger(__name__)

VECTOR_BATCH = 32  # chunks per /api/embed call at ingest
VECTOR_CLAIM_STALE = timedelta(minutes=15)  # a claim older than this was left by a dead worker
SWEEP_DOCUMENTS = 20  # documents embed_missing_vectors sends at a time
EMBEDDABLE_STAGES = (Document.Stage.SUMMARIZING, Document.Stage.READY)


def embed_model_name(model: str | None = None) -> str:
    """The configured embedding model as Ollama names it ("embeddinggemma:latest"), or ""."""
    name = (settings.CARREL_EMBED_MODEL if model is None else model).strip()
    if not name:
        return ""
    return name if ":" in name else f"{name}:latest"


QUESTION_CACHE = 2000  # texts (questions, pool chunks without a vector) kept in memory
_embedders: dict[tuple[str, str, int], OllamaVectors] = {}


def ollama_embedder(*, model: str, cache: int = QUESTION_CACHE) -> OllamaVectors | None:
    """The Embedder for `model` when Ollama answers and has it (probed at most once a
    minute), else None. One per host, model and cache size, so its in-memory cache lasts;
    ingest asks for cache=0 (each vector is stored, never embedded again)."""
    from workspace.runtime.select import probe_ollama

    if not model or not probe_ollama().has(model):
        return None
    key = (settings.OLLAMA_HOST, model, cache)
    if key not in _embedders:
        _embedders[key] = OllamaVectors(host=settings.OLLAMA_HOST, model=model, cache=cache)
    return _embedders[key]


# --- ingest: embedding a document's chunks ---------------------------------------------------


def _missing(model: str) -> Q:
    """Chunks with no vector of `model`."""
    return ~Q(Exists(ChunkVector.objects.filter(chunk=OuterRef("pk"), model=model)))


def document_vectors_claim(*, document_id: int, attempt: int) -> datetime | None:
    """Claim the embedding of an indexed document's chunks (a conditional UPDATE); the claim
    is the time it was taken, None when the document is gone, superseded, not indexed yet
    or claimed by a live worker."""
    now = timezone.now()
    free = Q(vectors_claimed_at__isnull=True) | Q(vectors_claimed_at__lt=now - VECTOR_CLAIM_STALE)
    claimed = Document.objects.filter(
        free, pk=document_id, attempt=attempt, stage__in=EMBEDDABLE_STAGES
    ).update(vectors_claimed_at=now)
    return now if claimed else None


def document_vectors_release(*, document_id: int, claim: datetime) -> None:
    Document.objects.filter(pk=document_id, vectors_claimed_at=claim).update(
        vectors_claimed_at=None
    )


def document_vectors_embed(
    *, document_id: int, attempt: int, embedder: Embedder, model: str, batch: int | None = None
) -> int:
    """Embed and store the vectors of the document's chunks that have none for `model`, a
    batch at a time; returns how many were stored. Idempotent: a chunk with a vector is
    skipped, a second run stores nothing. Raises the embedder's errors (the task retries);
    the claim is released either way, and renewed with every batch written."""
    claim = document_vectors_claim(document_id=document_id, attempt=attempt)
    if claim is None:
        return 0
    batch = batch or VECTOR_BATCH
    stored = 0
    try:
        while True:
            rows = list(
                Chunk.objects.filter(_missing(model), document_id=document_id)
                .order_by("ordinal")
                .values_list("pk", "text")[:batch]
            )
            if not rows:
                break
            vectors = np.asarray(embedder.embed_passages([text for _pk, text in rows]))
            renewed = timezone.now()
            with transaction.atomic():
                if not Document.objects.filter(
                    pk=document_id, attempt=attempt, vectors_claimed_at=claim
                ).update(vectors_claimed_at=renewed):
                    return stored  # superseded (a new run re-chunks it) or claim taken over
                claim = renewed
                ChunkVector.objects.bulk_create(
                    [
                        ChunkVector(
                            chunk_id=pk,
                            model=model,
                            dims=len(vector),
                            vector=vector_to_bytes(vector),
                        )
                        for (pk, _text), vector in zip(rows, vectors, strict=True)
                    ],
                    ignore_conflicts=True,
                )
            stored += len(rows)
        # The document is complete for this model: other models' vectors are stale.
        ChunkVector.objects.filter(chunk__document_id=document_id).exclude(model=model).delete()
    finally:
        document_vectors_release(document_id=document_id, claim=claim)
    return stored


def documents_missing_vectors(*, model: str, limit: int = SWEEP_DOCUMENTS) -> list[tuple[int, int]]:
    """(id, attempt) of indexed, unclaimed documents with chunks lacking a vector of `model`
    (new since the model was set, or embedded by another model), oldest first. None while
    a document is being summarised: the batch lane is busy, and the documents' own
    embed_document messages may still be queued behind the summaries."""
    if Document.objects.filter(stage=Document.Stage.SUMMARIZING).exists():
        return []
    stale = timezone.now() - VECTOR_CLAIM_STALE
    lacking = Chunk.objects.filter(_missing(model), document_id=OuterRef("pk"))
    rows = (
        Document.objects.filter(Exists(lacking), stage__in=EMBEDDABLE_STAGES)
        .filter(Q(vectors_claimed_at__isnull=True) | Q(vectors_claimed_at__lt=stale))
        .order_by("pk")
        .values_list("pk", "attempt")[:limit]
    )
    return list(rows)


# --- questions: reading stored vectors ---------------------------------------------------------


class StoredVectors:
    """A VectorSearch over the ChunkVector rows of one model (piece ids are chunk ids).

    Scores the given pieces only (the caller's full-text prefilter), in the worker: one
    query for their vectors, one matrix product. Pieces with no stored vector are embedded
    with `embedder` (at most `embed_missing` a question, in passage order, cached in
    memory) so a document is searchable by meaning before its vectors are written."""

    def __init__(
        self, *, model: str, embedder: Embedder | None = None, embed_missing: int = POOL
    ) -> None:
        self.model = model
        self.embedder = embedder
        self.embed_missing = embed_missing
        self.name = f"vectors stored beside their chunks ({model})"

    def __call__(self, vector: np.ndarray, pieces: Sequence[Piece], k: int) -> list[Ranked]:
        if not pieces or k <= 0:
            return []
        query = np.asarray(vector, dtype=np.float32)
        found: dict[int, np.ndarray] = {}
        rows = ChunkVector.objects.filter(
            chunk_id__in=[piece.id for piece in pieces], model=self.model
        ).values_list("chunk_id", "vector")
        for chunk_id, data in rows:
            stored = vector_from_bytes(bytes(data))
            if stored.shape == query.shape:
                found[chunk_id] = stored
        missing = [piece for piece in pieces if piece.id not in found][: self.embed_missing]
        if missing and self.embedder is not None:
            try:
                extra = self.embedder.embed_passages([piece.text for piece in missing])
            except ModelRuntimeError as exc:  # the stored vectors still rank what they cover
                logger.warning("Could not embed %d passages: %s", len(missing), exc)
            else:
                found.update(
                    (piece.id, row)
                    for piece, row in zip(missing, extra, strict=True)
                    if row.shape == query.shape
                )
        known = [piece.id for piece in pieces if piece.id in found]
        if not known:
            return []
        similarity = np.stack([found[i] for i in known]) @ query
        order = np.argsort(-similarity, kind="stable")[:k]
        return [Ranked(known[i], float(similarity[i])) for i in order]


def chunk_retriever() -> Retriever:
    """The retriever a question uses: the database's full-text index with passages scored
    by their neighbours, fused with the stored vectors' similarity when an embedding model
    is configured and Ollama has it; otherwise the full-text ranking alone."""
    model = embed_model_name()
    embedder = ollama_embedder(model=model) if model else None
    if embedder is None:
        return default_retriever()
    return HybridRetriever(
        DatabaseRetriever(),
        vectors=StoredVectors(model=model, embedder=embedder),
        embedder=embedder,
        prefilter=POOL,
    )
