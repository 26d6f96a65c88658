"""What the packer works on: sources made of page-anchored pieces, and a token budget.

The packer is generic: a research question packs documents, a campaign turn packs world
documents and notes. A source is anything with a title, an optional summary and its text
as ordered pieces (chunks) that each know their pages.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

Form = Literal["full", "summary", "excerpt"]
Strategy = Literal["fits", "near_edge", "map_reduce"]
STRATEGIES: tuple[Strategy, ...] = ("fits", "near_edge", "map_reduce")


@dataclass(frozen=True)
class Piece:
    """One chunk of a source. `tokens` is Gemma's count of exactly `text`."""

    id: int  # unique across the sources of one pack (a Chunk id)
    source_id: int  # the owning source's id (a Document id)
    ordinal: int  # reading order inside the source
    text: str
    tokens: int
    page_start: int
    page_end: int


@dataclass(frozen=True)
class Source:
    id: int
    title: str
    pieces: tuple[Piece, ...]  # in reading order
    summary: str = ""

    @property
    def tokens(self) -> int:
        return sum(piece.tokens for piece in self.pieces)


@dataclass(frozen=True)
class Budget:
    """The model's window minus what must stay free: the answer and a safety margin.

    The prompt (system rules, sources, history, question, chat template) must fit in
    `prompt_limit`. `edge_share` is where full text stops being sent: past it, coherence
    degrades, so the packer switches to summaries plus the most relevant excerpts.
    `far_factor` is how many budgets' worth of material still packs into one prompt;
    beyond it (or when summaries alone crowd out evidence) the ladder plans map-reduce.
    """

    window: int
    output_reserve: int = 1024
    margin: int = 0
    edge_share: float = 0.85
    summary_share: float = 0.1
    far_factor: float = 4.0

    def __post_init__(self) -> None:
        if self.window <= 0:
            raise ValueError("the context window must be positive")
        if self.output_reserve < 0 or self.margin < 0:
            raise ValueError("reserves cannot be negative")
        if not 0 < self.edge_share <= 1 or not 0 <= self.summary_share <= 1:
            raise ValueError("shares must lie between 0 and 1")

    @property
    def prompt_limit(self) -> int:
        return max(0, self.window - self.output_reserve - self.margin)

    @property
    def edge_limit(self) -> int:
        """The largest prompt still sent as full text."""
        return min(self.prompt_limit, int(self.window * self.edge_share))

    @classmethod
    def for_window(cls, window: int, *, output_reserve: int = 1024) -> Budget:
        """A budget with a safety margin of 1% of the window (at least 64 tokens)."""
        return cls(window=window, output_reserve=output_reserve, margin=max(64, window // 100))


@dataclass(frozen=True)
class Ranked:
    """A retriever's verdict on one piece: higher scores are more relevant."""

    piece_id: int
    score: float


class Retriever(Protocol):
    """Ranks candidate pieces for a query (workspace/packing/retrievers.py)."""

    name: str

    def __call__(self, query: str, pieces: Sequence[Piece], k: int) -> list[Ranked]:
        """At most k of `pieces`, most relevant first; pieces that do not match are absent."""
        ...
