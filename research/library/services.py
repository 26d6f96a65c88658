"""Writes for the research app: projects, uploads, and controlling a document's run.

The pipeline's own stage work is in research/pipeline.py; this module starts, stops,
retries and resumes runs. Every (re)start increments Document.attempt (see the model).
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import PurePath

from django.conf import settings
from django.contrib.auth.models import User
from django.core.files import File
from django.db import IntegrityError, transaction
from django.db.models import Case, Exists, F, OuterRef, Q, QuerySet, Sum, Value, When
from django.template.defaultfilters import filesizeformat
from django.utils import timezone

from research.library.extraction import SNIFF_BYTES, ExtractionError, file_type_for
from research.library.search import chunk_index_document, chunk_unindex_document
from research.models import Chunk, Document, ExtractionPart, ImportBatch, Page, Project
from workspace.heartbeat import claim_is_alive
from workspace.jobs import enqueue_on_commit, task_signature

logger = logging.getLogger(__name__)

Stage = Document.Stage
ErrorCode = Document.ErrorCode
SummaryStatus = Document.SummaryStatus

# A running document whose heartbeat is older than this is presumed orphaned. It must
# exceed the longest single step (one model call can take OLLAMA_TIMEOUT = 10 minutes).
STALE_AFTER = timedelta(minutes=15)


@dataclass(frozen=True)
class UploadOutcome:
    name: str
    document: Document | None  # the new document (also for files refused with a message)
    duplicate_of: Document | None = None
    refusal: str = ""  # refused before any row was made (the uploader's storage quota)

    @property
    def accepted(self) -> bool:
        return self.document is not None and self.document.stage == Stage.QUEUED

    @property
    def message(self) -> str:
        if self.refusal:
            return self.refusal
        if self.duplicate_of is not None:
            return (
                f"“{self.name}” is already in this project as “{self.duplicate_of.title}” "
                "(same content), so it was not added again."
            )
        if self.document is not None and self.document.stage == Stage.FAILED:
            return self.document.error
        return f"“{self.name}” was added."


def project_create(
    *, owner: User, title: str, kind: str = Project.Kind.RESEARCH,
    description: str = "",
) -> Project:  # fmt: skip
    return Project.objects.create(
        owner=owner, title=title.strip(), kind=kind, description=description.strip()
    )


# Stage → the task (research/library/tasks.py) that (re)starts it.
STAGE_TASKS: dict[str, str] = {
    Stage.QUEUED: "research.tasks.ingest_document",
    Stage.CHUNKING: "research.tasks.chunk_document",
    Stage.INDEXING: "research.tasks.index_document",
    Stage.SUMMARIZING: "research.tasks.summarize_document",
}


def _enqueue(document_id: int, attempt: int, stage: str) -> None:
    """Send the task that (re)starts `stage` once the current transaction commits. If the
    broker is down, resume_stale_documents sends it later: the document stays queued."""
    enqueue_on_commit(task_signature(STAGE_TASKS[stage], document_id, attempt))


def _sha256(file: File) -> str:
    digest = hashlib.sha256()
    file.seek(0)
    for block in file.chunks():
        digest.update(block)
    file.seek(0)
    return digest.hexdigest()


def _refuse(
    *, project: Project, uploaded_by: User | None, name: str, size: int,
    error: ExtractionError, batch: ImportBatch | None = None,
) -> Document:  # fmt: skip
    """A document row that only carries the reason its file was refused (no file is kept)."""
    suffix = PurePath(name).suffix.lower()
    file_type = {
        ".pdf": Document.FileType.PDF,
        ".md": Document.FileType.MARKDOWN,
        ".markdown": Document.FileType.MARKDOWN,
        ".txt": Document.FileType.TEXT,
        ".text": Document.FileType.TEXT,
    }.get(suffix, Document.FileType.OTHER)
    return Document.objects.create(
        project=project,
        batch=batch,
        uploaded_by=uploaded_by,
        title=PurePath(name).stem or name,
        original_name=name,
        file_type=file_type,
        content_hash=f"refused-{uuid.uuid4().hex}",
        size_bytes=size,
        stage=Stage.FAILED,
        halted_stage=Stage.QUEUED,
        error_code=error.code,
        error=error.message,
        status_message=error.message[:500],
        finished_at=timezone.now(),
    )


class _OverQuota(Exception):
    """Raised inside the upload transaction to roll it back; carries the user's message."""


def storage_quota_check(*, user: User | None, name: str, size: int) -> str | None:
    """Why `user` may not store `size` more bytes (CARREL_USER_STORAGE_MB), or None.

    Counts the bytes of the files the user uploaded that are stored (refused uploads keep no
    file). Call it inside the upload's transaction: it locks the user's row (on PostgreSQL;
    SQLite's IMMEDIATE transactions serialize writers), so two uploads at once cannot both
    squeeze under the quota.
    """
    quota = settings.CARREL_USER_STORAGE_BYTES
    if user is None or quota <= 0:
        return None
    User.objects.select_for_update().filter(pk=user.pk).first()
    used = (
        Document.objects.filter(uploaded_by=user)
        .exclude(file="")
        .aggregate(total=Sum("size_bytes"))["total"]
        or 0
    )
    if used + size <= quota:
        return None
    free = max(0, quota - used)
    return (
        f"“{name}” ({filesizeformat(size)}) was not added: your documents already use "
        f"{filesizeformat(used)} of your {filesizeformat(quota)} storage "
        f"({filesizeformat(free)} free). Delete documents you no longer need, or ask an "
        "administrator for more room (CARREL_USER_STORAGE_MB)."
    )


def _add_file(
    *, project: Project, uploaded_by: User | None, file: File, batch: ImportBatch | None
) -> UploadOutcome:
    name = PurePath(file.name or "unnamed").name[:300]
    size = file.size or 0
    refuse = None
    if size == 0:
        refuse = ExtractionError(ErrorCode.EMPTY, f"“{name}” is empty (0 bytes).")
    elif size > settings.CARREL_MAX_UPLOAD_BYTES:
        refuse = ExtractionError(
            ErrorCode.TOO_LARGE,
            f"“{name}” is {filesizeformat(size)}; the limit is "
            f"{filesizeformat(settings.CARREL_MAX_UPLOAD_BYTES)} per file (CARREL_MAX_UPLOAD_MB).",
        )
    file_type = ""
    if refuse is None:
        file.seek(0)
        head = file.read(SNIFF_BYTES)
        file.seek(0)
        try:
            file_type = file_type_for(name=name, head=head)
        except ExtractionError as error:
            refuse = error
    if refuse is not None:
        document = _refuse(
            project=project,
            uploaded_by=uploaded_by,
            name=name,
            size=size,
            error=refuse,
            batch=batch,
        )
        return UploadOutcome(name=name, document=document)

    content_hash = _sha256(file)
    existing = Document.objects.filter(project=project, content_hash=content_hash).first()
    if existing is not None:
        return UploadOutcome(name=name, document=None, duplicate_of=existing)
    try:
        with transaction.atomic():
            refusal = storage_quota_check(user=uploaded_by, name=name, size=size)
            if refusal is not None:
                raise _OverQuota(refusal)
            document = Document.objects.create(
                project=project,
                batch=batch,
                uploaded_by=uploaded_by,
                title=PurePath(name).stem or name,
                original_name=name,
                file_type=file_type,
                content_hash=content_hash,
                size_bytes=size,
                status_message="Waiting for a worker",
            )
            document.file.save(name, file, save=True)
            _enqueue(document.pk, document.attempt, Stage.QUEUED)
    except _OverQuota as over:
        return UploadOutcome(name=name, document=None, refusal=str(over))
    except IntegrityError:  # the same file, uploaded at the same moment
        racing = Document.objects.filter(project=project, content_hash=content_hash)
        return UploadOutcome(name=name, document=None, duplicate_of=racing.first())
    return UploadOutcome(name=name, document=document)


def document_upload(
    *,
    project: Project,
    uploaded_by: User | None,
    files: Sequence[File],
    batch: ImportBatch | None = None,
) -> list[UploadOutcome]:
    """Add files to a project and queue each for ingestion (as part of `batch`, when
    they came in a multi-file or .zip upload).

    Each file stands alone: an empty, oversized, mistyped or duplicate file gets its own
    message (on a refused document row, or as a duplicate) and the others go ahead.
    """
    outcomes = [
        _add_file(project=project, uploaded_by=uploaded_by, file=file, batch=batch)
        for file in files
    ]
    Project.objects.filter(pk=project.pk).update(updated_at=timezone.now())
    return outcomes


def _clear_outputs(document_id: int, *, keep_parts: bool) -> None:
    chunk_unindex_document(document_id=document_id)
    Chunk.objects.filter(document_id=document_id).delete()
    if not keep_parts:
        ExtractionPart.objects.filter(document_id=document_id).delete()
        Page.objects.filter(document_id=document_id).delete()


def _restart_stage(document: Document) -> str:
    """Where a retry starts: the halted stage when its inputs are intact, else the start."""
    if document.error_code in ("", ErrorCode.SUMMARY_FAILED, ErrorCode.INTERNAL) and (
        document.halted_stage in (Stage.CHUNKING, Stage.INDEXING, Stage.SUMMARIZING)
    ):
        return document.halted_stage
    return Stage.QUEUED


def _cancel(documents: QuerySet[Document]) -> int:
    """Cancel these documents in one conditional UPDATE (the caller's filter on the stage
    is the condition): the attempt moves on, so tasks already sent for them, and a worker
    about to claim one, find nothing to do."""
    return documents.update(
        halted_stage=F("stage"),
        stage=Stage.CANCELLED,
        attempt=F("attempt") + 1,
        pdf_password="",
        status_message="Cancelled",
        heartbeat_at=None,
        summary_status=Case(
            When(
                summary_status__in=[SummaryStatus.RUNNING, SummaryStatus.WAITING],
                then=Value(SummaryStatus.PENDING),
            ),
            default=F("summary_status"),
        ),
        summary_retry_at=None,
        finished_at=timezone.now(),
    )


def document_cancel(*, document: Document) -> bool:
    """Stop a queued or running document; tasks already sent become no-ops."""
    running = Document.objects.filter(
        pk=document.pk, stage__in=[Stage.QUEUED, *Document.RUNNING_STAGES]
    )
    return bool(_cancel(running))


def import_batch_create(*, project: Project, created_by: User | None) -> ImportBatch:
    return ImportBatch.objects.create(project=project, created_by=created_by)


def import_batch_note(
    *, batch: ImportBatch, refused: Sequence[str], duplicates: Sequence[str]
) -> None:
    """Keep what the upload refused without making a document row, and the duplicates it
    skipped, for the batch's page (at most CARREL_BULK_MAX_FILES of each, 500 characters)."""
    limit = settings.CARREL_BULK_MAX_FILES
    ImportBatch.objects.filter(pk=batch.pk).update(
        refused=[message[:500] for message in refused[:limit]],
        duplicates=[message[:500] for message in duplicates[:limit]],
    )


def import_batch_cancel_rest(*, batch: ImportBatch) -> int:
    """Cancel the documents of the batch that no worker has started yet (still queued);
    those already being read go on. Returns how many were cancelled."""
    return _cancel(Document.objects.filter(batch=batch, stage=Stage.QUEUED))


def document_retry(*, document: Document) -> bool:
    """Run a failed or cancelled document again, from the stage where it stopped."""
    if not document.can_retry:
        return False
    stage = _restart_stage(document)
    keep_parts = document.error_code == "" and document.halted_stage in (
        Stage.QUEUED,
        Stage.EXTRACTING,
    )
    changes: dict[str, object] = {
        "halted_stage": "",
        "status_message": "Queued again",
        "heartbeat_at": None,
        "worker": "",
        "finished_at": None,
        "summary_retries": 0,
        "summary_retry_at": None,
        "resumes": 0,
    }
    if stage == Stage.QUEUED:
        changes.update(
            progress=0.0,
            token_count=0,
            chunk_count=0,
            indexed_at=None,
            summary="",
            summary_status=SummaryStatus.PENDING,
            warnings=[],
        )
        if not keep_parts:
            changes["page_count"] = 0
    elif stage == Stage.SUMMARIZING:
        changes["summary_status"] = SummaryStatus.PENDING
    with transaction.atomic():
        retryable = Q(stage__in=[Stage.FAILED, Stage.CANCELLED])
        if not Document.restart(
            document.pk, document.attempt, where=retryable, to=stage, **changes
        ):
            return False
        if stage == Stage.QUEUED:
            _clear_outputs(document.pk, keep_parts=keep_parts)
        elif stage == Stage.CHUNKING:
            _clear_outputs(document.pk, keep_parts=True)
        _enqueue(document.pk, document.attempt + 1, stage)
    return True


def document_submit_password(*, document: Document, password: str) -> bool:
    """Try to open an encrypted PDF again with the password the user typed."""
    with transaction.atomic():
        if not Document.restart(
            document.pk,
            document.attempt,
            where=Q(stage=Stage.NEEDS_PASSWORD),
            pdf_password=password,
            halted_stage="",
            status_message="Trying the password",
            finished_at=None,
            progress=0.0,
        ):
            return False
        _clear_outputs(document.pk, keep_parts=False)
        _enqueue(document.pk, document.attempt + 1, Stage.QUEUED)
    return True


def document_delete(*, document: Document) -> None:
    """Delete a document, its pages, chunks and index entries, and (research/signals.py,
    once the deletion commits) its stored file."""
    with transaction.atomic():
        chunk_unindex_document(document_id=document.pk)
        document.delete()


def project_copy(*, project: Project, owner: User, title: str) -> Project:
    """A new project owned by `owner` holding a copy of `project`'s ready documents: new
    document, page and chunk rows (indexed for search) that point at the same stored files.
    A file stays on disk while any row still uses it (research/signals.py), so deleting
    either copy keeps the other's. The copies count against nobody's storage quota
    (`uploaded_by` is empty): the bytes are already counted for whoever uploaded them.
    Documents not ready yet (still being read, failed) are not copied."""
    with transaction.atomic():
        copy = Project.objects.create(
            owner=owner, title=title[:200], description=project.description, kind=project.kind
        )
        ready = Document.objects.filter(project=project, stage=Stage.READY).order_by("id")
        for document in ready:
            pages = list(Page.objects.filter(document=document).order_by("number"))
            chunks = list(Chunk.objects.filter(document=document).order_by("ordinal"))
            document.pk = None
            document.id = None
            document._state.adding = True
            document.project = copy
            document.uploaded_by = None
            document.worker = ""
            document.pdf_password = ""
            document.save()
            for page in pages:
                page.pk = None
                page.document = document
            Page.objects.bulk_create(pages, batch_size=500)
            for chunk in chunks:
                chunk.pk = None
                chunk.document = document
                chunk.summary_worker = ""
            Chunk.objects.bulk_create(chunks, batch_size=500)
            chunk_index_document(document_id=document.pk)
    return copy


def documents_resume_stale(
    *,
    stale_after: timedelta = STALE_AFTER,
    live_workers: set[str] | None = None,
    heartbeats: dict[str, int] | None = None,
) -> list[int]:
    """Restart documents left behind by a dead worker; returns their ids.

    A running document is left behind when a worker holding it, one of its page ranges or
    one of its unsummarized chunks is not among `live_workers` (that worker died and its
    task's message is lost until the broker's visibility timeout); a claim names the
    worker and its main process (workspace.heartbeat.claim_is_alive). When workers write
    heartbeats (`heartbeats`: the live ones' main process ids by name), that is the only
    test: a worker busy for an hour on a long map-reduce still has a live heartbeat, so its
    documents are not touched however old their own heartbeat is. Without heartbeats (or
    without knowing the live workers at all) a running document whose heartbeat is older
    than `stale_after` is presumed orphaned too. A queued document nobody has claimed for
    `stale_after` gets another message (its first claim wins; no work is restarted).

    Running stages start again under a new attempt (fencing off the lost run), at most
    CARREL_INGEST_MAX_RESUMES times: a document whose work already stopped that often
    (a file that hangs or kills its reader) fails with a message instead.
    """
    now = timezone.now()
    old = now - stale_after
    aged = Q(heartbeat_at__lt=old) | Q(heartbeat_at__isnull=True, updated_at__lt=old)
    by_heartbeat = heartbeats is not None and live_workers is not None
    left_behind = Q(stage=Stage.QUEUED) & aged
    if not by_heartbeat:
        left_behind |= Q(stage__in=Document.RUNNING_STAGES) & aged
    if live_workers is not None:
        dead = _dead_claims(live_workers=live_workers, heartbeats=heartbeats)
        dead_part = ExtractionPart.objects.filter(
            document=OuterRef("pk"), status=ExtractionPart.Status.RUNNING, worker__in=dead
        )
        dead_chunk = Chunk.objects.filter(
            document=OuterRef("pk"), summary="", summary_worker__in=dead
        )
        left_behind |= Q(stage__in=Document.RUNNING_STAGES) & (
            Q(worker__in=dead)
            | Q(stage=Stage.EXTRACTING, has_dead_part=True)
            | Q(stage=Stage.SUMMARIZING, has_dead_chunk=True)
        )
    else:
        dead_part = ExtractionPart.objects.none()
        dead_chunk = Chunk.objects.none()
    resumed: list[int] = []
    candidates = (
        Document.objects.annotate(
            has_dead_part=Exists(dead_part), has_dead_chunk=Exists(dead_chunk)
        )
        .filter(Q(stage__in=[Stage.QUEUED, *Document.RUNNING_STAGES]) & left_behind)
        .values_list("pk", "attempt", "stage", "resumes")
    )
    for document_id, attempt, stage, resumes in candidates:
        restart = Stage.QUEUED if stage == Stage.EXTRACTING else stage
        if stage != Stage.QUEUED and resumes >= settings.CARREL_INGEST_MAX_RESUMES:
            _fail_kept_stopping(document_id, attempt, stage=stage, resumes=resumes)
            continue
        with transaction.atomic():
            if stage == Stage.QUEUED:
                updated = Document.fenced(document_id, attempt, stage).update(
                    heartbeat_at=now, worker=""
                )
                next_attempt = attempt
            else:
                updated = Document.restart(
                    document_id,
                    attempt,
                    where=Q(stage=stage),
                    to=restart,
                    heartbeat_at=now,
                    worker="",
                    resumes=F("resumes") + 1,
                    status_message="Resuming after a worker stopped",
                    summary_status=Case(
                        When(
                            stage=Stage.SUMMARIZING,
                            then=Value(SummaryStatus.PENDING),
                        ),
                        default=F("summary_status"),
                    ),
                )
                next_attempt = attempt + 1
                # the lost run's claims go with it
                ExtractionPart.objects.filter(document_id=document_id).exclude(
                    status=ExtractionPart.Status.DONE
                ).update(status=ExtractionPart.Status.PENDING, worker="")
                Chunk.objects.filter(document_id=document_id, summary="").update(summary_worker="")
            if updated:
                _enqueue(document_id, next_attempt, restart)
                resumed.append(document_id)
    if resumed:
        logger.info("Resumed %d stale documents: %s", len(resumed), resumed)
    return resumed


def document_update_metadata(
    *, document: Document, title: str, authors: Sequence[str], year: int | None,
    doi: str, abstract: str,
) -> Document:  # fmt: skip
    """A person's correction of a document's bibliographic fields; a later re-extraction
    keeps it (metadata_source "person")."""
    document.title = title.strip()[:300] or document.title
    document.authors = [name.strip()[:120] for name in authors if name.strip()][:100]
    document.year = year
    document.doi = doi.strip()[:200]
    document.abstract = abstract.strip()
    document.metadata_source = Document.MetadataSource.PERSON
    document.save(
        update_fields=["title", "authors", "year", "doi", "abstract", "metadata_source",
                       "updated_at"]
    )  # fmt: skip
    return document


def _dead_claims(*, live_workers: set[str], heartbeats: dict[str, int] | None) -> list[str]:
    """The claims on running work (documents, page ranges, chunk summaries) whose worker
    is gone."""
    running = Document.objects.filter(stage__in=Document.RUNNING_STAGES)
    claims = set(running.exclude(worker="").values_list("worker", flat=True))
    claims |= set(
        ExtractionPart.objects.filter(document__in=running, status=ExtractionPart.Status.RUNNING)
        .exclude(worker="")
        .values_list("worker", flat=True)
    )
    claims |= set(
        Chunk.objects.filter(document__in=running, summary="")
        .exclude(summary_worker="")
        .values_list("summary_worker", flat=True)
    )
    return sorted(
        claim
        for claim in claims
        if not claim_is_alive(claim, live_workers=live_workers, heartbeats=heartbeats)
    )


def _fail_kept_stopping(document_id: int, attempt: int, *, stage: str, resumes: int) -> None:
    stage_name = Stage(stage).label.lower()
    Document.fail(
        document_id,
        attempt,
        code=ErrorCode.KEPT_STOPPING,
        error=(
            f"Stopped: the work on this document stopped without finishing "
            f"{resumes + 1} times (while {stage_name}), so it was not restarted again. The "
            "file may be built in a way that hangs or crashes the reader. Use Retry to try "
            "once more, or upload another copy of the file."
        ),
        halted_stage=F("stage"),
        status_message="Stopped after its work kept stopping",
        finished_at=timezone.now(),
        heartbeat_at=None,
        worker="",
    )
    logger.warning("Document %s kept stopping (%d resumes); failed it", document_id, resumes)
