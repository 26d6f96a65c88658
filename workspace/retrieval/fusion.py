"""Reciprocal rank fusion (Cormack, Clarke and Büttcher, 2009): each ranking gives an item
1 / (k + rank), summed over rankings. Robust to rankings whose scores are on different
scales (BM25, ts_rank, cosine), which is why every fusion in Carrel uses it."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import TypeVar

RRF_K = 60
K = TypeVar("K", bound=Hashable)


def reciprocal_rank_fusion(
    rankings: Sequence[Sequence[K]], *, k: int = RRF_K, weights: Sequence[float] | None = None
) -> dict[K, float]:
    """Fused scores of every item in any ranking (best first in each; rank 1 is the first).
    An item a ranking does not list gets nothing from it."""
    if weights is not None and len(weights) != len(rankings):
        raise ValueError("one weight per ranking")
    fused: dict[K, float] = {}
    for index, ranking in enumerate(rankings):
        weight = 1.0 if weights is None else weights[index]
        for rank, item in enumerate(ranking, start=1):
            fused[item] = fused.get(item, 0.0) + weight / (k + rank)
    return fused


def fused_order(
    rankings: Sequence[Sequence[K]], *, k: int = RRF_K, weights: Sequence[float] | None = None
) -> list[K]:
    """Items by fused score, best first; ties keep the order of first appearance."""
    fused = reciprocal_rank_fusion(rankings, k=k, weights=weights)
    return sorted(fused, key=lambda item: -fused[item])
