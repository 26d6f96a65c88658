"""A generation job run by a real `celery worker` process on the "batch" queue, against the
test database and Redis. The worker's backend is the scripted echo model, which answers in
prose: the job asks a bounded number of times, then fails and says why, and the page that
polls it shows the failure with the model's answer and a Retry button."""

from __future__ import annotations

import time

import pytest

from research.models import StudyJob
from research.study.generators.base import MAX_TRIES
from tests.conftest import database_locks
from tests.research.study.test_generation import study_project

pytestmark = [pytest.mark.worker, pytest.mark.slow]

HX = {"HTTP_HX_REQUEST": "true"}


def test_a_worker_runs_the_job_and_an_answer_that_is_not_json_fails_it_clearly(
    celery_worker_factory, signed_in_client, user
) -> None:
    project = study_project(user)
    paper = project.documents.get(title="Glacial erosion")
    worker = celery_worker_factory(queues="batch")
    response = signed_in_client.post(
        f"/research/{project.pk}/flashcards/generate/",
        {
            "scope": "document",
            "document": paper.pk,
            "count": "3",
            "kinds": "basic",
        },
    )
    assert response.status_code == 302
    job = StudyJob.objects.get()

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        job.refresh_from_db()  # before the poll: a job that ends after it is seen next time
        finished = not job.is_active
        poll = signed_in_client.get(f"/research/study/jobs/{job.pk}/?polling=1", **HX)
        assert poll.status_code == 200
        if finished:
            assert poll["HX-Refresh"] == "true"  # the page reloads to show the outcome
            break
        time.sleep(0.2)
    assert job.status == StudyJob.Status.FAILED, worker.log.read_text()[-3000:]
    assert job.error_code == StudyJob.ErrorCode.INVALID_OUTPUT
    assert job.invalid_outputs == MAX_TRIES
    assert "did not match the expected JSON after 3 tries" in job.error
    assert job.error_detail.startswith("Scripted answer to:")  # the model's own words
    assert "study_generate" in worker.log.read_text()

    page = signed_in_client.get(f"/research/{project.pk}/flashcards/").content.decode()
    assert 'data-status="failed"' in page and 'data-testid="job-retry"' in page
    assert "Scripted answer to:" in page


@pytest.mark.model
def test_a_job_whose_worker_is_killed_mid_call_shows_as_stuck_and_a_retry_runs_on_another(
    celery_worker_factory, signed_in_client, user
) -> None:
    """The first worker runs the real embedded model; killed (SIGKILL, its whole group)
    while the job is running, the page offers Retry and Discard at once (its heartbeat's
    process is gone), not after STALE_AFTER. The retry is taken by a second worker."""
    project = study_project(user)
    papers = list(project.documents.order_by("id")[:2])
    first = celery_worker_factory(queues="batch", env={"CARREL_BACKEND": "embedded"})
    response = signed_in_client.post(
        f"/research/{project.pk}/digests/",
        {"title": "Both", "documents": [paper.pk for paper in papers]},
    )
    assert response.status_code == 302
    job = StudyJob.objects.get()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        job.refresh_from_db()
        if job.status == StudyJob.Status.RUNNING and job.worker:
            break
        time.sleep(0.2)
    assert job.status == StudyJob.Status.RUNNING, first.log.read_text()[-3000:]
    assert job.worker.startswith(first.name)  # name@host
    first.kill9()

    page = signed_in_client.get(f"/research/digests/{job.digest_id}/").content.decode()
    assert 'data-stuck="true"' in page and "The worker running this job stopped" in page
    assert 'data-testid="job-retry"' in page and 'data-testid="job-discard"' in page

    second = celery_worker_factory(queues="batch")  # the scripted echo model: not JSON
    assert signed_in_client.post(f"/research/study/jobs/{job.pk}/retry/").status_code == 302
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        job.refresh_from_db()
        if job.attempt == 2 and not job.is_active:
            break
        time.sleep(0.2)
    # Not done in 60 s: say where it stood, what the worker logged, and who locks the database.
    why = (
        f"job: status {job.status}, attempt {job.attempt}, worker {job.worker!r}\n"
        f"{second.log.read_text()[-3000:]}\n{database_locks()}"
    )
    assert job.attempt == 2 and not job.is_active, why
    assert job.worker.startswith(second.name), why
    assert job.status == StudyJob.Status.FAILED  # the echo model's prose fails it clearly
    assert job.error_code == StudyJob.ErrorCode.INVALID_OUTPUT
