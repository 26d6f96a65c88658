"""Text for display: a page with a cited passage marked, a summary with linked citations.

Pure functions over strings; templates render the pieces with autoescaping on, so no
extracted text is ever trusted as HTML.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from research.library.document_summary import CITATION
from research.library.search import query_terms

MAX_MARKS = 200
# Matching costs the page's length times the query's words: both are bounded.
MAX_QUERY_WORDS = 64


@dataclass(frozen=True)
class Piece:
    text: str
    marked: bool = False
    page: int | None = None  # a citation link to this page
    anchor: bool = False  # the first mark: the reading view scrolls to it


def _passage_pattern(query: str) -> re.Pattern[str] | None:
    """The query as one passage, matched across any whitespace and hyphenated line ends."""
    words = query.split()[:MAX_QUERY_WORDS]
    if not words:
        return None
    return re.compile(r"(?:-\s+|\s+)".join(re.escape(word) for word in words), re.IGNORECASE)


def _spans(text: str, query: str) -> list[tuple[int, int]]:
    pattern = _passage_pattern(query)
    if pattern is not None:
        spans = [match.span() for match in pattern.finditer(text) if match.end() > match.start()]
        if spans:
            return spans[:MAX_MARKS]
    terms = [term for term in query_terms(query) if len(term) >= 3][:MAX_QUERY_WORDS]
    if not terms:
        return []
    words = re.compile(
        r"\b(?:" + "|".join(re.escape(term) for term in terms) + r")\w*", re.IGNORECASE
    )
    return [match.span() for match in words.finditer(text)][:MAX_MARKS]


def highlight(text: str, query: str) -> tuple[list[Piece], int]:
    """The text cut into pieces, the query's occurrences marked; and how many were marked.

    The whole passage is marked where it occurs (ignoring line breaks); failing that, each
    word of the query of three letters or more.
    """
    spans = _spans(text, query) if query.strip() else []
    pieces: list[Piece] = []
    position = 0
    for index, (start, end) in enumerate(spans):
        if start > position:
            pieces.append(Piece(text[position:start]))
        pieces.append(Piece(text[start:end], marked=True, anchor=index == 0))
        position = end
    if position < len(text):
        pieces.append(Piece(text[position:]))
    return pieces, len(spans)


def linked_citations(text: str, *, page_count: int) -> list[Piece]:
    """Summary text with each [p. N] / [pp. N-M] turned into a link to page N."""
    pieces: list[Piece] = []
    position = 0
    for match in CITATION.finditer(text):
        page = int(match.group(1))
        if not 1 <= page <= page_count:
            continue
        if match.start() > position:
            pieces.append(Piece(text[position : match.start()]))
        pieces.append(Piece(match.group(0), page=page))
        position = match.end()
    if position < len(text):
        pieces.append(Piece(text[position:]))
    return pieces
