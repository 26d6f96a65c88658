"""The library of a project: its documents, their pages and page-anchored chunks."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from workspace.models import Claimable


class Project(models.Model):
    """A research project, or the world documents of a campaign."""

    class Kind(models.TextChoices):
        RESEARCH = "research", "Research project"
        WORLD = "world", "World documents"

    class SummaryMode(models.TextChoices):
        NOW = "now", "Now, as each document is read"
        IDLE = "idle", "When the model is idle"
        OFF = "off", "Off (only when I ask)"

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="projects"
    )
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.RESEARCH)
    # When new documents get their model summary (research/library/services.py
    # document_summary_defer): at once, when the model is idle, or only on request. A
    # document is askable without one (its abstract, or its excerpts, serve).
    summary_mode = models.CharField(
        max_length=8, choices=SummaryMode.choices, default=SummaryMode.NOW
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at"]

    def __str__(self) -> str:
        return self.title


class ImportBatch(models.Model):
    """One multi-file or .zip upload: its documents (Document.batch) are followed on one
    progress page, and the ones not started yet can be cancelled together. What the upload
    refused before any document row was made (a refused .zip, an unreadable member, the
    storage quota) and the duplicates it skipped are kept here, for that page."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="import_batches")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    refused = models.JSONField(default=list, blank=True)  # messages, at most one a file
    duplicates = models.JSONField(default=list, blank=True)  # "“name” (as “Title”)"
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"import {self.pk} into project {self.project_id}"


class Document(Claimable):
    """One uploaded file and where it is in the ingestion pipeline.

    A claimable row (workspace/models.py) whose state is its `stage`: every (re)start of
    the pipeline (retry, password, resume of a stale run, cancel) increments `attempt`,
    every task carries the attempt it was sent for, and every write checks it in the same
    transaction, so a task from an older run is a no-op. Its error codes are its own (what
    is wrong with a file), not the model jobs' table.
    """

    class Stage(models.TextChoices):
        QUEUED = "queued", "Queued"
        EXTRACTING = "extracting", "Extracting text"
        CHUNKING = "chunking", "Counting and chunking"
        INDEXING = "indexing", "Indexing"
        SUMMARIZING = "summarizing", "Summarizing"
        READY = "ready", "Ready"
        NEEDS_PASSWORD = "needs_password", "Needs a password"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    class FileType(models.TextChoices):
        PDF = "pdf", "PDF"
        TEXT = "text", "Plain text"
        MARKDOWN = "markdown", "Markdown"
        OTHER = "other", "Other"

    class ErrorCode(models.TextChoices):
        EMPTY = "empty", "Empty file"
        TOO_LARGE = "too_large", "Over the size limit"
        WRONG_TYPE = "wrong_type", "Not what its extension claims"
        UNSUPPORTED = "unsupported", "Unsupported file type"
        DAMAGED = "damaged", "Damaged file"
        NEEDS_PASSWORD = "needs_password", "Password required"
        WRONG_PASSWORD = "wrong_password", "Wrong password"
        NO_TEXT = "no_text", "No text layer"
        SUMMARY_FAILED = "summary_failed", "Summary failed"
        TIMED_OUT = "timed_out", "Took too long"
        KEPT_STOPPING = "kept_stopping", "Stopped repeatedly"
        INTERNAL = "internal", "Unexpected error"

    class SummaryStatus(models.TextChoices):
        PENDING = "pending", "Not started"
        RUNNING = "running", "Running"
        WAITING = "waiting", "Waiting to retry"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    class MetadataSource(models.TextChoices):
        FILE = "file", "Read from the file"
        IMPORT = "import", "Imported from a bibliography"
        PERSON = "person", "Edited by hand"

    RUNNING_STAGES = (Stage.EXTRACTING, Stage.CHUNKING, Stage.INDEXING, Stage.SUMMARIZING)
    FINISHED_STAGES = (Stage.READY, Stage.FAILED, Stage.CANCELLED, Stage.NEEDS_PASSWORD)
    state_field = "stage"
    QUEUED = Stage.QUEUED
    CLAIMED = Stage.EXTRACTING  # a queued document is claimed by starting its extraction
    FAILED = Stage.FAILED
    ACTIVE = (Stage.QUEUED, *RUNNING_STAGES)
    # Rejected at upload: there is no stored file to retry with.
    UNRETRYABLE_ERRORS = (
        ErrorCode.EMPTY,
        ErrorCode.TOO_LARGE,
        ErrorCode.WRONG_TYPE,
        ErrorCode.UNSUPPORTED,
    )

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="documents")
    # The multi-file or .zip upload it came in with (None for a single upload).
    batch = models.ForeignKey(
        ImportBatch, on_delete=models.SET_NULL, null=True, blank=True, related_name="documents"
    )
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    title = models.CharField(max_length=300)
    original_name = models.CharField(max_length=300)
    file = models.FileField(upload_to="documents/%Y/%m/", blank=True)
    file_type = models.CharField(max_length=16, choices=FileType.choices)
    content_hash = models.CharField(max_length=64)
    size_bytes = models.BigIntegerField(default=0)

    stage = models.CharField(max_length=20, choices=Stage.choices, default=Stage.QUEUED)
    progress = models.FloatField(default=0.0)  # 0..1 within the whole pipeline
    status_message = models.CharField(max_length=500, blank=True)
    error_code = models.CharField(max_length=32, choices=ErrorCode.choices, blank=True)
    # The stage a failed or cancelled run stopped in: Retry resumes from there.
    halted_stage = models.CharField(max_length=20, choices=Stage.choices, blank=True)
    warnings = models.JSONField(default=list, blank=True)  # non-fatal notes, shown to the user

    heartbeat_at = models.DateTimeField(null=True, blank=True)  # next expected sign of life
    # The Celery node running a step of this document right now; "" between steps (the next
    # message is queued) or while page ranges / chunk summaries, which name their own, run.
    worker = models.CharField(max_length=200, blank=True)
    # How often this run was restarted after its worker stopped (reset by a person's Retry):
    # past CARREL_INGEST_MAX_RESUMES the document fails instead of being resumed again.
    resumes = models.PositiveIntegerField(default=0)
    # Passages summarized so far, for a summary's progress bar (chunk_count in all).
    summaries_done = models.PositiveIntegerField(default=0)
    # Held only until extraction has opened the file; never shown, cleared after use.
    pdf_password = models.CharField(max_length=500, blank=True)

    page_count = models.PositiveIntegerField(default=0)
    token_count = models.PositiveIntegerField(default=0)
    chunk_count = models.PositiveIntegerField(default=0)
    metadata = models.JSONField(default=dict, blank=True)
    indexed_at = models.DateTimeField(null=True, blank=True)
    summary = models.TextField(blank=True)
    # Bibliographic metadata (research/library/metadata.py): read from the PDF, imported
    # from a .bib or CSL-JSON file, or typed by a person; `metadata_source` says which, and
    # a re-extraction only refills what the file itself said.
    authors = models.JSONField(default=list, blank=True)  # ["Ada Lovelace", ...]
    year = models.PositiveSmallIntegerField(null=True, blank=True)
    doi = models.CharField(max_length=200, blank=True)
    abstract = models.TextField(blank=True)
    # From an imported bibliography: the entry's own key (used as the citation key) and type.
    citation_key = models.CharField(max_length=100, blank=True)
    entry_type = models.CharField(max_length=30, blank=True)
    metadata_source = models.CharField(max_length=16, choices=MetadataSource.choices, blank=True)
    summary_status = models.CharField(
        max_length=16, choices=SummaryStatus.choices, default=SummaryStatus.PENDING
    )
    summary_retries = models.PositiveIntegerField(default=0)
    summary_retry_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # When a worker claimed the embedding of this document's chunks (research/library/
    # vectors.py); None while nobody embeds it. A claim older than VECTOR_CLAIM_STALE is free.
    vectors_claimed_at = models.DateTimeField(null=True, blank=True)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "content_hash"], name="unique_document_per_project"
            )
        ]
        indexes = [models.Index(fields=["stage", "heartbeat_at"], name="document_stage_heartbeat")]

    def __str__(self) -> str:
        return self.title

    @property
    def summary_fraction(self) -> float:
        """The share of passages summarized (0 before the first one is done)."""
        return min(1.0, self.summaries_done / self.chunk_count) if self.chunk_count else 0.0

    @property
    def summary_detail(self) -> str:
        return f"{self.summaries_done} of {self.chunk_count} passages"

    @property
    def is_finished(self) -> bool:
        return self.stage in self.FINISHED_STAGES

    @property
    def can_cancel(self) -> bool:
        return self.stage == self.Stage.QUEUED or self.stage in self.RUNNING_STAGES

    @property
    def can_retry(self) -> bool:
        return (
            self.stage in (self.Stage.FAILED, self.Stage.CANCELLED)
            and bool(self.file)
            and self.error_code not in self.UNRETRYABLE_ERRORS
        )

    @property
    def is_searchable(self) -> bool:
        return self.indexed_at is not None

    @property
    def metadata_from_file(self) -> bool:
        """Whether extraction may (re)fill the bibliographic fields: nobody imported or
        edited them."""
        return self.metadata_source in ("", self.MetadataSource.FILE)

    @property
    def summary_or_abstract(self) -> str:
        """The model's summary once there is one; until then the paper's own abstract."""
        return self.summary or self.abstract


class ExtractionPart(models.Model):
    """A page range of one document, extracted by one task; ranges run in parallel."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        DONE = "done", "Done"

    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="parts")
    first_page = models.PositiveIntegerField()  # 1-based, inclusive
    last_page = models.PositiveIntegerField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempt = models.PositiveIntegerField(default=0)  # the document attempt that claimed it
    worker = models.CharField(max_length=200, blank=True)  # Celery node extracting it
    pages_done = models.PositiveIntegerField(default=0)
    notes = models.JSONField(default=dict, blank=True)  # textless, scanned and unreadable pages
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["document", "first_page"]
        constraints = [
            models.UniqueConstraint(fields=["document", "first_page"], name="unique_part_start")
        ]

    def __str__(self) -> str:
        return f"pages {self.first_page}-{self.last_page} of document {self.document_id}"

    @property
    def page_total(self) -> int:
        return self.last_page - self.first_page + 1


class Page(models.Model):
    """One page of a PDF, or one section/line range of a text or Markdown file."""

    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="pages")
    number = models.PositiveIntegerField()  # 1-based
    label = models.CharField(max_length=200, blank=True)  # "p. 7", "lines 1-80", a heading
    text = models.TextField()
    token_count = models.PositiveIntegerField(default=0)
    # The page is a scan without a text layer and its text was recognized from its image
    # (Tesseract, research/library/ocr.py): shown as such in the reader and context map.
    ocr = models.BooleanField(default=False)

    class Meta:
        ordering = ["document", "number"]
        constraints = [
            models.UniqueConstraint(fields=["document", "number"], name="unique_page_number")
        ]

    def __str__(self) -> str:
        return f"page {self.number} of document {self.document_id}"


class Chunk(models.Model):
    """A token-sized, page-anchored piece of a document: it always knows its pages.

    The keyword index lives outside the ORM (research/search.py): an FTS5 table on SQLite,
    a tsvector column on PostgreSQL, both created by migration 0002.
    """

    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="chunks")
    ordinal = models.PositiveIntegerField()
    text = models.TextField()
    token_count = models.PositiveIntegerField()
    page_start = models.PositiveIntegerField()
    page_end = models.PositiveIntegerField()
    summary = models.TextField(blank=True)
    summary_worker = models.CharField(max_length=200, blank=True)  # Celery node summarizing it

    class Meta:
        ordering = ["document", "ordinal"]
        constraints = [
            models.UniqueConstraint(fields=["document", "ordinal"], name="unique_chunk_ordinal")
        ]

    def __str__(self) -> str:
        return f"chunk {self.ordinal} (pp. {self.page_start}-{self.page_end})"


class ChunkVector(models.Model):
    """A chunk's embedding by one model, stored beside the chunk (research/library/vectors.py).

    The vector is float32 little-endian bytes, L2-normalised (sqlite-vec's format, readable
    on SQLite and PostgreSQL alike); a question's retrieval scores the vectors of the
    full-text prefilter's pool in the worker. One row per chunk and model, so a changed
    embedding model adds rows beside the old ones until they are cleared.
    """

    chunk = models.ForeignKey(Chunk, on_delete=models.CASCADE, related_name="vectors")
    model = models.CharField(max_length=200)
    dims = models.PositiveIntegerField()
    vector = models.BinaryField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["chunk", "model"], name="unique_chunk_vector_model")
        ]

    def __str__(self) -> str:
        return f"{self.model} vector of chunk {self.chunk_id}"
