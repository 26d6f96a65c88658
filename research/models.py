"""Collections of sources, their documents, pages and page-anchored chunks."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone


class Collection(models.Model):
    """A research project, or the world documents of a campaign."""

    class Kind(models.TextChoices):
        RESEARCH = "research", "Research project"
        WORLD = "world", "World documents"

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="collections"
    )
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.RESEARCH)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at"]

    def __str__(self) -> str:
        return self.title


class Document(models.Model):
    """One uploaded file and where it is in the ingestion pipeline.

    `attempt` is a fencing token: every (re)start of the pipeline (retry, password, resume of
    a stale run, cancel) increments it, every task carries the attempt it was sent for, and
    every write checks it in the same transaction, so a task from an older run is a no-op.
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
        INTERNAL = "internal", "Unexpected error"

    class SummaryStatus(models.TextChoices):
        PENDING = "pending", "Not started"
        RUNNING = "running", "Running"
        WAITING = "waiting", "Waiting to retry"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    RUNNING_STAGES = (Stage.EXTRACTING, Stage.CHUNKING, Stage.INDEXING, Stage.SUMMARIZING)
    FINISHED_STAGES = (Stage.READY, Stage.FAILED, Stage.CANCELLED, Stage.NEEDS_PASSWORD)
    # Rejected at upload: there is no stored file to retry with.
    UNRETRYABLE_ERRORS = (
        ErrorCode.EMPTY,
        ErrorCode.TOO_LARGE,
        ErrorCode.WRONG_TYPE,
        ErrorCode.UNSUPPORTED,
    )

    collection = models.ForeignKey(Collection, on_delete=models.CASCADE, related_name="documents")
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
    error = models.TextField(blank=True)
    error_code = models.CharField(max_length=32, choices=ErrorCode.choices, blank=True)
    # The stage a failed or cancelled run stopped in: Retry resumes from there.
    halted_stage = models.CharField(max_length=20, choices=Stage.choices, blank=True)
    warnings = models.JSONField(default=list, blank=True)  # non-fatal notes, shown to the user

    attempt = models.PositiveIntegerField(default=0)
    heartbeat_at = models.DateTimeField(null=True, blank=True)  # next expected sign of life
    # The Celery node running a step of this document right now; "" between steps (the next
    # message is queued) or while page ranges / chunk summaries, which name their own, run.
    worker = models.CharField(max_length=200, blank=True)
    # Held only until extraction has opened the file; never shown, cleared after use.
    pdf_password = models.CharField(max_length=500, blank=True)

    page_count = models.PositiveIntegerField(default=0)
    token_count = models.PositiveIntegerField(default=0)
    chunk_count = models.PositiveIntegerField(default=0)
    metadata = models.JSONField(default=dict, blank=True)
    indexed_at = models.DateTimeField(null=True, blank=True)
    summary = models.TextField(blank=True)
    summary_status = models.CharField(
        max_length=16, choices=SummaryStatus.choices, default=SummaryStatus.PENDING
    )
    summary_retries = models.PositiveIntegerField(default=0)
    summary_retry_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["collection", "content_hash"], name="unique_document_per_collection"
            )
        ]
        indexes = [models.Index(fields=["stage", "heartbeat_at"], name="document_stage_heartbeat")]

    def __str__(self) -> str:
        return self.title

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


# ---------------------------------------------------------------------------------------
# Research Q&A (issue 4): threads of questions over a collection's documents. Each question
# keeps the context map of what the model saw; each answer its checked citations.
# This section is owned by the Q&A code (research/qa_*.py); keep it at the end of the file.
# ---------------------------------------------------------------------------------------


class Thread(models.Model):
    """A conversation over a scope of documents; follow-up questions reuse it."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="qa_threads"
    )
    collection = models.ForeignKey(Collection, on_delete=models.CASCADE, related_name="threads")
    title = models.CharField(max_length=200)
    # The documents in scope; empty means every ready document of the collection.
    document_ids = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at", "-id"]

    def __str__(self) -> str:
        return self.title


class Question(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", "Waiting for the model"
        MAPPING = "mapping", "Reading the sources part by part"
        ANSWERING = "answering", "Answering"
        DONE = "done", "Answered"
        FAILED = "failed", "Failed"

    class ErrorCode(models.TextChoices):
        UNAVAILABLE = "unavailable", "The model server is not answering"
        TIMEOUT = "timeout", "The model server timed out"
        TRUNCATED = "truncated", "The model server truncated the prompt"
        TOO_LONG = "too_long", "The prompt is too long for the model"
        NOT_FOUND = "not_found", "The model is not installed"
        MODEL = "model", "The model server failed"
        PACKING = "packing", "The sources could not be packed"
        NO_SOURCES = "no_sources", "No documents are ready"
        INTERRUPTED = "interrupted", "The answer was interrupted"

    ACTIVE = (Status.QUEUED, Status.MAPPING, Status.ANSWERING)

    thread = models.ForeignKey(Thread, on_delete=models.CASCADE, related_name="questions")
    text = models.TextField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    strategy = models.CharField(max_length=16, blank=True)  # fits | near_edge | map_reduce
    context_map = models.JSONField(default=dict, blank=True)  # workspace.packing.ContextMap
    error_code = models.CharField(max_length=16, choices=ErrorCode.choices, blank=True)
    error = models.TextField(blank=True)
    groups_total = models.PositiveIntegerField(default=0)  # map-reduce progress
    groups_done = models.PositiveIntegerField(default=0)
    # Fencing token: a retry increments it; work started for an older attempt is ignored.
    attempt = models.PositiveIntegerField(default=1)
    claimed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return self.text[:80]

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE


class Answer(models.Model):
    question = models.OneToOneField(Question, on_delete=models.CASCADE, related_name="answer")
    text = models.TextField()
    citations = models.JSONField(default=list, blank=True)  # research.citations, checked
    flagged_count = models.PositiveIntegerField(default=0)  # citations not in the context
    model = models.CharField(max_length=200, blank=True)
    prompt_tokens = models.PositiveIntegerField(default=0)
    output_tokens = models.PositiveIntegerField(default=0)
    hit_output_cap = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.text[:80]


class MapNote(models.Model):
    """What one map step of a map-reduce answer found in its group of sources."""

    question = models.ForeignKey(Question, on_delete=models.CASCADE, related_name="map_notes")
    index = models.PositiveIntegerField()
    attempt = models.PositiveIntegerField()
    text = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["question", "index"]
        constraints = [
            models.UniqueConstraint(
                fields=["question", "attempt", "index"], name="unique_map_note_per_attempt"
            )
        ]

    def __str__(self) -> str:
        return f"map note {self.index} of question {self.question_id}"


# ---------------------------------------------------------------------------------------
# Study tools (issue 5): flashcards with spaced repetition, timelines, comparisons and
# cross-document summaries, each made by a generation job. Generated rows carry
# `generated=True`; any change by hand sets `edited_by_user`, and a regeneration never
# touches an edited, reviewed or dismissed (deleted by the user) row. Owned by
# research/flashcards.py, review.py, timelines.py, comparisons.py, digests.py, study_*.py;
# keep this section after the Q&A section.
# ---------------------------------------------------------------------------------------


class StudyTag(models.Model):
    """A tag for cards and timeline events, per project."""

    collection = models.ForeignKey(Collection, on_delete=models.CASCADE, related_name="study_tags")
    name = models.CharField(max_length=60)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["collection", "name"], name="unique_study_tag")
        ]

    def __str__(self) -> str:
        return self.name


class Comparison(models.Model):
    """A table comparing two or more papers over a set of aspects."""

    collection = models.ForeignKey(Collection, on_delete=models.CASCADE, related_name="comparisons")
    title = models.CharField(max_length=200)
    document_ids = models.JSONField(default=list)  # the columns, in order
    aspects = models.JSONField(default=list)  # the rows, in order
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at", "-id"]

    def __str__(self) -> str:
        return self.title


class Digest(models.Model):
    """A summary across a chosen set of documents; `body` cites pages as [Title, p. N]."""

    collection = models.ForeignKey(Collection, on_delete=models.CASCADE, related_name="digests")
    title = models.CharField(max_length=200)
    document_ids = models.JSONField(default=list)
    body = models.TextField(blank=True)
    citations = models.JSONField(default=list, blank=True)  # research.citations, checked
    context_map = models.JSONField(default=dict, blank=True)  # what the model saw
    generated = models.BooleanField(default=False)
    edited_by_user = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at", "-id"]

    def __str__(self) -> str:
        return self.title


class StudyJob(models.Model):
    """One run of a generator, done by a Celery task unit by unit (a unit is one document,
    or one answer, or one digest); the page polls its progress.

    `attempt` fences work: a retry bumps it, and every write checks it. `units_done`
    advances in the same transaction that saves a unit's results, so a redelivered task
    resumes after the last saved unit instead of repeating it.
    """

    class Kind(models.TextChoices):
        FLASHCARDS = "flashcards", "Flashcards"
        TIMELINE = "timeline", "Timeline"
        COMPARISON = "comparison", "Comparison"
        DIGEST = "digest", "Summary"

    class Status(models.TextChoices):
        QUEUED = "queued", "Waiting for the model"
        RUNNING = "running", "Generating"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    class ErrorCode(models.TextChoices):
        INVALID_OUTPUT = "invalid_output", "The model's answer did not match the schema"
        UNAVAILABLE = "unavailable", "The model server is not answering"
        TIMEOUT = "timeout", "The model server timed out"
        TOO_LONG = "too_long", "The prompt is too long for the model"
        NOT_FOUND = "not_found", "The model is not installed"
        MODEL = "model", "The model server failed"
        PACKING = "packing", "The sources could not be packed"
        NO_SOURCES = "no_sources", "Nothing to generate from"
        INTERRUPTED = "interrupted", "The generation was interrupted"

    ACTIVE = (Status.QUEUED, Status.RUNNING)
    # An active job whose row has not changed for this long is presumed dead (its worker
    # crashed): Retry may restart it, and a redelivered task may take it over. Every write
    # of a run sets `updated_at`, and no single model call runs this long.
    STALE_AFTER = timedelta(minutes=15)

    collection = models.ForeignKey(Collection, on_delete=models.CASCADE, related_name="study_jobs")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    kind = models.CharField(max_length=16, choices=Kind.choices)
    label = models.CharField(max_length=300)  # what it generates from, for people
    params = models.JSONField(default=dict, blank=True)  # scope, pages, count, answer id...
    units = models.JSONField(default=list, blank=True)  # one dict per unit of work
    units_done = models.PositiveIntegerField(default=0)
    parts_total = models.PositiveIntegerField(default=0)  # window-sized parts of this unit
    parts_done = models.PositiveIntegerField(default=0)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    message = models.CharField(max_length=500, blank=True)
    error_code = models.CharField(max_length=20, choices=ErrorCode.choices, blank=True)
    error = models.TextField(blank=True)
    error_detail = models.TextField(blank=True)  # e.g. the model's last invalid answer
    invalid_outputs = models.PositiveIntegerField(default=0)  # answers that failed the schema
    created_count = models.PositiveIntegerField(default=0)
    updated_count = models.PositiveIntegerField(default=0)
    kept_count = models.PositiveIntegerField(default=0)  # skipped: the user's own version won
    dropped_count = models.PositiveIntegerField(default=0)  # cited pages the model never saw
    attempt = models.PositiveIntegerField(default=1)
    comparison = models.ForeignKey(
        Comparison, on_delete=models.CASCADE, null=True, blank=True, related_name="jobs"
    )
    digest = models.ForeignKey(
        Digest, on_delete=models.CASCADE, null=True, blank=True, related_name="jobs"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["collection", "kind", "status"], name="study_job_kind")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.label}"

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE

    @property
    def is_stale(self) -> bool:
        return self.is_active and self.updated_at < timezone.now() - self.STALE_AFTER

    @property
    def progress(self) -> float:
        total = len(self.units) or 1
        part = self.parts_done / self.parts_total if self.parts_total else 0.0
        return min(1.0, (self.units_done + part) / total)


class Flashcard(models.Model):
    """A question-and-answer (or cloze) card citing its source pages, with its FSRS state."""

    class Kind(models.TextChoices):
        BASIC = "basic", "Question and answer"
        CLOZE = "cloze", "Cloze (fill in the blank)"

    collection = models.ForeignKey(Collection, on_delete=models.CASCADE, related_name="flashcards")
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.BASIC)
    front = models.TextField()  # the question, or the cloze text with {{c1::...}}
    back = models.TextField(blank=True)  # the answer, or a cloze card's extra
    document = models.ForeignKey(
        Document, on_delete=models.SET_NULL, null=True, blank=True, related_name="flashcards"
    )
    pages = models.JSONField(default=list, blank=True)  # cited page numbers of `document`
    tags = models.ManyToManyField(StudyTag, blank=True, related_name="flashcards")

    scope = models.CharField(max_length=100, blank=True)  # what generated it: "document:3"
    # The normalised front as generated (or as last written, for a card made by hand), to
    # spot duplicates: a regeneration never adds a question the user already has.
    key = models.CharField(max_length=64, blank=True)
    job = models.ForeignKey(
        StudyJob, on_delete=models.SET_NULL, null=True, blank=True, related_name="flashcards"
    )
    generated = models.BooleanField(default=False)
    edited_by_user = models.BooleanField(default=False)
    dismissed = models.BooleanField(default=False)  # a generated card the user deleted

    # FSRS scheduling (research/review.py); a new card is due at once.
    state = models.PositiveSmallIntegerField(default=1)  # fsrs.State: 1 learning
    step = models.PositiveSmallIntegerField(null=True, blank=True, default=0)
    stability = models.FloatField(null=True, blank=True)
    difficulty = models.FloatField(null=True, blank=True)
    due = models.DateTimeField(db_index=True)
    last_review = models.DateTimeField(null=True, blank=True)
    reps = models.PositiveIntegerField(default=0)
    lapses = models.PositiveIntegerField(default=0)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["collection", "dismissed", "due"], name="flashcard_due")]

    def __str__(self) -> str:
        return self.front[:80]

    @property
    def touched(self) -> bool:
        """Edited, reviewed or deleted by the user: a regeneration leaves it alone."""
        return self.edited_by_user or self.dismissed or self.reps > 0 or not self.generated


class ReviewLog(models.Model):
    """One grading of a card during review."""

    card = models.ForeignKey(Flashcard, on_delete=models.CASCADE, related_name="reviews")
    rating = models.PositiveSmallIntegerField()  # fsrs.Rating: 1 again .. 4 easy
    reviewed_at = models.DateTimeField()
    state_before = models.PositiveSmallIntegerField()
    due_before = models.DateTimeField()
    due_after = models.DateTimeField()
    duration_ms = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["reviewed_at", "id"]

    def __str__(self) -> str:
        return f"card {self.card_id} rated {self.rating}"


class TimelineEvent(models.Model):
    """A dated event (or date range) with its precision, citing pages of one or more papers.

    Dates are stored as parts so a year alone, a month or a day keep their precision;
    years may be negative (BCE). `sort_key` orders events on the axis.
    """

    class Precision(models.TextChoices):
        DAY = "day", "Day"
        MONTH = "month", "Month"
        YEAR = "year", "Year"
        DECADE = "decade", "Decade"
        CENTURY = "century", "Century"

    collection = models.ForeignKey(
        Collection, on_delete=models.CASCADE, related_name="timeline_events"
    )
    title = models.CharField(max_length=300)
    description = models.TextField(blank=True)
    start_year = models.IntegerField()
    start_month = models.PositiveSmallIntegerField(null=True, blank=True)
    start_day = models.PositiveSmallIntegerField(null=True, blank=True)
    end_year = models.IntegerField(null=True, blank=True)
    end_month = models.PositiveSmallIntegerField(null=True, blank=True)
    end_day = models.PositiveSmallIntegerField(null=True, blank=True)
    precision = models.CharField(max_length=8, choices=Precision.choices, default=Precision.YEAR)
    sort_key = models.FloatField(db_index=True)
    tags = models.ManyToManyField(StudyTag, blank=True, related_name="timeline_events")

    job = models.ForeignKey(
        StudyJob, on_delete=models.SET_NULL, null=True, blank=True, related_name="events"
    )
    generated = models.BooleanField(default=False)
    edited_by_user = models.BooleanField(default=False)
    dismissed = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["sort_key", "id"]

    def __str__(self) -> str:
        return self.title

    @property
    def touched(self) -> bool:
        return self.edited_by_user or self.dismissed or not self.generated


class EventSource(models.Model):
    """A page an event was found on (duplicates merged across papers keep every source)."""

    event = models.ForeignKey(TimelineEvent, on_delete=models.CASCADE, related_name="sources")
    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="+")
    page = models.PositiveIntegerField()
    generated = models.BooleanField(default=True)

    class Meta:
        ordering = ["document_id", "page"]
        constraints = [
            models.UniqueConstraint(
                fields=["event", "document", "page"], name="unique_event_source_page"
            )
        ]

    def __str__(self) -> str:
        return f"document {self.document_id} p. {self.page}"


class ComparisonCell(models.Model):
    """One paper's answer on one aspect, citing its pages."""

    comparison = models.ForeignKey(Comparison, on_delete=models.CASCADE, related_name="cells")
    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="+")
    aspect = models.CharField(max_length=200)
    text = models.TextField(blank=True)
    pages = models.JSONField(default=list, blank=True)
    generated = models.BooleanField(default=False)
    edited_by_user = models.BooleanField(default=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["comparison", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["comparison", "document", "aspect"], name="unique_comparison_cell"
            )
        ]

    def __str__(self) -> str:
        return f"{self.aspect} of document {self.document_id}"


# ---------------------------------------------------------------------------------------
# Sharing (issue 7): a project is shared with a person or with a Django auth group, as
# viewer or editor. Every access check goes through research/access.py; the management
# page is research/sharing_views.py. Owned by research/access.py and sharing_*.py; keep
# this section last.
# ---------------------------------------------------------------------------------------


class CollectionShare(models.Model):
    """One person or one group that may open a project it does not own.

    A viewer reads everything in the project (documents, pages, conversations, study
    materials, exports) and may ask questions of it; an editor may also upload, delete,
    generate and edit. Only the owner manages shares.
    """

    class Role(models.TextChoices):
        VIEWER = "viewer", "Viewer (reads, asks questions, exports)"
        EDITOR = "editor", "Editor (also uploads, deletes, generates and edits)"

    collection = models.ForeignKey(Collection, on_delete=models.CASCADE, related_name="shares")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="collection_shares",
    )
    group = models.ForeignKey(
        "auth.Group",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="collection_shares",
    )
    role = models.CharField(max_length=8, choices=Role.choices, default=Role.VIEWER)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(user__isnull=False, group__isnull=True)
                    | models.Q(user__isnull=True, group__isnull=False)
                ),
                name="collection_share_user_xor_group",
            ),
            models.CheckConstraint(
                condition=models.Q(role__in=["viewer", "editor"]),
                name="collection_share_role_valid",
            ),
            models.UniqueConstraint(
                fields=["collection", "user"],
                condition=models.Q(user__isnull=False),
                name="unique_collection_share_user",
            ),
            models.UniqueConstraint(
                fields=["collection", "group"],
                condition=models.Q(group__isnull=False),
                name="unique_collection_share_group",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.collection} shared with {self.grantee} ({self.role})"

    @property
    def grantee(self) -> str:
        if self.user is not None:
            return self.user.get_username()
        return f"group {self.group}"

    @property
    def is_group(self) -> bool:
        return self.group_id is not None
