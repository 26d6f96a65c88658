"""The context map: what the model saw, in what form and order, and what was left out and why.

It is plain data, stored as JSON beside every answer, so "what did the model see?" can be
answered long after the prompt is gone, and citations can be checked against it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from workspace.packing.types import Form, Strategy

# Why something was left out (the map stores the code; `LEFT_OUT_REASONS` explains it).
LEFT_OUT_REASONS: dict[str, str] = {
    "budget": "ranked below what fit in the budget",
    "no_match": "did not match the question",
    "duplicate": "same text as a piece already packed",
    "too_large": "larger than the whole budget for sources",
    "summary_share": "summaries were capped at their share of the budget",
    "no_summary": "the document has no summary yet",
    "empty": "the source has no text",
    "history": "older turn of the conversation, over the budget",
}


def page_ranges(pages: Iterable[int]) -> list[list[int]]:
    """[1, 2, 3, 7] -> [[1, 3], [7, 7]]: compact, and still exact."""
    ranges: list[list[int]] = []
    for page in sorted(set(pages)):
        if ranges and page == ranges[-1][1] + 1:
            ranges[-1][1] = page
        else:
            ranges.append([page, page])
    return ranges


def expand_ranges(ranges: Iterable[Iterable[int]]) -> set[int]:
    pages: set[int] = set()
    for start, end in ranges:
        pages.update(range(start, end + 1))
    return pages


@dataclass
class MapEntry:
    position: int  # 0-based order inside the packed text (per group for map-reduce)
    source_id: int
    title: str
    form: Form
    tokens: int  # upper bound of what this entry adds to the prompt, markers included
    pages: list[list[int]] = field(default_factory=list)  # page ranges whose text went in
    chunk_ids: list[int] = field(default_factory=list)
    score: float | None = None  # best retrieval score of the entry's pieces
    group: int | None = None  # map-reduce group index


@dataclass
class LeftOut:
    source_id: int
    title: str
    form: Form
    reason: str  # a key of LEFT_OUT_REASONS
    tokens: int
    pages: list[list[int]] = field(default_factory=list)
    chunk_ids: list[int] = field(default_factory=list)

    @property
    def why(self) -> str:
        return LEFT_OUT_REASONS.get(self.reason, self.reason)


@dataclass
class GroupPlan:
    """One map step of a map-reduce: a window-sized slice of the sources, in fixed order."""

    index: int
    chunk_ids: list[int]
    source_ids: list[int]
    tokens: int  # estimated prompt tokens of this group's map prompt


@dataclass
class ContextMap:
    strategy: Strategy
    reason: str
    window: int
    prompt_limit: int
    output_reserve: int
    margin: int
    prompt_tokens: int  # upper bound on the packed prompt (the real count is never above it)
    fixed_tokens: int  # system rules, question, history and chat template
    source_tokens: int  # everything the sources section adds
    full_text_tokens: int  # what sending every selected source in full would add
    retriever: str = ""
    entries: list[MapEntry] = field(default_factory=list)
    left_out: list[LeftOut] = field(default_factory=list)
    groups: list[GroupPlan] = field(default_factory=list)
    history_turns: int = 0  # earlier question/answer pairs included
    notes: list[str] = field(default_factory=list)
    # Route by question (routing.py): the route taken and why, and the question's kind
    # ("lookup" | "global") with the words or the choice that decided it. Empty in maps
    # stored before routing existed.
    route: str = ""
    route_reason: str = ""
    question_kind: str = ""
    kind_reason: str = ""
    # A look-up whose words are common to most of its documents could be about any of them
    # (workspace/retrieval/specific.py): what the answer page says about that, or "".
    vague_note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self, *, indent: int | None = None) -> str:
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ContextMap:
        values = dict(data)
        values["entries"] = [MapEntry(**entry) for entry in data.get("entries", [])]
        values["left_out"] = [LeftOut(**item) for item in data.get("left_out", [])]
        values["groups"] = [GroupPlan(**group) for group in data.get("groups", [])]
        return cls(**values)

    def seen_pages(self) -> dict[int, set[int]]:
        """Per source, the pages whose text (not just a summary) was in the context."""
        seen: dict[int, set[int]] = {}
        for entry in self.entries:
            if entry.form != "summary":
                seen.setdefault(entry.source_id, set()).update(expand_ranges(entry.pages))
        return seen

    def seen_titles(self) -> dict[int, str]:
        """Every source the model saw in any form, by id."""
        return {entry.source_id: entry.title for entry in self.entries}
