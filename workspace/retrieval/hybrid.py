"""The retriever the packer uses at library scale: the keyword ranking of the question
with its own words expanded, fused by reciprocal rank with vector similarity when stored
vectors and an embedder for the question are available. It satisfies the packer's Retriever
protocol, so the research side swaps in its database-backed keyword and vector searches."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from workspace.packing.types import Piece, Ranked, Retriever
from workspace.retrieval.expansion import expand_query
from workspace.retrieval.fusion import RRF_K, reciprocal_rank_fusion
from workspace.retrieval.vectors import Embedder, VectorSearch

logger = logging.getLogger(__name__)

DENSE_DEPTH = 100  # pieces the vector ranking may bring in; the rest count as not matching
CONTEXT_WEIGHT = 0.5  # share of each neighbour's score a passage gets (bench.packing)


class HybridRetriever:
    def __init__(
        self,
        keyword: Retriever,
        *,
        vectors: VectorSearch | None = None,
        embedder: Embedder | None = None,
        expand: bool = False,
        dense_weight: float = 1.0,
        dense_depth: int = DENSE_DEPTH,
        k: int = RRF_K,
        context_weight: float = CONTEXT_WEIGHT,
        prefilter: int | None = None,
    ) -> None:
        """`prefilter`: vectors score only the keyword ranking's best N pieces (a database
        without a vector index scores an array column after the full-text prefilter);
        None lets them rank every piece (sqlite-vec, pgvector, memory)."""
        if (vectors is None) != (embedder is None):
            raise ValueError("vectors and an embedder for the question come together")
        self.keyword = keyword
        self.vectors = vectors
        self.embedder = embedder
        self.expand = expand
        self.dense_weight = dense_weight
        self.dense_depth = dense_depth
        self.k = k
        self.context_weight = context_weight
        self.prefilter = prefilter
        parts = [keyword.name]
        if expand:
            parts.append("query expanded from its own words")
        if context_weight:
            parts.append("passages scored with their neighbours")
        if vectors is not None and embedder is not None:
            parts.append(f"fused with {vectors.name}")
        self.name = ", ".join(parts)

    def __call__(self, query: str, pieces: Sequence[Piece], k: int) -> list[Ranked]:
        search = expand_query(query) if self.expand else query
        keyword = self.keyword(search, pieces, k)
        if self.context_weight:
            keyword = with_context(keyword, pieces, self.context_weight)[:k]
        if self.vectors is None or self.embedder is None or not query.strip():
            return keyword
        try:
            vector = self.embedder.embed_query(query)
            candidates = pieces
            if self.prefilter is not None:
                candidates = prefilter_pool(keyword, pieces, self.prefilter)
            dense = self.vectors(vector, candidates, min(k, self.dense_depth))
        except Exception as exc:  # vectors only refine: keep the keyword ranking
            logger.warning("Vector search unavailable, keyword ranking only: %s", exc)
            return keyword
        fused = reciprocal_rank_fusion(
            [[r.piece_id for r in keyword], [r.piece_id for r in dense]],
            k=self.k,
            weights=[1.0, self.dense_weight],
        )
        order = sorted(fused, key=lambda piece_id: -fused[piece_id])[:k]
        return [Ranked(piece_id, fused[piece_id]) for piece_id in order]


def prefilter_pool(ranked: Sequence[Ranked], pieces: Sequence[Piece], size: int) -> list[Piece]:
    """The pieces vectors score after a full-text prefilter: the keyword ranking's best
    `size`, topped up in reading order when fewer match (so a question that shares no word
    with the text can still be answered by meaning)."""
    by_id = {piece.id: piece for piece in pieces}
    pool = [by_id[r.piece_id] for r in ranked[:size] if r.piece_id in by_id]
    if len(pool) < size:
        taken = {piece.id for piece in pool}
        pool += [piece for piece in pieces if piece.id not in taken][: size - len(pool)]
    return pool


def with_context(ranked: list[Ranked], pieces: Sequence[Piece], weight: float) -> list[Ranked]:
    """Each piece scored with `weight` times its neighbours' scores added (scores of one
    ranking are comparable): a passage inside a matching stretch of text beats an isolated
    one, as a longer passage would."""
    score = {item.piece_id: item.score for item in ranked}
    if not score:
        return ranked
    neighbours: dict[int, list[int]] = {}
    previous: Piece | None = None
    for piece in pieces:
        if previous is not None and previous.source_id == piece.source_id:
            neighbours.setdefault(piece.id, []).append(previous.id)
            neighbours.setdefault(previous.id, []).append(piece.id)
        previous = piece
    boosted: dict[int, float] = {}
    for piece_id, value in score.items():
        boosted[piece_id] = boosted.get(piece_id, 0.0) + value
        for near in neighbours.get(piece_id, ()):
            boosted[near] = boosted.get(near, 0.0) + weight * value
    order = sorted(boosted, key=lambda piece_id: -boosted[piece_id])
    return [Ranked(piece_id, boosted[piece_id]) for piece_id in order]
