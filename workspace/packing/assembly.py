"""Pieces shared by every rung of the ladder: the result type, full-text layout, the
left-out ledger and the trimming of earlier turns."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from workspace.packing.contextmap import ContextMap, LeftOut, MapEntry
from workspace.packing.layout import Parts, source_heading
from workspace.packing.prompt import Turn, build_messages
from workspace.packing.tokens import TokenCounter
from workspace.packing.types import Budget, Form, Piece, Source, Strategy
from workspace.runtime.types import Message

HISTORY_SHARE = 0.25  # earlier turns may take at most this share of the prompt


class PackingError(ValueError):
    """The request cannot be packed at all (the rules and question alone exceed the budget)."""


@dataclass
class PackResult:
    messages: list[Message]  # the exact prompt; empty for map-reduce (see mapreduce.map_prompt)
    context_map: ContextMap
    sources_text: str = ""
    groups: list[list[Piece]] = field(default_factory=list)  # map-reduce: each group's pieces


def normalise(text: str) -> str:
    return " ".join(text.split())


def pages_of(pieces: Sequence[Piece]) -> list[list[int]]:
    return merge_spans([(piece.page_start, piece.page_end) for piece in pieces])


class LeftOuts:
    """Left-out pieces, grouped per source, form and reason so the map stays readable."""

    def __init__(self) -> None:
        self._items: dict[tuple[int, str, str], LeftOut] = {}
        self._spans: dict[tuple[int, str, str], list[tuple[int, int]]] = defaultdict(list)

    def add(
        self, source: Source, form: Form, reason: str, tokens: int, piece: Piece | None = None
    ) -> None:
        key = (source.id, form, reason)
        item = self._items.get(key)
        if item is None:
            item = self._items[key] = LeftOut(source.id, source.title, form, reason, 0)
        item.tokens += tokens
        if piece is not None:
            item.chunk_ids.append(piece.id)
            self._spans[key].append((piece.page_start, piece.page_end))

    def items(self) -> list[LeftOut]:
        for key, item in self._items.items():
            item.pages = merge_spans(self._spans.get(key, []))
            item.chunk_ids.sort()
        return sorted(self._items.values(), key=lambda item: (item.source_id, item.reason))


def merge_spans(spans: list[tuple[int, int]]) -> list[list[int]]:
    """Page spans merged into the map's compact, exact ranges (as page_ranges makes)."""
    ranges: list[list[int]] = []
    for start, end in sorted(spans):
        if ranges and start <= ranges[-1][1] + 1:
            ranges[-1][1] = max(ranges[-1][1], end)
        else:
            ranges.append([start, end])
    return ranges


def trim_history(
    history: Sequence[Turn], *, system: str, question: str, budget: Budget, counter: TokenCounter
) -> tuple[list[Turn], int]:
    """The most recent turns that fit in HISTORY_SHARE of the prompt, and the fixed cost
    (rules, turns, question and chat template) of the prompt without sources."""
    turns = list(history)
    base = counter.count_messages(build_messages(system=system, sources_text="", question=question))
    while True:
        fixed = counter.count_messages(
            build_messages(system=system, sources_text="", question=question, history=turns)
        )
        within_share = fixed - base <= HISTORY_SHARE * budget.prompt_limit
        if not turns or (within_share and fixed <= budget.prompt_limit):
            return turns, fixed
        turns.pop(0)


def layout_full(parts: Parts, runs: Sequence[tuple[Source, list[Piece]]]) -> list[MapEntry]:
    """Sources in the given order, each under its heading, every piece under its marker."""
    entries: list[MapEntry] = []
    for source, pieces in runs:
        tokens = parts.add(source_heading(source.title))
        tokens += parts.add_pieces(source.title, pieces)
        entries.append(
            MapEntry(
                position=len(entries),
                source_id=source.id,
                title=source.title,
                form="full" if len(pieces) == len(source.pieces) else "excerpt",
                tokens=tokens,
                pages=pages_of(pieces),
                chunk_ids=[piece.id for piece in pieces],
            )
        )
    return entries


@dataclass
class Packed:
    """What a rung produced, before it becomes messages and a map."""

    strategy: Strategy
    reason: str
    parts: Parts
    entries: list[MapEntry]
    left_out: list[LeftOut]
    retriever: str = ""
    notes: list[str] = field(default_factory=list)


def finish(
    packed: Packed,
    *,
    budget: Budget,
    fixed: int,
    full_text: int,
    system: str,
    question: str,
    turns: list[Turn],
) -> PackResult:
    sources_text = packed.parts.text()
    messages = build_messages(
        system=system, sources_text=sources_text, question=question, history=turns
    )
    context_map = ContextMap(
        strategy=packed.strategy,
        reason=packed.reason,
        window=budget.window,
        prompt_limit=budget.prompt_limit,
        output_reserve=budget.output_reserve,
        margin=budget.margin,
        prompt_tokens=fixed + packed.parts.tokens,
        fixed_tokens=fixed,
        source_tokens=packed.parts.tokens,
        full_text_tokens=full_text,
        retriever=packed.retriever,
        entries=packed.entries,
        left_out=packed.left_out,
        history_turns=len(turns),
        notes=packed.notes,
    )
    return PackResult(messages=messages, context_map=context_map, sources_text=sources_text)
