"""Celery tasks of research Q&A, all on the "model" queue: thin wrappers around
research/qa_services.py.

- qa_answer: answers one question without streaming (the page had no JavaScript).
- map-reduce: one qa_map_step per window-sized group, run in parallel as a chord whose
  callback qa_reduce writes the answer. Steps are idempotent (a note already written is
  kept; claims are conditional UPDATEs), so they run with acks_late and a redelivered step
  is harmless. A model error is retried with exponential backoff while it is retryable;
  then the question fails with the error's words, and the page offers Retry.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import Task, chord, shared_task
from celery.utils.time import get_exponential_backoff_interval

from research.qa import services as qa_services
from workspace.packing import PackingError
from workspace.runtime.errors import ModelRuntimeError

logger = logging.getLogger(__name__)

MODEL_QUEUE = "model"
MAX_RETRIES = 4
RETRY_BACKOFF = 5  # seconds, doubled each retry
RETRY_BACKOFF_MAX = 300


class QuestionTask(Task):
    """A Q&A task: an unexpected exception fails its question with the error's words
    (instead of leaving it "answering" until it goes stale)."""

    acks_late = True

    def on_failure(self, exc: Exception, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        question_id = args[0] if args else kwargs.get("question_id")
        attempt = args[1] if len(args) > 1 else kwargs.get("attempt")
        if question_id is None or attempt is None:
            return
        qa_services.question_fail(
            question_id=question_id,
            attempt=attempt,
            code=qa_services.ErrorCode.INTERRUPTED,
            message=f"Unexpected error in {self.name.rsplit('.', 1)[-1]}: "
            f"{type(exc).__name__}: {exc}",
        )


def _retry_or_fail(task: Task, exc: ModelRuntimeError, question_id: int, attempt: int) -> None:
    retries = task.request.retries
    if exc.retryable and retries < MAX_RETRIES:
        countdown = get_exponential_backoff_interval(
            factor=RETRY_BACKOFF, retries=retries, maximum=RETRY_BACKOFF_MAX, full_jitter=False
        )
        raise task.retry(exc=exc, countdown=countdown, max_retries=MAX_RETRIES)
    qa_services.question_fail(
        question_id=question_id,
        attempt=attempt,
        code=qa_services.error_code_for(exc),
        message=exc.message,
    )


@shared_task(bind=True, base=QuestionTask, name="research.qa_tasks.qa_answer")
def qa_answer(self: Task, question_id: int, attempt: int) -> None:
    try:
        qa_services.question_answer(question_id=question_id, attempt=attempt)
    except ModelRuntimeError as exc:
        _retry_or_fail(self, exc, question_id, attempt)


@shared_task(bind=True, base=QuestionTask, name="research.qa_tasks.qa_map_step")
def qa_map_step(self: Task, question_id: int, attempt: int, index: int) -> None:
    try:
        qa_services.map_step_run(question_id=question_id, attempt=attempt, index=index)
    except ModelRuntimeError as exc:
        _retry_or_fail(self, exc, question_id, attempt)
    except PackingError as exc:
        qa_services.question_fail(
            question_id=question_id,
            attempt=attempt,
            code=qa_services.ErrorCode.PACKING,
            message=str(exc),
        )


@shared_task(bind=True, base=QuestionTask, name="research.qa_tasks.qa_reduce")
def qa_reduce(self: Task, question_id: int, attempt: int) -> None:
    try:
        qa_services.reduce_run(question_id=question_id, attempt=attempt)
    except ModelRuntimeError as exc:
        _retry_or_fail(self, exc, question_id, attempt)


def start_map_reduce(*, question_id: int, attempt: int, groups: int) -> None:
    """Every group's map step in parallel, then the reduce step once all have finished.
    Map steps never raise after their last retry (they fail the question instead), so the
    chord always reaches qa_reduce, which does nothing for a failed question."""
    steps = [
        qa_map_step.si(question_id, attempt, index).set(queue=MODEL_QUEUE)
        for index in range(groups)
    ]
    chord(steps)(qa_reduce.si(question_id, attempt).set(queue=MODEL_QUEUE))


def send_answer(*, question_id: int, attempt: int) -> None:
    qa_answer.apply_async((question_id, attempt), queue=MODEL_QUEUE)
