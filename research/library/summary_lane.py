"""When documents get their model summary: now, when the model is idle, or on request.

Ingest summarises a document with the model, one call a passage and one to reduce them
(pipeline.py). For a library of hundreds of papers that is thousands of calls, so a project
chooses (Project.summary_mode):

- now: each document is summarised as soon as it is indexed (the summary tasks run on the
  low-priority "batch" lane, workspace/settings.py, so questions never wait behind them);
- idle: a document is ready without a model summary once indexed; the scheduler starts
  waiting summaries a few at a time when no summary is running and nobody's question is
  queued or being answered (`summaries_start_when_idle`, every minute);
- off: only when a person presses "Summarise now" on the project page, after seeing what it
  costs (selectors.summary_cost_for_project).

A document without a model summary is askable all the same: its abstract, or its
excerpts, serve. Its summary_status stays "pending" and its stage "ready".
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from research.library import services
from research.models import Document, Project, Question

Stage = Document.Stage
SummaryStatus = Document.SummaryStatus
SummaryMode = Project.SummaryMode

WAITING_MESSAGE = "Ready; model summary not started"
# Documents the idle scheduler starts at a time (each is many model calls).
IDLE_BATCH = 2


def _waiting(project_ids: Q | None = None) -> Q:
    """Ready documents whose model summary has not started."""
    where = Q(stage=Stage.READY, summary_status=SummaryStatus.PENDING)
    return where & project_ids if project_ids is not None else where


def document_summary_defer(*, document_id: int, attempt: int) -> bool:
    """Called once a document is indexed. False when its project summarises now (the caller
    sends the summary task); True when the document was made ready without a summary."""
    mode = (
        Document.objects.filter(pk=document_id).values_list("project__summary_mode", flat=True)
    ).first()
    if mode in (None, SummaryMode.NOW):
        return False
    return bool(
        Document.fenced(document_id, attempt, Stage.SUMMARIZING).update(
            stage=Stage.READY,
            summary_status=SummaryStatus.PENDING,
            progress=1.0,
            status_message=WAITING_MESSAGE,
            heartbeat_at=None,
            worker="",
            finished_at=timezone.now(),
        )
    )


def project_set_summary_mode(*, project: Project, mode: str) -> None:
    Project.objects.filter(pk=project.pk).update(summary_mode=mode)
    project.summary_mode = mode


def _start(documents: list[tuple[int, int]]) -> int:
    started = 0
    for pk, attempt in documents:
        with transaction.atomic():
            if Document.restart(
                pk,
                attempt,
                where=_waiting(),
                to=Stage.SUMMARIZING,
                status_message="Waiting for the model to summarise",
                finished_at=None,
                heartbeat_at=None,
                summaries_done=0,
                summary_retries=0,
                summary_retry_at=None,
            ):
                services._enqueue(pk, attempt + 1, Stage.SUMMARIZING)
                started += 1
    return started


def project_summaries_start(*, project: Project) -> int:
    """Start the model summaries of the project's ready documents that have none; returns
    how many documents were started."""
    rows = Document.objects.filter(_waiting(Q(project=project))).order_by("pk")
    return _start(list(rows.values_list("pk", "attempt")))


def summaries_start_when_idle(*, limit: int = IDLE_BATCH) -> int:
    """Start a few waiting summaries of "idle" projects, when no summary is running and no
    question is queued or being answered; returns how many were started."""
    if Document.objects.filter(stage=Stage.SUMMARIZING).exists():
        return 0
    fresh = timezone.now() - Question.STALE_AFTER
    if Question.objects.filter(status__in=Question.ACTIVE, updated_at__gte=fresh).exists():
        return 0
    rows = Document.objects.filter(_waiting(Q(project__summary_mode=SummaryMode.IDLE)))
    return _start(list(rows.order_by("pk").values_list("pk", "attempt")[:limit]))
