"""How packed sources read in the prompt, and the exact token cost of every part.

A piece is introduced by a marker in the citation format the model must copy,
`[Title, p. 7]` (or `[Title, pp. 7-8]`), so every claim can point at a page. Every part
ends at, or starts with, a newline: see workspace/packing/tokens.py for why that makes
the sum of the parts' counts an upper bound on the whole.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

from workspace.packing.tokens import TokenCounter
from workspace.packing.types import Piece

SOURCES_HEADING = "# Sources\n\n"
SUMMARIES_HEADING = "## Summaries\n\n"
EXCERPTS_HEADING = "## Excerpts\n\n"
QUESTION_HEADING = "# Question\n"
SEPARATOR = "\n\n"
MAX_TITLE_CHARS = 120

_SPACE = re.compile(r"\s+")


@lru_cache(maxsize=8192)
def clean_title(title: str) -> str:
    """One line, no brackets (they delimit citations), at most MAX_TITLE_CHARS."""
    title = _SPACE.sub(" ", title).replace("[", "(").replace("]", ")").strip() or "Untitled"
    if len(title) > MAX_TITLE_CHARS:
        title = title[: MAX_TITLE_CHARS - 1].rstrip() + "…"
    return title


def page_label(page_start: int, page_end: int) -> str:
    if page_end > page_start:
        return f"pp. {page_start}-{page_end}"
    return f"p. {page_start}"


def marker(title: str, piece: Piece) -> str:
    return f"[{clean_title(title)}, {page_label(piece.page_start, piece.page_end)}]\n"


def source_heading(title: str) -> str:
    return f"## {clean_title(title)}\n"


def summary_heading(title: str) -> str:
    return f"### {clean_title(title)} (summary)\n"


@dataclass
class Parts:
    """Text built from parts whose token counts add up to an upper bound of the whole."""

    counter: TokenCounter
    texts: list[str] = field(default_factory=list)
    tokens: int = 0

    def add(self, text: str, tokens: int | None = None) -> int:
        cost = self.counter.count(text) if tokens is None else tokens
        self.texts.append(text)
        self.tokens += cost
        return cost

    def add_pieces(self, title: str, pieces: list[Piece]) -> int:
        """Pieces in the given order, each under its page marker unless it shares the
        previous piece's pages. Returns the tokens added."""
        added = 0
        previous: tuple[int, int] | None = None
        for piece in pieces:
            pages = (piece.page_start, piece.page_end)
            if pages != previous:
                added += self.add(marker(title, piece))
            added += self.add(piece.text, piece.tokens)
            added += self.add(SEPARATOR)
            previous = pages
        return added

    def text(self) -> str:
        return "".join(self.texts)


def piece_cost(counter: TokenCounter, title: str, piece: Piece) -> int:
    """The most a piece can add: its marker, its text and a separator."""
    return counter.count(marker(title, piece)) + piece.tokens + counter.count(SEPARATOR)
