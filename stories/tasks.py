"""Celery tasks for stories: each takes an id and calls one service.

Failures go through the model-job base (workspace/jobs/tasks.py): a model error that is
`retryable` (server down, timeout) is retried with exponential backoff; one that is not,
retries used up, or an unexpected exception ends in `fail`. Services send these tasks by
name (`workspace.jobs.task_signature`), so this module imports them and never the reverse.
"""

from __future__ import annotations

from celery import shared_task

from stories.proposals import proposal_run_execute, proposal_run_fail, proposal_run_requeue
from stories.summaries import summaries_refresh
from stories.turns import turn_execute, turn_fail_unfinished
from workspace.jobs import ModelJobTask
from workspace.runtime.errors import ModelRuntimeError


class CampaignSummaryTask(ModelJobTask):
    """Summaries have no row of their own: a failure is logged (by the base) and the next
    turn asks again, since `summaries_refresh` always releases the campaign's claim."""

    id_arg = "campaign_id"
    attempt_arg = None
    model_max_retries = 5
    model_retry_backoff_max = 600


class ProposalRunTask(ModelJobTask):
    """A proposal run's row says it is waiting for a retry, or why it failed."""

    id_arg = "run_id"
    attempt_arg = None
    model_max_retries = 3

    def retrying(
        self, job_id: int, attempt: int | None, exc: ModelRuntimeError, countdown: float,
        retry_number: int,
    ) -> None:  # fmt: skip
        message = f"{exc.message} Trying again in {countdown:.0f} s (retry {retry_number})."
        proposal_run_requeue(run_id=job_id, message=message)

    def fail(self, job_id: int, attempt: int | None, code: str, message: str) -> None:
        super().fail(job_id, attempt, code, message)
        proposal_run_fail(run_id=job_id, error=message)


class TurnTask(ModelJobTask):
    """A turn is told once: the run catches model errors itself and fails the turn with
    the reason (a retry would tell it twice), so nothing is retried here. An unexpected
    exception fails the turn too, and its stream is ended by `turn_execute`. A worker that
    dies mid-turn leaves it narrating or proposing; once its campaign lease expires the page
    offers Retry and Discard (stories.turns.turn_is_stuck)."""

    id_arg = "turn_id"
    attempt_arg = None
    model_max_retries = 0

    def fail(self, job_id: int, attempt: int | None, code: str, message: str) -> None:
        super().fail(job_id, attempt, code, message)
        turn_fail_unfinished(turn_id=job_id, message=message)


@shared_task(base=TurnTask, name="stories.tasks.run_turn")
def run_turn(turn_id: int) -> str:
    """Claimed (pending → narrating, numbered), so a repeated message does nothing."""
    return turn_execute(turn_id=turn_id)


@shared_task(base=CampaignSummaryTask, name="stories.tasks.summarize_campaign")
def summarize_campaign(campaign_id: int) -> int:
    """Idempotent: it only writes summaries for turns still unsummarized."""
    return summaries_refresh(campaign_id=campaign_id)


@shared_task(base=ProposalRunTask, name="stories.tasks.propose_entities")
def propose_entities(run_id: int) -> int:
    """Claimed (queued → running), so a repeated message does nothing."""
    return proposal_run_execute(run_id=run_id)
