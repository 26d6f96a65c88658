"""Celery tasks of the study tools, on the "batch" queue: thin wrappers around services.py.

study_generate runs one generation job. It is idempotent (the claim is a conditional
UPDATE, each unit is saved with the counter that says it is done), so it runs with
acks_late and a redelivered message is harmless. Retries and failures are the job base's
(workspace/jobs/tasks.py): a retryable model error (server down, timeout) is retried with
exponential backoff, then the job fails with the error's words. Invalid JSON is retried
inside the job, a bounded number of times (generators/base.py).
"""

from __future__ import annotations

from celery import shared_task

from research.study import services
from workspace.jobs import ModelJobTask


class StudyTask(ModelJobTask):
    id_arg = "job_id"

    def fail(self, job_id: int, attempt: int | None, code: str, message: str) -> None:
        if attempt is not None:
            services.job_fail(job_id=job_id, attempt=attempt, code=code, message=message)


@shared_task(bind=True, base=StudyTask, name="research.study_tasks.study_generate")
def study_generate(self: StudyTask, job_id: int, attempt: int) -> None:
    # The worker's node name goes on the job: a running job whose worker has no live
    # heartbeat is stuck (research.study.selectors.job_is_stuck). Run inline (eager), there
    # is no worker and no heartbeat to look for.
    worker = "" if self.request.is_eager else (self.request.hostname or "")
    services.job_run(job_id=job_id, attempt=attempt, worker=worker)
