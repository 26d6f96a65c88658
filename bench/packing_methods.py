"""What the packing benchmark compares: Carrel's automatic plan (and its ablations), naive
truncation and BM25 top-k. Each method turns (question, budget) into the text the model
would read, the route taken and the model tokens the question costs."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from workspace.packing import BM25Retriever, Budget, PackResult, Source, pack
from workspace.packing.bm25 import BM25Index
from workspace.packing.cost import plan_cost
from workspace.packing.excerpts import LookupOptions
from workspace.packing.prompt import build_messages
from workspace.packing.retrievers import Retriever
from workspace.packing.tokens import GemmaCounter
from workspace.retrieval import HybridRetriever
from workspace.retrieval.hybrid import CONTEXT_WEIGHT

BASELINE_CHUNK_TOKENS = 1000


@dataclass
class Outcome:
    text: str  # everything the model reads about the sources (all map steps together)
    route: str
    model_tokens: int
    result: PackResult | None = None


Method = Callable[[str, int], Outcome]


def budget_of(window: int) -> Budget:
    """The bench's budget: the whole window is prompt (the same room for every method)."""
    return Budget(window=window, output_reserve=0, margin=0)


def fixed_tokens(counter: GemmaCounter, system: str, question: str) -> int:
    return counter.count_messages(build_messages(system=system, sources_text="", question=question))


def outcome_text(result: PackResult) -> str:
    if result.context_map.strategy != "map_reduce":
        return result.sources_text
    return "\n\n".join(piece.text for group in result.groups for piece in group)


@dataclass
class Carrel:
    """Carrel's automatic plan: `pack()` with no route forced."""

    sources: Sequence[Source]
    system: str
    retriever: Retriever
    options: LookupOptions | None = None
    counter: GemmaCounter = field(default_factory=GemmaCounter)

    def pack(self, question: str, window: int) -> PackResult:
        return pack(
            question=question,
            sources=self.sources,
            system=self.system,
            budget=budget_of(window),
            retriever=self.retriever,
            counter=self.counter,
            lookup=self.options,
        )

    def __call__(self, question: str, window: int) -> Outcome:
        result = self.pack(question, window)
        cost = plan_cost(result.context_map)
        return Outcome(outcome_text(result), result.context_map.route, cost.model_tokens, result)


def carrel_retriever(
    *, expand: bool = False, context_weight: float = CONTEXT_WEIGHT, vectors=None, embedder=None
) -> Retriever:
    return HybridRetriever(
        BM25Retriever(),
        expand=expand,
        context_weight=context_weight,
        vectors=vectors,
        embedder=embedder,
    )


class Truncation:
    """Documents in order, full text, until the budget is full (cut at a chunk boundary)."""

    def __init__(self, sources: Sequence[Source], system: str, counter: GemmaCounter) -> None:
        self.chunks = [(p.text, p.tokens) for s in sources for p in s.pieces]
        self.system = system
        self.counter = counter
        self.separator = counter.count("\n\n")

    def __call__(self, question: str, window: int) -> Outcome:
        room = window - fixed_tokens(self.counter, self.system, question)
        text, used = fill(self.chunks, room, self.separator)
        return Outcome(text, "truncation", window - room + used)


class TopK:
    """Plain BM25 over 1,000-token chunks, best first, until the next does not fit."""

    def __init__(
        self, chunks: list[str], tokens: list[int], system: str, counter: GemmaCounter
    ) -> None:
        self.chunks = chunks
        self.tokens = tokens
        self.index = BM25Index(chunks)
        self.system = system
        self.counter = counter
        self.separator = counter.count("\n\n")

    def __call__(self, question: str, window: int) -> Outcome:
        room = window - fixed_tokens(self.counter, self.system, question)
        ranked = self.index.top(question, len(self.chunks))
        chunks = [(self.chunks[position], self.tokens[position]) for position, _ in ranked]
        text, used = fill(chunks, room, self.separator)
        return Outcome(text, "bm25 top-k", window - room + used)


def fill(chunks: Sequence[tuple[str, int]], room: int, separator: int) -> tuple[str, int]:
    """Chunks in order until the next does not fit: their text and the tokens used."""
    texts, used = [], 0
    for text, tokens in chunks:
        if used + tokens + separator > room:
            break
        texts.append(text)
        used += tokens + separator
    return "\n\n".join(texts), used
