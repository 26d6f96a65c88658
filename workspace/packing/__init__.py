"""Long-context packing, shared by research Q&A and story turns.

`pack()` takes a question, sources (pieces of page-anchored text, with summaries) and a
token budget, and returns the exact prompt plus a context map of what went in, in what form
and order, and what was left out and why. See packer.py for the strategy ladder.
"""

from workspace.packing.assembly import PackingError, PackResult
from workspace.packing.contextmap import LEFT_OUT_REASONS, ContextMap, GroupPlan, LeftOut, MapEntry
from workspace.packing.mapreduce import (
    MAP_RULES,
    batch_notes,
    map_prompt,
    reduce_prompt,
    useful_notes,
)
from workspace.packing.packer import choose_strategy, pack
from workspace.packing.retrievers import (
    BM25Retriever,
    DatabaseRetriever,
    RecordingRetriever,
    Retriever,
    default_retriever,
)
from workspace.packing.tokens import GemmaCounter, TokenCounter
from workspace.packing.types import STRATEGIES, Budget, Piece, Ranked, Source, Strategy

__all__ = [
    "LEFT_OUT_REASONS",
    "MAP_RULES",
    "STRATEGIES",
    "BM25Retriever",
    "Budget",
    "ContextMap",
    "DatabaseRetriever",
    "GemmaCounter",
    "GroupPlan",
    "LeftOut",
    "MapEntry",
    "PackResult",
    "PackingError",
    "Piece",
    "Ranked",
    "RecordingRetriever",
    "Retriever",
    "Source",
    "Strategy",
    "TokenCounter",
    "batch_notes",
    "choose_strategy",
    "default_retriever",
    "map_prompt",
    "pack",
    "reduce_prompt",
    "useful_notes",
]
