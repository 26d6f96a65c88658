"""The Celery task base of every model job: how it retries and how it fails, in one place.

A job task takes the id of its row and the attempt it was sent for (fencing: a retry of
the row bumps the attempt, so a message from an older attempt changes nothing), and:

- runs `acks_late`: a task whose worker dies is delivered again, so its work must be
  idempotent (claims are conditional UPDATEs, outputs are replaced, not appended);
- on a `ModelRuntimeError` that is `retryable` (server down, timeout), retries with
  exponential backoff up to `model_max_retries` times, calling `retrying` first so the row
  can say when the next try is; then, or at once for an error retrying cannot fix, calls
  `fail` with the error's code (workspace/jobs/errors.py) and its message;
- on any other exception, calls `fail` with `JobError.INTERRUPTED` and the exception's words,
  instead of leaving the row "running" until it goes stale.

Subclasses name their arguments (`id_arg`, `attempt_arg`) and override `fail` (and, if the
row shows retries, `retrying`). The task body itself stays one call to a service.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import Task
from celery.utils.time import get_exponential_backoff_interval
from django.db import InterfaceError, OperationalError

from workspace.jobs.errors import JobError, error_code_for
from workspace.runtime.errors import ModelRuntimeError

logger = logging.getLogger(__name__)

# A dropped database connection (PostgreSQL restarted, its backend terminated): a task whose
# every step is idempotent may simply run again on a fresh connection (`autoretry_for`).
DATABASE_CONNECTION_ERRORS = (OperationalError, InterfaceError)


class ModelJobTask(Task):
    acks_late = True
    model_max_retries = 4
    model_retry_backoff = 5  # seconds, doubled each retry
    model_retry_backoff_max = 300
    id_arg = "job_id"
    attempt_arg: str | None = "attempt"  # None: the job carries no attempt

    def fail(self, job_id: int, attempt: int | None, code: str, message: str) -> None:
        """Record the failure on the job's row (a no-op unless a subclass says how)."""
        logger.warning("%s %s failed (%s): %s", self.name, job_id, code, message)

    def retrying(
        self, job_id: int, attempt: int | None, exc: ModelRuntimeError, countdown: float,
        retry_number: int,
    ) -> None:  # fmt: skip
        """Called before a retry is scheduled, `countdown` seconds from now."""

    def job_of(self, args: Any, kwargs: Any) -> tuple[int, int | None] | None:
        """(id, attempt) from the task's arguments: positional first, else by name."""
        args = tuple(args or ())
        kwargs = dict(kwargs or {})
        job_id = args[0] if args else kwargs.get(self.id_arg)
        if job_id is None:
            return None
        if self.attempt_arg is None:
            return int(job_id), None
        attempt = args[1] if len(args) > 1 else kwargs.get(self.attempt_arg)
        return (int(job_id), int(attempt)) if attempt is not None else None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().__call__(*args, **kwargs)
        except ModelRuntimeError as exc:
            job = self.job_of(args, kwargs)
            if job is None:
                raise
            self.model_error(exc, *job)
            return None

    def model_error(self, exc: ModelRuntimeError, job_id: int, attempt: int | None) -> None:
        """Retry later while the model may come back (raises celery's Retry); else fail."""
        retries = self.request.retries or 0
        if exc.retryable and retries < self.model_max_retries:
            countdown = get_exponential_backoff_interval(
                factor=self.model_retry_backoff,
                retries=retries,
                maximum=self.model_retry_backoff_max,
                full_jitter=False,
            )
            self.retrying(job_id, attempt, exc, countdown, retries + 1)
            raise self.retry(exc=exc, countdown=countdown, max_retries=self.model_max_retries)
        self.fail(job_id, attempt, error_code_for(exc), exc.message)

    def on_failure(self, exc: Exception, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        job = self.job_of(args, kwargs)
        if job is None:
            return
        step = self.name.rsplit(".", 1)[-1]
        message = f"Unexpected error in {step}: {type(exc).__name__}: {exc}"
        self.fail(job[0], job[1], JobError.INTERRUPTED, message)
