"""The passages answer: the evidence itself instead of prose, with no model call.

A question asked for passages (or asked on a model that cannot follow instructions, such
as the embedded demo model) is packed exactly as the one-prompt answer would be (services.
question_prepare); the passages are the pieces of that plan the retriever ranked highest,
each quoted by its best sentences (those sharing most words with the question, with their
neighbours while the quote stays short), under the document's label and a link to the
page the quote is on. The answer's text is plain and stable (a label line, then numbered
quotes each closed by a `[Label, p. N]` marker), so the question page, the exports (which
read markers) and follow-up cards work on it as on a generated answer.

Pure: pieces, the ranking and page texts in; text and citations out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from research.citations import Citation
from research.sentences import sentences
from workspace.packing import ContextMap, Piece, Ranked
from workspace.packing.bm25 import terms
from workspace.packing.layout import clean_title, page_label

LABEL = "Retrieved passages — not a generated answer"
INTRO = (
    "The passages of your documents that best match the question, quoted as they stand; "
    "no model wrote this."
)
NONE_MATCHED = "No passage of the documents in scope matches the words of this question."
PASSAGES_SHOWN = 6  # the most passages one answer quotes
QUOTE_CHARS = 600  # a quote grows by neighbouring sentences up to about this long


@dataclass(frozen=True)
class Quote:
    source_id: int
    title: str  # the source's label as packed (Author Year, or its title)
    text: str  # the sentences quoted
    sentence: str  # the best of them, marked on the linked page
    page_start: int  # the pages the quote is on
    page_end: int
    sentence_page: int


def best_pieces(
    *,
    context_map: ContextMap,
    ranking: Sequence[Ranked],
    pieces: Mapping[int, Piece],
    query: str,
    limit: int,
) -> list[Piece]:
    """The pieces of the plan (text, not summaries) the retriever ranked highest, best
    first, at most `limit`: those sharing a word of the question (stopwords aside), or, when
    none does (a match by meaning alone), the top one."""
    in_plan = {
        chunk_id
        for entry in context_map.entries
        if entry.form != "summary"
        for chunk_id in entry.chunk_ids
    }
    wanted = set(terms(query))
    ranked = [
        pieces[item.piece_id]
        for item in ranking
        if item.piece_id in pieces and item.piece_id in in_plan
    ]
    chosen: list[Piece] = []
    seen: set[int] = set()
    for piece in ranked:
        if len(chosen) >= limit:
            break
        if piece.id not in seen and wanted & set(terms(piece.text)):
            seen.add(piece.id)
            chosen.append(piece)
    return chosen or ranked[:1]


def _overlap(sentence: str, wanted: set[str]) -> int:
    return len(set(terms(sentence)) & wanted)


def _window(found: list[str], best: int, limit: int) -> tuple[int, int]:
    """The run of sentences around `best` that stays within `limit` characters: the next
    sentence first (a definition or a finding often goes on), then the one before."""
    start = end = best
    size = len(found[best])
    grew = True
    while grew:
        grew = False
        for candidate in (end + 1, start - 1):
            if 0 <= candidate < len(found) and size + 1 + len(found[candidate]) <= limit:
                size += 1 + len(found[candidate])
                start, end = min(start, candidate), max(end, candidate)
                grew = True
    return start, end


def _page_of(sentence: str, pages: Sequence[tuple[int, str]], fallback: int) -> int:
    """The first of the piece's pages whose text holds the sentence."""
    for number, text in pages:
        if sentence in text:
            return number
    return fallback


def quote_piece(
    piece: Piece, *, title: str, query: str, page_texts: Mapping[int, str], limit: int = QUOTE_CHARS
) -> Quote | None:
    """The piece's best sentences as a quote, with the pages they are on."""
    found = sentences(piece.text)
    if not found:
        return None
    wanted = set(terms(query))
    scores = [_overlap(sentence, wanted) for sentence in found]
    best = max(range(len(found)), key=lambda index: (scores[index], -index))
    start, end = _window(found, best, limit)
    pages = [
        (number, " ".join(sentences(page_texts[number])))
        for number in range(piece.page_start, piece.page_end + 1)
        if number in page_texts
    ]
    first = _page_of(found[start], pages, piece.page_start)
    last = max(first, _page_of(found[end], pages, piece.page_end if end > start else first))
    text = " ".join(found[start : end + 1])
    if len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    return Quote(
        source_id=piece.source_id,
        title=title,
        text=text.replace("[", "(").replace("]", ")"),
        sentence=found[best][:2000],
        page_start=first,
        page_end=last,
        sentence_page=_page_of(found[best], pages, first),
    )


def marker_title(title: str) -> str:
    """The label as the marker writes it (no `;`, which would split the marker in two)."""
    return clean_title(title).replace(";", ",")


def passages_text(quotes: Iterable[Quote]) -> tuple[str, list[Citation]]:
    """The answer's text and its citations, one per quote, spans exact."""
    text = f"{LABEL}. {INTRO}\n\n"
    citations: list[Citation] = []
    for number, quote in enumerate(quotes, start=1):
        if citations:
            text += "\n\n"
        text += f"{number}. “{quote.text}” "
        title = marker_title(quote.title)
        raw = f"{title}, {page_label(quote.page_start, quote.page_end)}"
        start = len(text)
        text += f"[{raw}]"
        citations.append(
            Citation(
                start=start,
                end=len(text),
                raw=raw,
                title=title,
                page_start=quote.page_start,
                page_end=quote.page_end,
                source_id=quote.source_id,
                passage=quote.sentence,
                passage_page=quote.sentence_page,
            )
        )
    if not citations:
        text += NONE_MATCHED
    return text, citations


def quotes_of(text: str, citations: Sequence[Citation]) -> list[str]:
    """The quote before each citation of a passages answer, as passages_text wrote it."""
    quotes: list[str] = []
    position = text.find("\n\n") + 2 if "\n\n" in text else 0
    for citation in citations:
        chunk = text[position : citation.start].strip()
        number, dot, rest = chunk.partition(". ")
        if dot and number.isdecimal():
            chunk = rest
        quotes.append(chunk.strip().removeprefix("“").removesuffix("”"))
        position = citation.end
    return quotes
