"""Celery tasks of the ingestion pipeline: thin wrappers around pipeline.py.

Every task takes (document_id, attempt, ...) and is idempotent (see pipeline.py), so all
run with acks_late + reject_on_worker_lost: a task whose worker dies is delivered again.
Extraction fans out page ranges as a chord (a one-range document is extracted in the task
that planned it); chunking and indexing follow in the same task; summaries are a chord
of chunk summaries reduced by one callback, on the "batch" queue (workspace/settings.py).
A killed worker's messages and documents are picked up by resume_stale_documents, which runs
when any worker starts and every minute under beat.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import Task, chord, shared_task
from celery.exceptions import SoftTimeLimitExceeded
from celery.signals import worker_process_init, worker_ready
from django.conf import settings

from research.library import pipeline, services, summary_lane, vectors
from research.models import Document
from workspace.broker_recovery import lost_messages_restore
from workspace.health import live_heartbeats, live_workers
from workspace.heartbeat import worker_claim
from workspace.jobs import DATABASE_CONNECTION_ERRORS, JobError, ModelJobTask
from workspace.runtime import ModelRuntimeError, get_runtime

logger = logging.getLogger(__name__)


def timed_out_message(stage: str) -> str:
    """What a document says when one of its steps ran past CARREL_INGEST_TASK_MINUTES."""
    label = Document.Stage(stage).label.lower() if stage in Document.Stage.values else "working"
    minutes = settings.CARREL_INGEST_TASK_MINUTES
    return (
        f"Stopped while {label}: one step took longer than {minutes} "
        f"minute{'s' if minutes != 1 else ''}, the limit for one step "
        "(CARREL_INGEST_TASK_MINUTES). The file may be very large or built in a way that is "
        "very slow to read; split it, or ask an administrator to raise the limit, then use "
        "Retry."
    )


class _DocumentStepTask(ModelJobTask):
    """What every task on a document shares (workspace/jobs/tasks.py): redelivered when its
    worker dies, and a model error retried with exponential backoff while the model may
    come back."""

    reject_on_worker_lost = True
    # A dropped database connection (PostgreSQL restarted or its backend terminated) is
    # retried on a fresh connection: every step is idempotent (tests/workspace/test_faults.py).
    autoretry_for = DATABASE_CONNECTION_ERRORS
    max_retries = 5
    retry_backoff = 2
    retry_backoff_max = 60
    retry_jitter = False
    model_retry_backoff = 10
    model_retry_backoff_max = 600
    id_arg = "document_id"


class DocumentTask(_DocumentStepTask):
    """A pipeline task. Only the summary steps call the model: while it may come back they
    wait with exponential backoff (the card says when the next try is), then the summary
    fails; any unexpected exception fails the document with the error's words."""

    model_max_retries = 8
    # CARREL_INGEST_TASK_MINUTES: a step that runs longer is interrupted where it stands
    # (SoftTimeLimitExceeded) and its document failed with a message (on_failure).
    soft_time_limit = settings.CARREL_INGEST_TASK_MINUTES * 60 or None

    def retrying(
        self, job_id: int, attempt: int | None, exc: ModelRuntimeError, countdown: float,
        retry_number: int,
    ) -> None:  # fmt: skip
        if attempt is not None:
            pipeline.document_summary_waiting(
                document_id=job_id,
                attempt=attempt,
                error=exc.message,
                retry_in=countdown,
                retry_number=retry_number,
                max_retries=self.model_max_retries,
            )

    def on_failure(self, exc: Exception, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        job = self.job_of(args, kwargs)
        if not isinstance(exc, SoftTimeLimitExceeded) or job is None or job[1] is None:
            super().on_failure(exc, task_id, args, kwargs, einfo)
            return
        stage = Document.objects.filter(pk=job[0]).values_list("stage", flat=True).first()
        pipeline.document_fail(
            document_id=job[0], attempt=job[1], code=pipeline.ErrorCode.TIMED_OUT,
            message=timed_out_message(stage or ""),
        )  # fmt: skip

    def fail(self, job_id: int, attempt: int | None, code: str, message: str) -> None:
        if attempt is None:
            return
        if code == JobError.INTERRUPTED:
            pipeline.document_fail(
                document_id=job_id,
                attempt=attempt,
                code=pipeline.ErrorCode.INTERNAL,
                message=message,
            )
        else:  # the model failed a summary step for good
            pipeline.document_summary_failed(document_id=job_id, attempt=attempt, error=message)


def _worker(task: Task) -> str:
    """The claim this task's steps record: its worker's name and main process id."""
    return worker_claim(task.request.hostname or "")


def _release(task: Task, document_id: int, attempt: int) -> None:
    """The next step's message is in the broker: if this worker dies now, nothing is lost."""
    pipeline.document_release(document_id=document_id, attempt=attempt, worker=_worker(task))


@shared_task(bind=True, base=DocumentTask, name="research.tasks.ingest_document")
def ingest_document(self: Task, document_id: int, attempt: int) -> None:
    part_ids = pipeline.document_start_extraction(
        document_id=document_id, attempt=attempt, worker=_worker(self)
    )
    if part_ids is None:
        return
    if len(part_ids) == 1:
        # One page range (most papers): nothing to run in parallel, so extract it here
        # rather than pay a chord's broker and result-backend round trips.
        pipeline.document_extract_part(
            document_id=document_id, attempt=attempt, part_id=part_ids[0], worker=_worker(self)
        )
        _finish_extraction(self, document_id, attempt)
        return
    callback = extraction_finished.si(document_id, attempt)
    if part_ids:
        chord(extract_part.si(document_id, attempt, part_id) for part_id in part_ids)(callback)
    else:  # a resumed run found every range done
        callback.delay()
    _release(self, document_id, attempt)


@shared_task(bind=True, base=DocumentTask, name="research.tasks.extract_part")
def extract_part(self: Task, document_id: int, attempt: int, part_id: int) -> None:
    pipeline.document_extract_part(
        document_id=document_id, attempt=attempt, part_id=part_id, worker=_worker(self)
    )


def _finish_extraction(task: Task, document_id: int, attempt: int) -> None:
    if pipeline.document_finish_extraction(
        document_id=document_id, attempt=attempt, worker=_worker(task)
    ):
        _chunk_and_index(task, document_id, attempt)


def _chunk_and_index(task: Task, document_id: int, attempt: int) -> None:
    """Chunking and indexing are short database work, so they run in the task that reached
    them instead of costing a broker round trip each. Every stage still commits on its own:
    a worker killed in between leaves the document at the stage it reached, and
    resume_stale_documents restarts it there (services.STAGE_TASKS)."""
    worker = _worker(task)
    if pipeline.document_chunk(
        document_id=document_id, attempt=attempt, worker=worker
    ) and pipeline.document_index(document_id=document_id, attempt=attempt, worker=worker):
        _summarize_or_defer(document_id, attempt)
        _release(task, document_id, attempt)


@shared_task(bind=True, base=DocumentTask, name="research.tasks.extraction_finished")
def extraction_finished(self: Task, document_id: int, attempt: int) -> None:
    _finish_extraction(self, document_id, attempt)


@shared_task(bind=True, base=DocumentTask, name="research.tasks.chunk_document")
def chunk_document(self: Task, document_id: int, attempt: int) -> None:
    _chunk_and_index(self, document_id, attempt)


@shared_task(bind=True, base=DocumentTask, name="research.tasks.index_document")
def index_document(self: Task, document_id: int, attempt: int) -> None:
    if pipeline.document_index(document_id=document_id, attempt=attempt, worker=_worker(self)):
        _summarize_or_defer(document_id, attempt)
        _release(self, document_id, attempt)


def _summarize_or_defer(document_id: int, attempt: int) -> None:
    """Summarise an indexed document now, or leave it ready for later (its project's
    summary mode, research/library/summary_lane.py); embed its chunks on the batch lane
    when an embedding model is configured (research/library/vectors.py)."""
    if vectors.embed_model_name():
        try:
            embed_document.delay(document_id, attempt)
        except Exception:  # the broker is down: embed_missing_vectors sends it later
            logger.exception("Could not queue embed_document for document %s", document_id)
    if not summary_lane.document_summary_defer(document_id=document_id, attempt=attempt):
        summarize_document.delay(document_id, attempt)


@shared_task(bind=True, base=DocumentTask, name="research.tasks.summarize_document")
def summarize_document(self: Task, document_id: int, attempt: int) -> None:
    chunk_ids = pipeline.document_summary_plan(
        document_id=document_id, attempt=attempt, worker=_worker(self)
    )
    if chunk_ids is None:
        return
    callback = summarize_reduce.si(document_id, attempt)
    if chunk_ids:
        chord(summarize_chunk.si(document_id, attempt, c) for c in chunk_ids)(callback)
    else:
        callback.delay()
    _release(self, document_id, attempt)


@shared_task(bind=True, base=DocumentTask, name="research.tasks.summarize_chunk")
def summarize_chunk(self: Task, document_id: int, attempt: int, chunk_id: int) -> None:
    pipeline.chunk_summarize(
        document_id=document_id,
        attempt=attempt,
        chunk_id=chunk_id,
        runtime=get_runtime(),
        worker=_worker(self),
    )


@shared_task(bind=True, base=DocumentTask, name="research.tasks.summarize_reduce")
def summarize_reduce(self: Task, document_id: int, attempt: int) -> None:
    pipeline.document_summary_reduce(
        document_id=document_id, attempt=attempt, runtime=get_runtime(), worker=_worker(self)
    )


class VectorTask(_DocumentStepTask):
    """Embedding a document's chunks (vectors.document_vectors_embed): retried with backoff
    while Ollama may come back; when it does not, the failure is logged and the document
    stays keyword-only (its card and its questions unaffected) until embed_missing_vectors
    sends it again."""

    model_max_retries = 5


@shared_task(bind=True, base=VectorTask, name="research.tasks.embed_document")
def embed_document(self: Task, document_id: int, attempt: int) -> int:
    model = vectors.embed_model_name()
    embedder = vectors.ollama_embedder(model=model, cache=0) if model else None
    if embedder is None:  # not configured, or Ollama lacks it now: the sweep tries later
        return 0
    return vectors.document_vectors_embed(
        document_id=document_id, attempt=attempt, embedder=embedder, model=model
    )


@shared_task(bind=True, name="research.tasks.embed_missing_vectors")
def embed_missing_vectors(self: Task) -> int:
    """Send embed_document for documents whose chunks lack vectors of the configured model
    (a changed model, or Ollama was away at ingest); a few at a time."""
    model = vectors.embed_model_name()
    if not model or vectors.ollama_embedder(model=model) is None:
        return 0
    documents = vectors.documents_missing_vectors(model=model)
    for document_id, attempt in documents:
        embed_document.delay(document_id, attempt)
    return len(documents)


@shared_task(bind=True, name="research.tasks.resume_stale_documents")
def resume_stale_documents(self: Task) -> list[int]:
    """Put back the messages dead workers held (any task, not only ingestion), then restart
    the documents they left mid-stage."""
    me = self.request.hostname or ""
    live = live_workers(me=me)
    lost_messages_restore(app=self.app, live_workers=live)
    return services.documents_resume_stale(
        live_workers=live, heartbeats=live_heartbeats(me=me) if live is not None else None
    )


@shared_task(bind=True, name="research.tasks.start_idle_summaries")
def start_idle_summaries(self: Task) -> int:
    """Start a few waiting summaries of "when idle" projects if the model is idle."""
    return summary_lane.summaries_start_when_idle()


@worker_ready.connect
def _resume_on_worker_start(**_: Any) -> None:
    """A worker that starts (again) picks up the documents a dead worker left behind."""
    try:
        resume_stale_documents.delay()
    except Exception:  # the broker may be down at start; beat will try again
        logger.exception("Could not queue resume_stale_documents")


@worker_process_init.connect
def _load_tokenizer(**_: Any) -> None:
    """Load Gemma's vocabulary in each worker process before its first document."""
    try:
        from workspace.runtime.tokenizer import get_tokenizer

        get_tokenizer()
    except Exception:
        logger.exception("Could not preload the tokenizer")
