"""Lost-in-the-middle ordering: models recall the start and the end of a long prompt best,
so the strongest evidence goes first, the next strongest last, and the weakest in the middle
(Liu et al., 2023, "Lost in the Middle")."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

T = TypeVar("T")


def edges_first(ranked: Sequence[T]) -> list[T]:
    """[r1, r2, r3, r4, r5] (best first) -> [r1, r3, r5, r4, r2]."""
    front = list(ranked[0::2])
    back = list(ranked[1::2])
    return front + back[::-1]
