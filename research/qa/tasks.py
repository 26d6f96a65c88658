"""Celery tasks of research Q&A, all on the "model" queue: thin wrappers around services.py.

- qa_answer: answers one question, streaming its tokens into the question's Redis Stream
  (the page's SSE view relays them); every question is answered here, never in the web
  process. Stops at the next chunk when the question is cancelled.
- map-reduce: one qa_map_step per window-sized group, run in parallel as a chord whose
  callback qa_reduce writes the answer. Steps are idempotent (a note already written is
  kept; claims are conditional UPDATEs), so they run with acks_late and a redelivered step
  is harmless.

Retries and failures are the job base's (workspace/jobs/tasks.py): a retryable model error
is retried with exponential backoff; then, or for any other error, the question fails with
the error's words and the page offers Retry.
"""

from __future__ import annotations

from celery import shared_task

from research.qa import services
from workspace.jobs import ModelJobTask


class QuestionTask(ModelJobTask):
    id_arg = "question_id"

    def fail(self, job_id: int, attempt: int | None, code: str, message: str) -> None:
        if attempt is not None:
            services.question_fail(question_id=job_id, attempt=attempt, code=code, message=message)


@shared_task(base=QuestionTask, name="research.qa_tasks.qa_answer")
def qa_answer(question_id: int, attempt: int) -> None:
    services.question_answer(question_id=question_id, attempt=attempt)


@shared_task(base=QuestionTask, name="research.qa_tasks.qa_map_step")
def qa_map_step(question_id: int, attempt: int, index: int) -> None:
    services.map_step_run(question_id=question_id, attempt=attempt, index=index)


@shared_task(base=QuestionTask, name="research.qa_tasks.qa_reduce")
def qa_reduce(question_id: int, attempt: int) -> None:
    services.reduce_run(question_id=question_id, attempt=attempt)
