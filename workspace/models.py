"""Abstract models shared by the apps: the claimable job row and the generated/edited mixin."""

from __future__ import annotations

from typing import Any, ClassVar, Self

from django.db import models
from django.db.models import F, Q

from workspace.jobs.errors import JobError


class Claimable(models.Model):
    """A row that one worker at a time works on: a question, a study job, a document.

    `attempt` is a fencing token. It starts at 1; every restart (retry, resume, cancel)
    increments it; every task carries the attempt it was sent for; and every write checks it
    in the same conditional UPDATE, so work left over from an older attempt writes nothing.
    The state machine runs on one field (`state_field`, "status" unless a subclass says
    otherwise) between the states a subclass names:

        queued --claim--> claimed --(the job's own steps)--> done
           ^                 |  \\--fail--> failed --restart--> queued (attempt + 1)
           \\----release-----/

    Each transition is one conditional UPDATE and returns whether it happened (False: another
    worker got there first, or the attempt is no longer current).
    """

    ErrorCode = JobError

    state_field: ClassVar[str] = "status"
    QUEUED: ClassVar[str] = "queued"
    CLAIMED: ClassVar[str] = "running"
    FAILED: ClassVar[str] = "failed"
    ACTIVE: ClassVar[tuple[str, ...]] = ("queued", "running")

    attempt = models.PositiveIntegerField(default=1)
    error_code = models.CharField(max_length=32, choices=JobError.choices, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        abstract = True

    @classmethod
    def fenced(cls, pk: int, attempt: int, *states: str) -> models.QuerySet[Self]:
        """The row, if `attempt` is still its attempt (and it is in one of `states`)."""
        rows = cls._default_manager.filter(pk=pk, attempt=attempt)
        return rows.filter(**{f"{cls.state_field}__in": states}) if states else rows

    @classmethod
    def claim(cls, pk: int, attempt: int, *, where: Q | None = None, **fields: Any) -> bool:
        """queued → claimed (or from whatever `where` admits, e.g. a stale claim)."""
        admitted = where if where is not None else Q(**{cls.state_field: cls.QUEUED})
        rows = cls.fenced(pk, attempt).filter(admitted)
        return bool(rows.update(**{cls.state_field: cls.CLAIMED, **fields}))

    @classmethod
    def release(cls, pk: int, attempt: int, **fields: Any) -> bool:
        """claimed → queued: the work is given back and may be claimed again."""
        rows = cls.fenced(pk, attempt, cls.CLAIMED)
        return bool(rows.update(**{cls.state_field: cls.QUEUED, **fields}))

    @classmethod
    def fail(cls, pk: int, attempt: int, *, code: str, error: str, **fields: Any) -> bool:
        """active → failed, with the error's code and words (`error`)."""
        rows = cls.fenced(pk, attempt, *cls.ACTIVE)
        return bool(
            rows.update(
                **{cls.state_field: cls.FAILED, "error_code": code, "error": error}, **fields
            )
        )

    @classmethod
    def restart(
        cls, pk: int, attempt: int, *, where: Q, to: str | None = None, **fields: Any
    ) -> bool:
        """A new attempt from a row `where` admits (failed, cancelled, stale): attempt + 1,
        back to queued (or `to`), error cleared."""
        rows = cls.fenced(pk, attempt).filter(where)
        changes = {
            cls.state_field: to or cls.QUEUED,
            "attempt": F("attempt") + 1,
            "error": "",
            "error_code": "",
            **fields,
        }
        return bool(rows.update(**changes))


class Generated(models.Model):
    """A row a model made (`generated`) that a person may have changed since
    (`edited_by_user`): a regeneration never overwrites an edited row."""

    generated = models.BooleanField(default=False)
    edited_by_user = models.BooleanField(default=False)

    class Meta:
        abstract = True


class ModelSpeed(models.Model):
    """How fast one backend's model runs on this installation, measured from its completed
    calls (workspace/runtime/speed.py): prompt tokens evaluated and tokens generated per
    second, each a running average. The cost line before a map-reduce estimates its time
    from these; with no measurement yet, it says so instead of guessing."""

    backend = models.CharField(max_length=32)  # "ollama", "embedded"
    model = models.CharField(max_length=200)  # an Ollama tag or a GGUF file name
    prompt_tokens_per_second = models.FloatField(null=True, blank=True)
    output_tokens_per_second = models.FloatField(null=True, blank=True)
    prompt_samples = models.PositiveIntegerField(default=0)
    output_samples = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["backend", "model"], name="unique_model_speed")
        ]

    def __str__(self) -> str:
        return f"{self.backend} {self.model}"
