"""Comparisons: two or more papers side by side over a set of aspects (method, data,
results, limitations, or the user's own). Each paper is a unit: one prompt (full text, or
its summary and the excerpts most relevant to the aspects) fills that paper's column, one
cell per aspect, each citing its pages. A cell the user edited is never overwritten.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from pydantic import BaseModel, Field, create_model

from research.models import Comparison, ComparisonCell, Document, Project, StudyJob
from research.study.generators.base import (
    Part,
    Tally,
    ask,
    enum_of,
    list_of,
    plan_parts,
    resolve_citation,
    sources_for_documents,
)
from research.study.generators.flashcards import SaveCounts
from workspace.runtime.errors import InvalidModelOutput
from workspace.runtime.types import ModelRuntime

CELL_OUTPUT_TOKENS = 1536
CELL_CHARS = 800
DEFAULT_ASPECTS = ["Method", "Data", "Results", "Limitations"]
MAX_ASPECTS = 12

SYSTEM = (
    "You compare research papers for a researcher. Use only what the source says. For each "
    "aspect you are given, write what the paper says about it in one to three sentences, "
    "and give the page numbers it comes from, read from the page markers like "
    "[Title, p. 7] above the text. If the paper says nothing about an aspect, write "
    '"Not stated." with no pages. Reply with JSON only.'
)
NOT_STATED = "Not stated."


@dataclass
class CellDraft:
    aspect: str
    text: str
    pages: list[int]


def _instruction(aspects: Sequence[str]) -> str:
    listed = "; ".join(aspects)
    return (
        f"Aspects to compare: {listed}. Give one cell per aspect with the aspect's name "
        "exactly as written, the text, and the pages."
    )


def cell_schema(*, part: Part, aspects: Sequence[str]) -> type[BaseModel]:
    cell: Any = create_model(
        "Cell",
        aspect=(enum_of(list(aspects)), ...),
        text=(str, Field(min_length=1, max_length=CELL_CHARS)),
        pages=(list_of(part.pages), Field(max_length=4)),
    )
    schema: type[BaseModel] = create_model(
        "Cells", cells=(list[cell], Field(min_length=1, max_length=len(aspects)))
    )
    return schema


def comparison_create(
    *,
    project: Project,
    title: str,
    documents: Sequence[Document],
    aspects: Sequence[str],
) -> Comparison:
    aspects = list(dict.fromkeys(a.strip()[:200] for a in aspects if a.strip()))
    return Comparison.objects.create(
        project=project,
        title=title.strip() or " vs ".join(d.title[:40] for d in documents[:3]),
        document_ids=[document.pk for document in documents],
        aspects=aspects,
    )


def generate_unit(
    *,
    job: StudyJob,
    unit: dict[str, Any],
    runtime: ModelRuntime,
    on_part: Callable[[int, int], None],
    on_invalid: Callable[[int, InvalidModelOutput], None],
) -> tuple[list[CellDraft], Tally]:
    comparison = job.comparison
    assert comparison is not None
    aspects = list(comparison.aspects)
    sources = sources_for_documents(document_ids=[unit["document_id"]])
    parts = plan_parts(
        sources=sources,
        runtime=runtime,
        system=SYSTEM,
        instruction=_instruction(aspects),
        output_tokens=CELL_OUTPUT_TOKENS,
        whole=False,
        query=" ".join(aspects),
    )
    part = parts[0]
    on_part(0, 1)
    tally = Tally()
    if not part.pages:
        return [], tally
    data = ask(
        runtime=runtime,
        part=part,
        schema=cell_schema(part=part, aspects=aspects),
        max_tokens=CELL_OUTPUT_TOKENS,
        on_invalid=on_invalid,
    )
    drafts: list[CellDraft] = []
    for item in getattr(data, "cells", []):
        if any(draft.aspect == item.aspect for draft in drafts):
            continue
        cited = resolve_citation(part=part, source="", pages=item.pages) if item.pages else None
        if item.pages and cited is None:
            tally.dropped += 1  # kept, but uncited: the pages it named were not in the prompt
        drafts.append(CellDraft(item.aspect, item.text.strip(), cited[1] if cited else []))
    return drafts, tally


def save_unit(*, job: StudyJob, unit: dict[str, Any], drafts: Sequence[CellDraft]) -> SaveCounts:
    """Fill one paper's column; edited cells stay as the user left them."""
    comparison = job.comparison
    assert comparison is not None
    counts = SaveCounts()
    by_aspect = {draft.aspect: draft for draft in drafts}
    for aspect in comparison.aspects:
        draft = by_aspect.get(aspect)
        cell, created = ComparisonCell.objects.get_or_create(
            comparison=comparison, document_id=unit["document_id"], aspect=aspect
        )
        if cell.edited_by_user:
            counts.kept += 1
            continue
        cell.text = draft.text if draft else ""
        cell.pages = draft.pages if draft else []
        cell.generated = True
        cell.save()
        if created:
            counts.created += 1
        else:
            counts.updated += 1
    return counts


def cell_update(*, cell: ComparisonCell, text: str, pages: Sequence[int]) -> ComparisonCell:
    """The user's own words for a cell: no regeneration replaces them."""
    with transaction.atomic():
        cell.text = text.strip()
        cell.pages = sorted(set(pages))
        cell.edited_by_user = True
        cell.save()
    return cell


def cell_is_cited(cell: ComparisonCell) -> bool:
    return bool(cell.pages) or cell.text.strip() in ("", NOT_STATED)
