"""Study tools: flashcards with spaced repetition, timelines, comparisons and digests
(summaries across documents), each made by a generation job. Generated rows carry
`generated=True`; any change by hand sets `edited_by_user`, and a regeneration never
touches an edited, reviewed or dismissed (deleted by the user) row."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone

from research.models.library import Document, Project
from workspace.models import Claimable, Generated


class StudyTag(models.Model):
    """A tag for cards and timeline events, per project."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="study_tags")
    name = models.CharField(max_length=60)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["project", "name"], name="unique_study_tag")]

    def __str__(self) -> str:
        return self.name


class Comparison(models.Model):
    """A table comparing two or more papers over a set of aspects."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="comparisons")
    title = models.CharField(max_length=200)
    document_ids = models.JSONField(default=list)  # the columns, in order
    aspects = models.JSONField(default=list)  # the rows, in order
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at", "-id"]

    def __str__(self) -> str:
        return self.title


class Digest(Generated):
    """A summary across a chosen set of documents; `body` cites pages as [Title, p. N]."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="digests")
    title = models.CharField(max_length=200)
    document_ids = models.JSONField(default=list)
    body = models.TextField(blank=True)
    citations = models.JSONField(default=list, blank=True)  # research.citations, checked
    context_map = models.JSONField(default=dict, blank=True)  # what the model saw
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at", "-id"]

    def __str__(self) -> str:
        return self.title


class StudyJob(Claimable):
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

    QUEUED = Status.QUEUED
    CLAIMED = Status.RUNNING
    FAILED = Status.FAILED
    ACTIVE = (Status.QUEUED, Status.RUNNING)
    # An active job whose row has not changed for this long is presumed dead (its worker
    # crashed): Retry may restart it, and a redelivered task may take it over. Every write
    # of a run sets `updated_at`, and no single model call runs this long.
    STALE_AFTER = timedelta(minutes=15)

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="study_jobs")
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
    # The Celery node running it (set by the claim): a running job whose worker has no live
    # heartbeat (workspace/heartbeat.py) is stuck, and offers Retry and Discard at once.
    worker = models.CharField(max_length=200, blank=True)
    message = models.CharField(max_length=500, blank=True)
    error_detail = models.TextField(blank=True)  # e.g. the model's last invalid answer
    invalid_outputs = models.PositiveIntegerField(default=0)  # answers that failed the schema
    created_count = models.PositiveIntegerField(default=0)
    updated_count = models.PositiveIntegerField(default=0)
    kept_count = models.PositiveIntegerField(default=0)  # skipped: the user's own version won
    dropped_count = models.PositiveIntegerField(default=0)  # cited pages the model never saw
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
        indexes = [models.Index(fields=["project", "kind", "status"], name="study_job_kind")]

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


class Flashcard(Generated):
    """A question-and-answer (or cloze) card citing its source pages, with its FSRS state."""

    class Kind(models.TextChoices):
        BASIC = "basic", "Question and answer"
        CLOZE = "cloze", "Cloze (fill in the blank)"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="flashcards")
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
        indexes = [models.Index(fields=["project", "dismissed", "due"], name="flashcard_due")]

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


class TimelineEvent(Generated):
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

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="timeline_events")
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


class ComparisonCell(Generated):
    """One paper's answer on one aspect, citing its pages."""

    comparison = models.ForeignKey(Comparison, on_delete=models.CASCADE, related_name="cells")
    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="+")
    aspect = models.CharField(max_length=200)
    text = models.TextField(blank=True)
    pages = models.JSONField(default=list, blank=True)
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
