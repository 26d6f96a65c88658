"""Celery tasks of the study tools, on the "batch" queue: thin wrappers around
research/study_services.py.

study_generate runs one generation job. It is idempotent (the claim is a conditional
UPDATE, each unit is saved with the counter that says it is done), so it runs with
acks_late and a redelivered message is harmless. A retryable model error (server down,
timeout) is retried with exponential backoff; then the job fails with the error's words.
Invalid JSON is retried inside the job, a bounded number of times (research/generation.py).
"""

from __future__ import annotations

import logging
from typing import Any

from celery import Task, shared_task
from celery.utils.time import get_exponential_backoff_interval

from research.study import services as study_services
from workspace.runtime.errors import ModelRuntimeError

logger = logging.getLogger(__name__)

BATCH_QUEUE = "batch"  # background model work; questions have "model" to themselves
MAX_RETRIES = 4
RETRY_BACKOFF = 5  # seconds, doubled each retry
RETRY_BACKOFF_MAX = 300


class StudyTask(Task):
    """An unexpected exception fails the job with the error's words instead of leaving it
    "generating" until it goes stale."""

    acks_late = True

    def on_failure(self, exc: Exception, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        job_id = args[0] if args else kwargs.get("job_id")
        attempt = args[1] if len(args) > 1 else kwargs.get("attempt")
        if job_id is None or attempt is None:
            return
        study_services.job_fail(
            job_id=job_id,
            attempt=attempt,
            code=study_services.ErrorCode.INTERRUPTED,
            message=f"Unexpected error: {type(exc).__name__}: {exc}",
        )


@shared_task(bind=True, base=StudyTask, name="research.study_tasks.study_generate")
def study_generate(self: Task, job_id: int, attempt: int) -> None:
    try:
        study_services.job_run(job_id=job_id, attempt=attempt)
    except ModelRuntimeError as exc:
        retries = self.request.retries
        if exc.retryable and retries < MAX_RETRIES:
            countdown = get_exponential_backoff_interval(
                factor=RETRY_BACKOFF, retries=retries, maximum=RETRY_BACKOFF_MAX, full_jitter=False
            )
            raise self.retry(exc=exc, countdown=countdown, max_retries=MAX_RETRIES) from exc
        study_services.job_fail(
            job_id=job_id,
            attempt=attempt,
            code=study_services.error_code_for(exc),
            message=exc.message,
        )


def send_generate(*, job_id: int, attempt: int) -> None:
    study_generate.apply_async((job_id, attempt), queue=BATCH_QUEUE)
