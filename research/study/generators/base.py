"""What every study generator shares: sources packed into window-sized parts, a schema that
only admits pages the model was shown, bounded retries of invalid JSON, and the check
that every citation points at a page that really was in the prompt.

A generator turns a part (one packed prompt and its context map) into drafts. The schema
is built per part: `source` is an enum of the titles in the prompt and `pages` an enum of
the pages whose text was in it, so a grammar-constrained backend (llama.cpp, Ollama's
`format`) cannot cite anything else. A title and a page may still not belong together, so
`resolve_citation` checks each pair against the context map; items that fail are dropped
and counted.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel

from research.citations import match_title
from research.qa.selectors import packing_sources_for_documents
from workspace.packing import Budget, ContextMap, PackingError, Source, map_prompt, pack
from workspace.packing.layout import clean_title
from workspace.runtime.errors import InvalidModelOutput
from workspace.runtime.types import Message, ModelRuntime, SchemaT

MAX_TRIES = 3  # an answer that fails its schema is asked for again, at most twice
RETRY_TEMPERATURE = 0.4  # a deterministic model would repeat the same invalid answer


class GenerationFailed(Exception):
    """A failure the job reports as it is (no point retrying the task)."""

    def __init__(self, code: str, message: str, detail: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.detail = detail


@dataclass
class Part:
    """One prompt: sources that fit the window, and the map of what went in."""

    messages: list[Message]
    context_map: ContextMap
    index: int = 0
    total: int = 1

    @property
    def titles(self) -> dict[int, str]:
        """Sources whose pages (not only a summary) are in the prompt, by id."""
        seen = self.context_map.seen_pages()
        return {
            source_id: clean_title(title)
            for source_id, title in self.context_map.seen_titles().items()
            if seen.get(source_id)
        }

    @property
    def pages(self) -> list[int]:
        """Every page number whose text is in the prompt (of any source)."""
        return sorted({page for pages in self.context_map.seen_pages().values() for page in pages})


@dataclass
class Tally:
    """What a unit produced: counts shown on the job when it is saved."""

    dropped: int = 0
    notes: list[str] = field(default_factory=list)


# -- sources ---------------------------------------------------------------------------


def sources_for_documents(
    *, document_ids: Sequence[int], pages: dict[int, set[int]] | None = None
) -> list[Source]:
    """Documents as packing sources; with `pages`, only the chunks touching those pages."""
    sources = packing_sources_for_documents(document_ids=document_ids)
    if pages is None:
        return [source for source in sources if source.pieces]
    narrowed = []
    for source in sources:
        wanted = pages.get(source.id, set())
        pieces = tuple(
            piece
            for piece in source.pieces
            if wanted & set(range(piece.page_start, piece.page_end + 1))
        )
        if pieces:
            narrowed.append(Source(id=source.id, title=source.title, pieces=pieces))
    return narrowed


def plan_parts(
    *,
    sources: Sequence[Source],
    runtime: ModelRuntime,
    system: str,
    instruction: str,
    output_tokens: int,
    whole: bool,
    query: str | None = None,
) -> list[Part]:
    """The prompts for a unit of work.

    whole=True (flashcards, timelines): every page is read, so material past the window
    is split into window-sized parts, each its own prompt. whole=False (comparisons,
    summaries): one prompt, with summaries and the most relevant excerpts when the full
    text does not fit.
    """
    if not sources:
        raise GenerationFailed("no_sources", "There is no text to generate from.")
    budget = Budget.for_window(runtime.facts().context_window, output_reserve=output_tokens)
    try:
        result = pack(
            question=instruction, sources=sources, budget=budget, system=system, query=query
        )
        if result.context_map.strategy == "fits":
            return [Part(result.messages, result.context_map)]
        if not whole:
            if result.context_map.strategy == "map_reduce":
                result = pack(
                    question=instruction,
                    sources=sources,
                    budget=budget,
                    system=system,
                    query=query,
                    strategy="near_edge",
                )
            return [Part(result.messages, result.context_map)]
        planned = pack(
            question=instruction,
            sources=sources,
            budget=budget,
            system=system,
            map_system=system,
            strategy="map_reduce",
        )
        prompts = [
            map_prompt(
                question=instruction,
                pieces=group,
                sources=sources,
                budget=budget,
                system=system,
            )
            for group in planned.groups
        ]
    except PackingError as exc:
        raise GenerationFailed("packing", str(exc)) from exc
    if not prompts:
        raise GenerationFailed("packing", "No part of the sources fits the model's window.")
    return [
        Part(prompt.messages, prompt.context_map, index, len(prompts))
        for index, prompt in enumerate(prompts)
    ]


# -- schemas and asking ---------------------------------------------------------------------


def enum_of(values: Sequence[Any]) -> Any:
    """A Literal type admitting exactly these values (JSON schema `enum`/`const`)."""
    return Literal[tuple(dict.fromkeys(values))]


def list_of(values: Sequence[Any]) -> Any:
    """A list type whose items must be one of these values (JSON schema `items.enum`)."""
    return list[enum_of(values)]  # type: ignore[misc]


DATE_PATTERN = r"^-?[0-9]{1,4}(-[0-9]{2}){0,2}$"  # 1998, 1998-03, 1998-03-14, -44


def ask(
    *,
    runtime: ModelRuntime,
    part: Part,
    schema: type[SchemaT],
    max_tokens: int,
    on_invalid: Callable[[int, InvalidModelOutput], None] | None = None,
) -> SchemaT:
    """The model's answer as a validated instance. Invalid JSON (or JSON of the wrong
    shape) is asked for again, MAX_TRIES times in all; then GenerationFailed says why."""
    last: InvalidModelOutput | None = None
    for attempt in range(MAX_TRIES):
        try:
            return runtime.structured(
                part.messages,
                schema=schema,
                max_tokens=max_tokens,
                temperature=0.0 if attempt == 0 else RETRY_TEMPERATURE,
            )
        except InvalidModelOutput as exc:
            last = exc
            if on_invalid is not None:
                on_invalid(attempt + 1, exc)
    assert last is not None
    where = f" (part {part.index + 1} of {part.total})" if part.total > 1 else ""
    raise GenerationFailed(
        "invalid_output",
        f"The model's answer{where} did not match the expected JSON after {MAX_TRIES} tries: "
        f"{last.message} Try again, or use a larger model.",
        detail=last.raw[:4000],
    )


# -- citations -------------------------------------------------------------------------


def resolve_citation(
    *, part: Part, source: str, pages: Sequence[int]
) -> tuple[int, list[int]] | None:
    """(document id, cited pages the model saw of it), or None when no cited page of
    the named source was in the prompt. With one source in the prompt, its title is
    implied."""
    titles = part.titles
    seen = part.context_map.seen_pages()
    document_id = match_title(source, titles) if source else None
    if document_id is None and len(titles) == 1:
        document_id = next(iter(titles))
    if document_id is None:
        return None
    good = sorted({int(page) for page in pages if int(page) in seen.get(document_id, set())})
    return (document_id, good) if good else None


_NON_WORD = re.compile(r"[\W_]+")


def normalise_text(text: str) -> str:
    return _NON_WORD.sub(" ", text.casefold()).strip()


def text_key(text: str) -> str:
    """A short key that is the same for texts differing only in case, spacing, punctuation."""
    return hashlib.sha1(normalise_text(text).encode()).hexdigest()[:40]


def clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def dump(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(mode="json")
