"""Reads for a project's library. Every selector that takes a user filters by access
(research/access.py)."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.models import AnonymousUser, User
from django.db.models import Count, QuerySet, Sum

from research import access
from research.library.document_summary import CHUNK_SUMMARY_TOKENS, DOCUMENT_SUMMARY_TOKENS
from research.library.reading import Piece, highlight, linked_citations
from research.models import Chunk, Document, ImportBatch, Page, Project
from workspace.packing.cost import PlanCost
from workspace.runtime.speed import plan_cost_timed


def project_list_for_user(*, user: User | AnonymousUser, write: bool = False) -> QuerySet[Project]:
    """Projects the user owns or that are shared with them (research/access.py)."""
    return access.readable_projects(user=user, write=write).annotate(
        document_count=Count("documents")
    )


def document_list_for_user(
    *, user: User | AnonymousUser, write: bool = False
) -> QuerySet[Document]:
    """Documents of the projects the user may read (the only documents they may see)."""
    documents = Document.objects.select_related("project")
    return access.scoped_for_user(documents, user=user, through="project", write=write)


def document_get_for_user(
    *, user: User | AnonymousUser, document_id: int, write: bool = False
) -> Document | None:
    """None if the user may not read it; PermissionDenied for a viewer asking to write."""
    documents = Document.objects.select_related("project")
    return access.object_for_user(
        documents, user=user, pk=document_id, through="project", write=write
    )


def import_batch_get_for_user(
    *, user: User | AnonymousUser, batch_id: int, write: bool = False
) -> ImportBatch | None:
    """None if the user may not read its project; PermissionDenied for a viewer asking to
    write (cancel the rest)."""
    batches = ImportBatch.objects.select_related("project")
    return access.object_for_user(batches, user=user, pk=batch_id, through="project", write=write)


def import_batch_list_for_project(*, project: Project) -> QuerySet[ImportBatch]:
    """The project's multi-file uploads, newest first."""
    return project.import_batches.order_by("-created_at", "-id")


@dataclass(frozen=True)
class StageCount:
    stage: str
    label: str
    count: int


@dataclass(frozen=True)
class BatchProgress:
    """One import batch as its page shows it: how many documents are in each state, the
    failures with their messages, and whether any is still waiting for a worker."""

    batch: ImportBatch
    counts: list[StageCount]
    failures: list[Document]
    total: int
    waiting: int  # queued: not started, so "cancel the rest" would stop them
    active: int  # queued or being read

    @property
    def finished(self) -> bool:
        return self.active == 0

    @property
    def done(self) -> int:
        return self.total - self.active

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 1.0


# The most failures the page lists; the count says how many there are.
BATCH_FAILURES_SHOWN = 200


def import_batch_progress(*, batch: ImportBatch) -> BatchProgress:
    rows = dict(
        Document.objects.filter(batch=batch)
        .order_by()
        .values_list("stage")
        .annotate(n=Count("id"))
        .values_list("stage", "n")
    )
    counts = [
        StageCount(stage, str(label), rows[stage])
        for stage, label in Document.Stage.choices
        if rows.get(stage)
    ]
    failures = list(
        Document.objects.filter(
            batch=batch, stage__in=[Document.Stage.FAILED, Document.Stage.NEEDS_PASSWORD]
        ).order_by("created_at", "id")[:BATCH_FAILURES_SHOWN]
    )
    return BatchProgress(
        batch=batch,
        counts=counts,
        failures=failures,
        total=sum(rows.values()),
        waiting=rows.get(Document.Stage.QUEUED, 0),
        active=sum(rows.get(stage, 0) for stage in Document.ACTIVE),
    )


def document_list_for_project(*, project: Project) -> QuerySet[Document]:
    """Newest first, as the project page lists them."""
    return project.documents.order_by("-created_at", "-id")


def ready_document_list_for_project(*, project: Project) -> QuerySet[Document]:
    """Documents whose text is chunked and indexed (a summary may still be on its way):
    what questions and generators can read, in the fixed order they were added."""
    return project.documents.filter(indexed_at__isnull=False).order_by("created_at", "id")


def page_list_for_document(*, document: Document) -> QuerySet[Page]:
    return document.pages.order_by("number").only("id", "number", "label", "token_count", "ocr")


@dataclass(frozen=True)
class PageView:
    page: Page
    pieces: list[Piece]
    marks: int
    previous_number: int | None
    next_number: int | None


def page_view_for_user(
    *, user: User | AnonymousUser, document_id: int, number: int, query: str = ""
) -> PageView:
    """One page of a user's document, with `query` (a cited passage) marked.

    Raises Page.DoesNotExist for someone else's document or a page that does not exist.
    """
    page = Page.objects.select_related("document", "document__project").get(
        document__in=document_list_for_user(user=user), document_id=document_id, number=number
    )
    pieces, marks = highlight(page.text, query[:2000])
    count = page.document.page_count
    return PageView(
        page=page,
        pieces=pieces,
        marks=marks,
        previous_number=number - 1 if number > 1 else None,
        next_number=number + 1 if number < count else None,
    )


def document_summary_pieces(*, document: Document) -> list[Piece]:
    return linked_citations(document.summary, page_count=document.page_count)


# What one summary call adds to its passage: the instructions and the page markers.
SUMMARY_PROMPT_OVERHEAD_TOKENS = 120


def summary_cost_for_project(*, project: Project) -> PlanCost | None:
    """What summarising the project's ready documents that have no model summary yet would
    cost (workspace/packing/cost.py's PlanCost): one model call a passage and one to reduce
    each document's passage summaries (more when they overflow the window, so "about").
    None when no document waits for one."""
    waiting = Document.objects.filter(
        project=project,
        stage=Document.Stage.READY,
        summary_status=Document.SummaryStatus.PENDING,
    )
    documents = waiting.count()
    if not documents:
        return None
    chunks = Chunk.objects.filter(document__in=waiting, summary="").aggregate(
        count=Count("id"), tokens=Sum("token_count")
    )
    passages = chunks["count"] or 0
    calls = passages + documents
    prompt = (
        (chunks["tokens"] or 0)
        + passages * CHUNK_SUMMARY_TOKENS  # the passage summaries, read again to reduce
        + calls * SUMMARY_PROMPT_OVERHEAD_TOKENS
    )
    output = passages * CHUNK_SUMMARY_TOKENS + documents * DOCUMENT_SUMMARY_TOKENS
    cost = PlanCost(
        route="summaries",
        documents=documents,
        model_calls=calls,
        prompt_tokens=prompt,
        output_tokens=output,
    )
    return plan_cost_timed(cost)


def ocr_page_numbers(*, document_id: int) -> list[int]:
    """The pages of a document whose text was recognized by OCR (Page.ocr)."""
    return list(
        Page.objects.filter(document_id=document_id, ocr=True)
        .order_by("number")
        .values_list("number", flat=True)
    )
