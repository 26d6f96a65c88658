"""Celery tasks for stories: thin wrappers that take ids and call one service."""

from __future__ import annotations

from celery import shared_task

from stories.proposals import proposal_run_execute
from stories.summaries import summaries_refresh
from workspace.runtime.errors import ModelServerError, ModelTimeout, ModelUnavailable

RETRYABLE = (ModelUnavailable, ModelTimeout, ModelServerError)


@shared_task(
    acks_late=True,  # idempotent: it only writes summaries for turns still unsummarized
    autoretry_for=RETRYABLE,
    retry_backoff=True,
    retry_backoff_max=600,
    max_retries=5,
)
def summarize_campaign(campaign_id: int) -> int:
    return summaries_refresh(campaign_id=campaign_id)


@shared_task(bind=True, autoretry_for=RETRYABLE, retry_backoff=True, max_retries=3)
def propose_entities(self, run_id: int) -> int:
    from stories.models import ProposalRun

    try:
        return proposal_run_execute(run_id=run_id)
    except RETRYABLE:
        if self.request.retries < self.max_retries:  # let the retry claim the run again
            ProposalRun.objects.filter(pk=run_id).update(status=ProposalRun.Status.QUEUED)
        raise
