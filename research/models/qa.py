"""Research Q&A: threads of questions over a project's documents. Each question keeps the
context map of what the model saw; each answer its checked citations."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import models

from research.models.library import Project
from workspace.models import Claimable


class Thread(models.Model):
    """A conversation over a scope of documents; follow-up questions reuse it."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="qa_threads"
    )
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="threads")
    title = models.CharField(max_length=200)
    # The documents in scope; empty means every ready document of the project.
    document_ids = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at", "-id"]

    def __str__(self) -> str:
        return self.title


class Question(Claimable):
    """A question of a thread, answered by the `qa_answer` task that claims it (a claimable
    row, workspace/models.py); the page's SSE view relays what the task streams."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Waiting for the model"
        CONFIRM = "confirm", "Waiting for your choice"  # map-reduce: run it, or one prompt?
        MAPPING = "mapping", "Reading the sources part by part"
        ANSWERING = "answering", "Answering"
        DONE = "done", "Answered"
        FAILED = "failed", "Failed"

    class AnswerMode(models.TextChoices):
        GENERATED = "generated", "An answer written by the model"
        # The one-prompt plan's best passages, quoted with their pages: no model call
        # (research/qa/passages.py). The default where the model cannot follow instructions.
        PASSAGES = "passages", "Retrieved passages"

    QUEUED = Status.QUEUED
    CLAIMED = Status.ANSWERING
    FAILED = Status.FAILED
    ACTIVE = (Status.QUEUED, Status.MAPPING, Status.ANSWERING)
    # An active question untouched for this long is presumed dead (its writer crashed or the
    # reader left mid-answer in a way nobody noticed) and may be retried.
    STALE_AFTER = timedelta(minutes=12)

    thread = models.ForeignKey(Thread, on_delete=models.CASCADE, related_name="questions")
    text = models.TextField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    strategy = models.CharField(max_length=16, blank=True)  # fits | near_edge | map_reduce
    # The asker's choice once packing routed the question to map-reduce: "map_reduce" (run
    # it) or "one_prompt" (summaries and excerpts); "" until asked.
    route_choice = models.CharField(max_length=16, blank=True)
    answer_mode = models.CharField(
        max_length=16, choices=AnswerMode.choices, default=AnswerMode.GENERATED
    )
    context_map = models.JSONField(default=dict, blank=True)  # workspace.packing.ContextMap
    groups_total = models.PositiveIntegerField(default=0)  # map-reduce progress
    groups_done = models.PositiveIntegerField(default=0)
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
