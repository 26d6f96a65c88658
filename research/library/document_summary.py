"""Model prompts for summaries: one per chunk (map), then a reduction to the document.

Every prompt shows page markers like [p. 7] and asks for citations in that form. The
reduction runs in rounds when the chunk summaries do not fit the model's window together:
each round summarizes consecutive groups that fit, until one call can take them all.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from workspace.runtime import Message, ModelRuntime
from workspace.runtime.errors import InvalidModelOutput, ModelRuntimeError
from workspace.runtime.rendering import TASK_HEADING
from workspace.runtime.speed import model_speed_record

CHUNK_SUMMARY_TOKENS = 200
DOCUMENT_SUMMARY_TOKENS = 700
_MARGIN_TOKENS = 64

SYSTEM = (
    "You summarize sources for a researcher. Use only the text you are given; do not add "
    "facts. After each claim, cite the page it comes from as [p. N], using the page "
    "markers in the text."
)

CITATION = re.compile(r"\[pp?\.\s{0,3}(\d{1,5})(?:\s{0,3}[\u2013-]\s{0,3}(\d{1,5}))?\]")


@dataclass(frozen=True)
class SummaryItem:
    page_start: int
    page_end: int
    text: str

    def render(self) -> str:
        pages = (
            f"Page {self.page_start}"
            if self.page_start == self.page_end
            else f"Pages {self.page_start}-{self.page_end}"
        )
        return f"{pages}: {self.text}"


def _pages(start: int, end: int) -> str:
    return f"page {start}" if start == end else f"pages {start}-{end}"


def mark_pages(text: str, *, page_start: int, page_end: int, page_texts: Mapping[int, str]) -> str:
    """The chunk's text with a [p. N] marker where each of its pages begins."""
    marks = [(0, page_start)]
    search_from = 0
    for number in range(page_start + 1, page_end + 1):
        words = page_texts.get(number, "").split()[:8]
        if not words:
            continue
        pattern = re.compile(r"\s+".join(re.escape(word) for word in words))
        found = pattern.search(text, search_from)
        if found:
            marks.append((found.start(), number))
            search_from = found.start()
    pieces: list[str] = []
    for index, (position, number) in enumerate(marks):
        end = marks[index + 1][0] if index + 1 < len(marks) else len(text)
        pieces.append(f"[p. {number}]\n{text[position:end].strip()}")
    return "\n\n".join(pieces)


def _reply(runtime: ModelRuntime, messages: list[Message], *, max_tokens: int) -> str:
    result = runtime.chat(messages, max_tokens=max_tokens, temperature=0.2)
    model_speed_record(result=result)  # what a question's cost line estimates time from
    text = result.text.strip()
    if not text:
        raise InvalidModelOutput("The model returned an empty summary.", result.text)
    return text


def chunk_messages(
    *, title: str, marked_text: str, page_start: int, page_end: int
) -> list[Message]:
    return [
        Message("system", SYSTEM),
        Message(
            "user",
            f"Source: “{title}”, {_pages(page_start, page_end)}.\n\n{marked_text}\n\n"
            f"{TASK_HEADING}Summarize this passage in 2 to 4 sentences, citing pages as [p. N].",
        ),
    ]


def summarize_chunk(
    runtime: ModelRuntime, *, title: str, marked_text: str, page_start: int, page_end: int
) -> str:
    messages = chunk_messages(
        title=title, marked_text=marked_text, page_start=page_start, page_end=page_end
    )
    return _reply(runtime, messages, max_tokens=CHUNK_SUMMARY_TOKENS)


def reduce_messages(*, title: str, page_count: int, items_text: str, whole: bool) -> list[Message]:
    scope = "the whole document" if whole else "this part of the document"
    return [
        Message("system", SYSTEM),
        Message(
            "user",
            f"Source: “{title}” ({page_count} pages). Below are summaries of consecutive "
            f"parts of it, in order, with page citations.\n\n{items_text}\n\n"
            f"{TASK_HEADING}Write a summary of {scope} in one to three paragraphs: its subject, "
            "main points and conclusions. Keep the [p. N] citations of the claims you keep.",
        ),
    ]


def _groups(sizes: Sequence[int], budget: int) -> list[range]:
    groups: list[range] = []
    start, total = 0, 0
    for index, size in enumerate(sizes):
        if index > start and total + size > budget:
            groups.append(range(start, index))
            start, total = index, 0
        total += size
    groups.append(range(start, len(sizes)))
    return groups


def reduce_summaries(
    runtime: ModelRuntime, *, title: str, page_count: int, items: Sequence[SummaryItem]
) -> tuple[str, int]:
    """The document summary and the number of reduction rounds it took."""
    if not items:
        return "", 0
    window = runtime.facts().context_window
    empty = reduce_messages(title=title, page_count=page_count, items_text="", whole=True)
    budget = window - DOCUMENT_SUMMARY_TOKENS - runtime.count_messages(empty) - _MARGIN_TOKENS
    current = list(items)
    rounds = 0
    while True:
        rounds += 1
        texts = [item.render() for item in current]
        sizes = [runtime.count_tokens(text) + 2 for text in texts]
        if sum(sizes) <= budget:
            messages = reduce_messages(
                title=title, page_count=page_count, items_text="\n\n".join(texts), whole=True
            )
            return _reply(runtime, messages, max_tokens=DOCUMENT_SUMMARY_TOKENS), rounds
        groups = _groups(sizes, budget)
        if len(groups) == len(current) or any(sum(sizes[i] for i in g) > budget for g in groups):
            raise ModelRuntimeError(
                f"The model's {window:,}-token window is too small to combine these summaries."
            )
        reduced: list[SummaryItem] = []
        for group in groups:
            members = [current[i] for i in group]
            messages = reduce_messages(
                title=title,
                page_count=page_count,
                items_text="\n\n".join(texts[i] for i in group),
                whole=False,
            )
            reduced.append(
                SummaryItem(
                    page_start=members[0].page_start,
                    page_end=members[-1].page_end,
                    text=_reply(runtime, messages, max_tokens=DOCUMENT_SUMMARY_TOKENS),
                )
            )
        current = reduced
