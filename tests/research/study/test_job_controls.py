"""A study job whose worker died, or that failed, offers Retry and Discard; and one person
may have only so many study jobs in flight (CARREL_MAX_JOBS_IN_FLIGHT)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import redis
from django.conf import settings
from django.utils import timezone

from research.models import Comparison, Digest, Flashcard, StudyJob
from research.study import selectors
from research.study import services as study_services
from research.study.generators import flashcards
from tests.research.study.test_generation import document, study_project
from workspace.heartbeat import HEARTBEAT_PREFIX

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}
Status = StudyJob.Status


@pytest.fixture
def project(user):
    return study_project(user)


@pytest.fixture
def heartbeats() -> Iterator[redis.Redis]:
    """The broker's worker heartbeats, emptied before and after the test."""
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)

    def clear() -> None:
        for key in client.scan_iter(match=f"{HEARTBEAT_PREFIX}*"):
            client.delete(key)

    clear()
    yield client
    clear()


def beat(client: redis.Redis, worker: str, pid: int) -> None:
    """What WorkerHeartbeat writes for a worker on this machine."""
    payload = json.dumps({"pid": pid, "host": socket.gethostname()})
    client.set(f"{HEARTBEAT_PREFIX}{worker}", payload, ex=30)


def dead_pid() -> int:
    """A process id that no process has (a child that has exited and been reaped)."""
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    return pid


def running_job(project, user, *, worker: str) -> StudyJob:
    job = StudyJob.objects.create(
        project=project,
        created_by=user,
        kind=StudyJob.Kind.FLASHCARDS,
        label="Glacial erosion",
        units=[{"document_id": document(project, "Glacial erosion").pk}],
        status=Status.RUNNING,
        worker=worker,
        message="Asking the model about “Glacial erosion”…",
    )
    return job


# -- stuck: a worker with no live heartbeat --------------------------------------------------


def test_a_running_job_whose_worker_has_a_live_heartbeat_shows_progress_and_no_buttons(
    signed_in_client, project, user, heartbeats
) -> None:
    beat(heartbeats, "alive@here", os.getpid())
    job = running_job(project, user, worker="alive@here")
    page = signed_in_client.get(f"/research/{project.pk}/flashcards/").content.decode()
    assert "Asking the model about “Glacial erosion”…" in page
    assert 'data-stuck="true"' not in page
    assert 'data-testid="job-retry"' not in page and 'data-testid="job-discard"' not in page
    assert not study_services.job_discard(job=job)  # a live job is not thrown away
    assert not study_services.job_retry(job=job)
    assert StudyJob.objects.get(pk=job.pk).attempt == 1


def test_a_running_job_whose_worker_died_shows_as_stuck_with_retry_and_discard_at_once(
    signed_in_client, project, user, heartbeats
) -> None:
    beat(heartbeats, "killed@here", dead_pid())  # its heartbeat has not expired yet
    killed = running_job(project, user, worker="killed@here")
    vanished = running_job(project, user, worker="vanished@here")  # no heartbeat left at all
    page = signed_in_client.get(f"/research/{project.pk}/flashcards/").content.decode()
    assert page.count('data-stuck="true"') == 2
    assert "The worker running this job stopped" in page
    for job in (killed, vanished):
        assert f'action="/research/study/jobs/{job.pk}/retry/"' in page
        assert f'action="/research/study/jobs/{job.pk}/discard/"' in page
    # the polled partial says the same
    partial = signed_in_client.get(f"/research/study/jobs/{killed.pk}/?polling=1", **HX)
    assert 'data-stuck="true"' in partial.content.decode()


def test_when_redis_cannot_say_which_workers_live_no_job_is_called_stuck(
    project, user, monkeypatch
) -> None:
    job = running_job(project, user, worker="somewhere@else")

    def down() -> dict[str, dict[str, object]]:
        raise redis.ConnectionError("Connection refused")

    monkeypatch.setattr(selectors, "worker_heartbeats", down)
    assert selectors.workers_alive() is None
    assert not selectors.job_view(job).stuck


def test_retrying_a_job_whose_worker_died_starts_a_new_attempt_at_once(
    signed_in_client, project, user, heartbeats, django_capture_on_commit_callbacks
) -> None:
    job = running_job(project, user, worker="gone@here")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = signed_in_client.post(f"/research/study/jobs/{job.pk}/retry/", **HX)
    assert response.status_code == 200
    job.refresh_from_db()
    assert (job.status, job.attempt, job.worker) == (Status.QUEUED, 2, "")
    assert len(callbacks) == 1  # sent to a worker once the retry commits
    assert 'data-stuck="true"' not in response.content.decode()
    # the dead worker's run is fenced off: its attempt writes nothing any more
    study_services.job_run(job_id=job.pk, attempt=1, runtime=None)
    assert StudyJob.objects.get(pk=job.pk).status == Status.QUEUED


def test_discarding_a_stuck_job_removes_it_and_keeps_what_it_made(
    signed_in_client, project, user, heartbeats
) -> None:
    job = running_job(project, user, worker="gone@here")
    card = flashcards.flashcard_create(
        project=project,
        kind="basic",
        front="What carves valleys?",
        back="Glaciers.",
        document=document(project, "Glacial erosion"),
        pages=[1],
        tags=[],
    )
    Flashcard.objects.filter(pk=card.pk).update(job=job, generated=True)
    response = signed_in_client.post(f"/research/study/jobs/{job.pk}/discard/", **HX)
    assert response.status_code == 200 and response.content == b""  # its card goes
    assert not StudyJob.objects.filter(pk=job.pk).exists()
    card.refresh_from_db()
    assert card.job_id is None and card.front == "What carves valleys?"
    # the lost run's attempt finds no row and does nothing
    study_services.job_run(job_id=job.pk, attempt=job.attempt, runtime=None)
    assert not StudyJob.objects.filter(pk=job.pk).exists()


def test_a_failed_job_offers_discard_and_without_javascript_it_leads_back_to_its_page(
    signed_in_client, project, user
) -> None:
    digest = Digest.objects.create(project=project, title="Nature", document_ids=[])
    job = StudyJob.objects.create(
        project=project,
        created_by=user,
        kind=StudyJob.Kind.DIGEST,
        label="Nature",
        digest=digest,
        status=Status.FAILED,
        error_code=StudyJob.ErrorCode.CRASHED,
        error="The model process stopped (signal 11) while answering.",
    )
    page = signed_in_client.get(f"/research/digests/{digest.pk}/").content.decode()
    assert "The model crashed" in page and "signal 11" in page
    assert 'data-testid="job-retry"' in page and 'data-testid="job-discard"' in page
    response = signed_in_client.post(f"/research/study/jobs/{job.pk}/discard/", follow=True)
    assert response.redirect_chain[-1][0] == f"/research/digests/{digest.pk}/"
    assert "Job discarded" in response.content.decode()
    assert not StudyJob.objects.exists() and Digest.objects.filter(pk=digest.pk).exists()


def test_a_job_still_working_or_done_is_not_discarded(signed_in_client, project, user) -> None:
    queued = StudyJob.objects.create(
        project=project, created_by=user, kind=StudyJob.Kind.FLASHCARDS, label="x"
    )
    done = StudyJob.objects.create(
        project=project, created_by=user, kind=StudyJob.Kind.FLASHCARDS, label="y",
        status=Status.DONE, message="Done: 2 new cards.",
    )  # fmt: skip
    for job in (queued, done):
        response = signed_in_client.post(f"/research/study/jobs/{job.pk}/discard/", follow=True)
        assert "was kept" in response.content.decode()
    assert StudyJob.objects.count() == 2


def test_a_job_silent_for_longer_than_stale_after_can_be_discarded(project, user) -> None:
    job = running_job(project, user, worker="")
    assert not study_services.job_discard(job=job)
    long_ago = timezone.now() - StudyJob.STALE_AFTER - timedelta(minutes=1)
    StudyJob.objects.filter(pk=job.pk).update(updated_at=long_ago)
    job.refresh_from_db()
    assert study_services.job_discard(job=job)


# -- fair use ----------------------------------------------------------------------------------


def start_cards(client: Any, project: Any) -> Any:
    return client.post(
        f"/research/{project.pk}/flashcards/generate/",
        {
            "scope": "document",
            "document": document(project, "Glacial erosion").pk,
            "count": "3",
            "kinds": "basic",
        },
        follow=True,
    )


def test_a_person_at_their_cap_of_jobs_in_flight_is_refused_with_a_clear_message(
    signed_in_client, project, user, settings
) -> None:
    settings.CARREL_MAX_JOBS_IN_FLIGHT = 2
    for _ in range(2):
        start_cards(signed_in_client, project)
    assert StudyJob.objects.filter(status=Status.QUEUED).count() == 2
    response = start_cards(signed_in_client, project)
    page = response.content.decode()
    assert "You already have 2 study jobs waiting or running" in page
    assert "at most 2 at once" in page
    assert StudyJob.objects.count() == 2
    # a comparison refused makes no table either
    response = signed_in_client.post(
        f"/research/{project.pk}/comparisons/",
        {
            "title": "",
            "documents": [d.pk for d in project.documents.all()[:2]],
            "aspects": ["Method"],
        },
        follow=True,
    )
    assert "at most 2 at once" in response.content.decode()
    assert not Comparison.objects.exists()


def test_finished_failed_and_long_silent_jobs_do_not_count_against_the_cap(
    signed_in_client, project, user, other_user, settings
) -> None:
    settings.CARREL_MAX_JOBS_IN_FLIGHT = 1
    long_ago = timezone.now() - StudyJob.STALE_AFTER - timedelta(minutes=1)
    for status in (Status.DONE, Status.FAILED, Status.RUNNING):
        StudyJob.objects.create(
            project=project, created_by=user, kind=StudyJob.Kind.TIMELINE, label="t",
            status=status,
        )  # fmt: skip
    StudyJob.objects.filter(status=Status.RUNNING).update(updated_at=long_ago)
    StudyJob.objects.create(  # another person's job is theirs
        project=project, created_by=other_user, kind=StudyJob.Kind.TIMELINE, label="t"
    )
    start_cards(signed_in_client, project)
    assert StudyJob.objects.filter(created_by=user, status=Status.QUEUED).count() == 1


def test_retrying_a_failed_job_at_the_cap_is_refused_and_leaves_it_failed(
    signed_in_client, project, user, settings
) -> None:
    settings.CARREL_MAX_JOBS_IN_FLIGHT = 1
    failed = StudyJob.objects.create(
        project=project, created_by=user, kind=StudyJob.Kind.FLASHCARDS, label="x",
        status=Status.FAILED, error="The model crashed.",
    )  # fmt: skip
    start_cards(signed_in_client, project)
    response = signed_in_client.post(f"/research/study/jobs/{failed.pk}/retry/", follow=True)
    assert "at most 1 at once" in response.content.decode()
    failed.refresh_from_db()
    assert (failed.status, failed.attempt) == (Status.FAILED, 1)


def test_no_cap_when_the_setting_is_zero(signed_in_client, project, settings) -> None:
    settings.CARREL_MAX_JOBS_IN_FLIGHT = 0
    for _ in range(4):
        start_cards(signed_in_client, project)
    assert StudyJob.objects.count() == 4


def _cap_in_a_fresh_process(value: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "CARREL_MAX_JOBS_IN_FLIGHT"}
    if value is not None:
        env["CARREL_MAX_JOBS_IN_FLIGHT"] = value
    env["DJANGO_SETTINGS_MODULE"] = "workspace.settings"
    code = "from django.conf import settings; print(settings.CARREL_MAX_JOBS_IN_FLIGHT)"
    return subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )


def test_the_cap_defaults_to_three_and_a_lab_administrator_sets_it_by_environment() -> None:
    assert _cap_in_a_fresh_process(None).stdout.strip() == "3"
    assert _cap_in_a_fresh_process("7").stdout.strip() == "7"
    wrong = _cap_in_a_fresh_process("lots")
    assert wrong.returncode != 0
    assert "CARREL_MAX_JOBS_IN_FLIGHT must be an integer" in wrong.stderr
