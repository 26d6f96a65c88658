"""Summaries across a chosen set of documents, with citations.

One prompt over the chosen documents (full text when it fits, else their summaries and
the most relevant excerpts); the model fills an overview and cited key points, which are
written into the digest's body as `[Title, p. N]` markers and checked against the context
map like a Q&A answer's. A digest the user edited is never regenerated over.
(Per-document summaries come from ingestion: Document.summary.)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from pydantic import BaseModel, Field, create_model

from research.citations import check_citations
from research.models import Digest, Document, Project, StudyJob
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
from workspace.packing import ContextMap
from workspace.packing.layout import clean_title, page_label
from workspace.runtime.errors import InvalidModelOutput
from workspace.runtime.types import ModelRuntime

DIGEST_OUTPUT_TOKENS = 2048
OVERVIEW_CHARS = 1500
POINT_CHARS = 500
MAX_POINTS = 10

SYSTEM = (
    "You summarize a set of documents for a researcher. Use only what the sources say. "
    "Write a short overview of what the documents cover together, then the key points: "
    "findings they share, where they differ, and what each adds. Each point names the "
    "source title and the page numbers it comes from, read from the page markers like "
    "[Title, p. 7] above the text. Reply with JSON only."
)
INSTRUCTION = (
    "Summarize these documents together: an overview, then up to {count} key points, each "
    "with its source and pages."
)


@dataclass
class DigestDraft:
    overview: str
    points: list[tuple[str, int, str, list[int]]]  # text, document id, title, pages
    context_map: ContextMap


def digest_schema(*, part: Part) -> type[BaseModel]:
    point: Any = create_model(
        "Point",
        text=(str, Field(min_length=3, max_length=POINT_CHARS)),
        source=(enum_of(list(part.titles.values())), ...),
        pages=(list_of(part.pages), Field(min_length=1, max_length=3)),
    )
    schema: type[BaseModel] = create_model(
        "DigestAnswer",
        overview=(str, Field(min_length=3, max_length=OVERVIEW_CHARS)),
        points=(list[point], Field(min_length=1, max_length=MAX_POINTS)),
    )
    return schema


def digest_create(*, project: Project, title: str, documents: Sequence[Document]) -> Digest:
    return Digest.objects.create(
        project=project,
        title=title.strip() or "Summary of " + ", ".join(d.title[:40] for d in documents[:3]),
        document_ids=[document.pk for document in documents],
        generated=True,
    )


def generate_unit(
    *,
    job: StudyJob,
    unit: dict[str, Any],
    runtime: ModelRuntime,
    on_part: Callable[[int, int], None],
    on_invalid: Callable[[int, InvalidModelOutput], None],
) -> tuple[list[DigestDraft], Tally]:
    digest = job.digest
    assert digest is not None
    sources = sources_for_documents(document_ids=list(digest.document_ids))
    parts = plan_parts(
        sources=sources,
        runtime=runtime,
        system=SYSTEM,
        instruction=INSTRUCTION.format(count=MAX_POINTS),
        output_tokens=DIGEST_OUTPUT_TOKENS,
        whole=False,
        query="main findings methods results conclusions limitations",
    )
    part = parts[0]
    on_part(0, 1)
    tally = Tally()
    if not part.pages:
        return [], tally
    data: Any = ask(
        runtime=runtime,
        part=part,
        schema=digest_schema(part=part),
        max_tokens=DIGEST_OUTPUT_TOKENS,
        on_invalid=on_invalid,
    )
    titles = part.titles
    points = []
    for item in data.points:
        cited = resolve_citation(part=part, source=item.source, pages=item.pages)
        if cited is None:
            tally.dropped += 1
            continue
        points.append((item.text.strip(), cited[0], titles[cited[0]], cited[1]))
    return [DigestDraft(data.overview.strip(), points, part.context_map)], tally


def _marker(title: str, pages: list[int]) -> str:
    ranges: list[str] = []
    for page in pages:
        ranges.append(page_label(page, page))
    return "[" + "; ".join(f"{clean_title(title)}, {label}" for label in ranges) + "]"


def body_for(draft: DigestDraft) -> str:
    lines = [draft.overview, ""]
    lines += [f"- {text} {_marker(title, pages)}" for text, _, title, pages in draft.points]
    return "\n".join(lines).strip()


def save_unit(*, job: StudyJob, unit: dict[str, Any], drafts: Sequence[DigestDraft]) -> SaveCounts:
    counts = SaveCounts()
    digest = job.digest
    assert digest is not None
    digest.refresh_from_db()
    if digest.edited_by_user:
        counts.kept += 1
        return counts
    if not drafts:
        return counts
    draft = drafts[0]
    digest.body = body_for(draft)
    digest.context_map = draft.context_map.to_dict()
    digest.citations = [c.to_dict() for c in check_citations(digest.body, draft.context_map)]
    digest.generated = True
    digest.save()
    counts.created += 1
    return counts


def digest_update(*, digest: Digest, title: str, body: str) -> Digest:
    """The user's edit: citations are re-checked against what the model saw, and the
    digest is never regenerated over."""
    with transaction.atomic():
        digest.title = title.strip() or digest.title
        digest.body = body.strip()
        if digest.context_map:
            checked = check_citations(digest.body, ContextMap.from_dict(digest.context_map))
            digest.citations = [citation.to_dict() for citation in checked]
        digest.edited_by_user = True
        digest.save()
    return digest
