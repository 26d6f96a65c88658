"""Cutting page texts into token-sized, page-anchored chunks.

A chunk is built from whole paragraphs (or whole sentences, when one paragraph is too long,
or runs of words for a "sentence" that is itself too long) and always records the first and
last page it draws from. Chunks never span documents. Token counts are Gemma's, counted on
the final chunk text, so packing can trust them. While grouping, a paragraph's size is
estimated from its page's real tokens-per-character ratio: one tokenizer call per page and
one per chunk instead of one per paragraph (tens of thousands on a long book).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from workspace.runtime.tokenizer import count_tokens

DEFAULT_CHUNK_TOKENS = 400

_PARAGRAPH = re.compile(r"\n\s*\n")
_SENTENCE = re.compile(r"(?<=[.!?;:])\s+(?=\S)")


@dataclass(frozen=True)
class PageText:
    number: int
    text: str


@dataclass(frozen=True)
class ChunkDraft:
    ordinal: int
    text: str
    token_count: int
    page_start: int
    page_end: int


@dataclass(frozen=True)
class _Unit:
    page: int
    text: str
    tokens: int


def _split_long(text: str, page: int, limit: int, ratio: float) -> list[_Unit]:
    """Sentences of an over-long paragraph; word runs of an over-long sentence."""
    units: list[_Unit] = []
    for sentence in _SENTENCE.split(text):
        tokens = math.ceil(len(sentence) * ratio)
        if tokens <= limit:
            units.append(_Unit(page, sentence, tokens))
            continue
        words = sentence.split()
        step = max(1, len(words) * limit // (tokens + 1))
        for start in range(0, len(words), step):
            piece = " ".join(words[start : start + step])
            units.append(_Unit(page, piece, math.ceil(len(piece) * ratio)))
    return units


def _units(pages: Iterable[PageText], limit: int, count: Callable[[str], int]) -> list[_Unit]:
    units: list[_Unit] = []
    for page in pages:
        if not page.text.strip():
            continue
        ratio = count(page.text) / len(page.text)
        for paragraph in _PARAGRAPH.split(page.text):
            paragraph = paragraph.strip()
            if not paragraph:
                continue
            tokens = math.ceil(len(paragraph) * ratio)
            if tokens <= limit:
                units.append(_Unit(page.number, paragraph, tokens))
            else:
                units.extend(_split_long(paragraph, page.number, limit, ratio))
    return units


def chunk_pages(
    pages: Sequence[PageText],
    *,
    target_tokens: int = DEFAULT_CHUNK_TOKENS,
    count: Callable[[str], int] = count_tokens,
) -> list[ChunkDraft]:
    """Group paragraphs into chunks of at most about target_tokens, in reading order."""
    drafts: list[ChunkDraft] = []
    current: list[_Unit] = []
    size = 0

    def flush() -> None:
        nonlocal current, size
        if not current:
            return
        text = "\n\n".join(unit.text for unit in current)
        drafts.append(
            ChunkDraft(
                ordinal=len(drafts),
                text=text,
                token_count=count(text),
                page_start=current[0].page,
                page_end=current[-1].page,
            )
        )
        current, size = [], 0

    for unit in _units(pages, target_tokens, count):
        if current and size + unit.tokens > target_tokens:
            flush()
        current.append(unit)
        size += unit.tokens + 1  # the paragraph break costs about one token
    flush()
    return drafts
