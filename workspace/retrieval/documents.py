"""Documents first: which documents a look-up question is about, before which passages.

A document's rank fuses (reciprocal rank) two views: how early its best passage comes in
the passage ranking (the full-text index at document level: a document is as relevant as
its best page), and how well its title and summary match the question. Both are ranks, so
the database's full-text ranking serves as well as the in-memory one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from workspace.packing.bm25 import BM25Index, IndexCache
from workspace.packing.types import Source
from workspace.retrieval.fusion import RRF_K, reciprocal_rank_fusion

TITLE_SUMMARY_WEIGHT = 0.0  # measured in bench.packing: titles and summaries did not pay


@dataclass(frozen=True)
class DocumentRank:
    source_id: int
    score: float  # fused; higher is more relevant
    best_passage: int | None  # 1-based rank of its best passage, None if no passage matched
    matched: int  # how many of its passages matched


_summary_indexes = IndexCache()


def _summary_index(sources: Sequence[Source]) -> BM25Index:
    """BM25 over title + summary per library, reused from one question to the next."""
    key = tuple((source.id, source.title, source.summary) for source in sources)
    return _summary_indexes.get(key, lambda: [f"{s.title}\n{s.summary}" for s in sources])


def rank_documents(
    query: str,
    sources: Sequence[Source],
    passage_order: Sequence[int],
    *,
    owner_of: dict[int, int],
    title_summary_weight: float = TITLE_SUMMARY_WEIGHT,
    k: int = RRF_K,
) -> list[DocumentRank]:
    """Every source, most relevant first. `passage_order` is the passage ranking (piece ids,
    best first); `owner_of` maps a piece id to its source id. Sources nothing points at
    come last, in their given order."""
    best: dict[int, int] = {}
    matched: dict[int, int] = {}
    for rank, piece_id in enumerate(passage_order, start=1):
        owner = owner_of.get(piece_id)
        if owner is None:
            continue
        best.setdefault(owner, rank)
        matched[owner] = matched.get(owner, 0) + 1
    rankings: list[list[int]] = [sorted(best, key=lambda owner: best[owner])]
    weights = [1.0]
    if title_summary_weight > 0 and query.strip():
        index = _summary_index(sources)
        rankings.append([sources[position].id for position, _ in index.top(query, len(sources))])
        weights.append(title_summary_weight)
    fused = reciprocal_rank_fusion(rankings, k=k, weights=weights)
    position = {source.id: index for index, source in enumerate(sources)}
    order = sorted(
        (source.id for source in sources),
        key=lambda source_id: (-fused.get(source_id, 0.0), position[source_id]),
    )
    return [
        DocumentRank(
            source_id, fused.get(source_id, 0.0), best.get(source_id), matched.get(source_id, 0)
        )
        for source_id in order
    ]
