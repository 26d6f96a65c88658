"""Every structured study call against the real embedded model (Gemma 3 270M base, through
llama.cpp in a model process of its own), run the way a worker runs it: `job_run` with
CARREL_BACKEND=embedded, so the runtime is the one `get_runtime()` builds.

The schema built from the prompt constrains the JSON through llama.cpp's grammar, so even the
tiny demo model returns items that validate and cite pages it was shown. Each job must end
done, or failed with a message; and an answer that is not valid JSON (here: cut short by a
tiny output budget) must fail the job with the model's own words, leaving what was there
before as it was."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from django.db.models import Model
from django.test import override_settings

from research.models import ComparisonCell, Digest, Flashcard, Project, StudyJob, TimelineEvent
from research.study import services as study_services
from research.study.generators import comparisons, digests, flashcards, timelines
from tests.research.qa.test_views import add_document
from workspace.runtime import Message, get_runtime
from workspace.runtime.embedded import EmbeddedRuntime
from workspace.runtime.errors import ModelCrashed
from workspace.runtime.select import reset_runtime_cache

pytest_plugins = ["tests.research.ingest_fixtures"]  # eager_celery
pytestmark = [pytest.mark.model, pytest.mark.slow, pytest.mark.django_db]

Status = StudyJob.Status

MOON = [
    "The Moon orbits the Earth once every 27 days.\n\nIts surface is covered in craters.",
    "In 1969 Apollo 11 landed on the Moon; the crew returned samples of its rock.",
]
MARS = [
    "Mars is the fourth planet from the Sun.\n\nIts red colour comes from iron oxide dust.",
    "In 1976 the Viking 1 lander reached the surface of Mars and sent back pictures.",
]


@pytest.fixture(scope="module")
def embedded() -> Iterator[EmbeddedRuntime]:
    """CARREL_BACKEND=embedded, as a worker on a bare machine has it (a 4K window keeps
    the model process small)."""
    with override_settings(CARREL_BACKEND="embedded", EMBEDDED_N_CTX=4096):
        reset_runtime_cache()
        runtime = get_runtime()
        assert isinstance(runtime, EmbeddedRuntime)
        try:
            yield runtime
        finally:
            runtime.close()
            reset_runtime_cache()


@pytest.fixture
def space(user) -> Project:
    project = Project.objects.create(owner=user, title="Astronomy")
    add_document(project, "The Moon", MOON)
    add_document(project, "Mars", MARS)
    return project


def run(job: StudyJob) -> StudyJob:
    study_services.job_run(job_id=job.pk, attempt=job.attempt)  # no runtime: get_runtime()
    job.refresh_from_db()
    return job


def assert_ended_with_a_message(job: StudyJob, model: EmbeddedRuntime, pid: int | None) -> None:
    """Done, or failed with a code and words a person can act on; and the model process
    that answered is the one still running (no call crashed it)."""
    assert job.status in (Status.DONE, Status.FAILED), job.status
    if job.status == Status.FAILED:
        assert job.error_code and len(job.error) > 20, job.error
    else:
        assert job.message.startswith("Done: "), job.message
    assert model.process_id is not None
    assert pid is None or model.process_id == pid
    assert os.getpid() != model.process_id  # llama.cpp never ran in this (the worker's) process


def test_the_embedded_model_writes_a_flashcard_that_validates_and_cites_a_page_it_saw(
    embedded, space, user
) -> None:
    moon = space.documents.get(title="The Moon")
    job = study_services.flashcards_generate(project=space, user=user, documents=[moon], count=1)
    job = run(job)

    assert job.status == Status.DONE, f"{job.error}\n{job.error_detail}"
    assert job.invalid_outputs == 0  # the grammar kept the JSON to the schema
    made = Flashcard.objects.get()
    assert made.document_id == moon.pk
    assert made.pages and set(made.pages) <= {1, 2}
    assert len(made.front) >= 3 and made.generated
    assert job.message == "Done: 1 new card."
    assert_ended_with_a_message(job, embedded, None)


def test_the_embedded_model_fills_a_timeline_job_with_events_from_pages_it_saw(
    embedded, space, user
) -> None:
    moon = space.documents.get(title="The Moon")
    pid = embedded.process_id
    job = study_services.timeline_generate(project=space, user=user, documents=[moon], count=2)
    job = run(job)

    assert_ended_with_a_message(job, embedded, pid)
    assert job.status == Status.DONE, f"{job.error}\n{job.error_detail}"
    for event in TimelineEvent.objects.filter(project=space):
        assert event.generated and event.title
        assert {(s.document_id, s.page) for s in event.sources.all()} <= {
            (moon.pk, 1),
            (moon.pk, 2),
        }
    assert job.created_count == TimelineEvent.objects.filter(project=space).count()


def test_the_embedded_model_fills_every_cell_of_a_comparison_or_says_why_not(
    embedded, space, user
) -> None:
    papers = list(space.documents.order_by("id"))
    pid = embedded.process_id
    job = study_services.comparison_start(
        project=space, user=user, title="", documents=papers, aspects=["Subject", "Dates"]
    )
    job = run(job)

    assert_ended_with_a_message(job, embedded, pid)
    assert job.status == Status.DONE, f"{job.error}\n{job.error_detail}"
    cells = ComparisonCell.objects.filter(comparison=job.comparison)
    assert {(c.document_id, c.aspect) for c in cells} == {
        (paper.pk, aspect) for paper in papers for aspect in ("Subject", "Dates")
    }
    for cell in cells:
        assert set(cell.pages) <= {1, 2} and len(cell.text) <= comparisons.CELL_CHARS


def test_the_embedded_model_writes_a_digest_across_two_documents_with_its_citations(
    embedded, space, user
) -> None:
    papers = list(space.documents.order_by("id"))
    pid = embedded.process_id
    job = study_services.digest_start(project=space, user=user, title="Planets", documents=papers)
    job = run(job)

    assert_ended_with_a_message(job, embedded, pid)
    assert job.status == Status.DONE, f"{job.error}\n{job.error_detail}"
    digest = Digest.objects.get()
    assert digest.body.strip() and digest.title == "Planets"
    assert all(not citation.get("flagged") for citation in digest.citations)


@pytest.mark.parametrize("kind", ["flashcards", "timeline", "comparison", "digest"])
def test_json_the_embedded_model_leaves_unfinished_fails_the_job_clearly_and_loses_nothing(
    embedded, space, user, monkeypatch, kind
) -> None:
    """A budget of a few tokens cuts every answer mid-JSON: after its tries the job fails
    with the model's raw words, and what the earlier run made is still there."""
    moon = space.documents.get(title="The Moon")
    papers = list(space.documents.order_by("id"))
    pid = embedded.process_id
    before: Model
    if kind == "flashcards":
        before = flashcards.flashcard_create(
            project=space, kind="basic", front="How long is the Moon's orbit?", back="27 days.",
            document=moon, pages=[1], tags=[],
        )  # fmt: skip
        monkeypatch.setattr(flashcards, "CARD_OUTPUT_TOKENS", 8)
        job = study_services.flashcards_generate(project=space, user=user, documents=[moon])
    elif kind == "timeline":
        before = timelines.event_create_from(
            project=space,
            draft=timelines.EventDraft(
                "Apollo 11", "", timelines.When(1969), None, "year", moon.pk, [2]
            ),
            job=None,
        )
        monkeypatch.setattr(timelines, "EVENT_OUTPUT_TOKENS", 8)
        job = study_services.timeline_generate(project=space, user=user, documents=[moon])
    elif kind == "comparison":
        comparison = comparisons.comparison_create(
            project=space, title="Planets", documents=papers, aspects=["Subject"]
        )
        before = ComparisonCell.objects.create(
            comparison=comparison,
            document=moon,
            aspect="Subject",
            text="The Moon.",
            pages=[1],
            generated=True,
        )
        monkeypatch.setattr(comparisons, "CELL_OUTPUT_TOKENS", 8)
        job = study_services.comparison_fill(comparison=comparison, user=user)
    else:
        digest = digests.digest_create(project=space, title="Planets", documents=papers)
        Digest.objects.filter(pk=digest.pk).update(body="What the last run wrote.")
        before = digest = Digest.objects.get(pk=digest.pk)
        monkeypatch.setattr(digests, "DIGEST_OUTPUT_TOKENS", 8)
        job = study_services.digest_regenerate(digest=digest, user=user)
    job = run(job)

    assert_ended_with_a_message(job, embedded, pid)
    assert job.status == Status.FAILED
    assert job.error_code == StudyJob.ErrorCode.INVALID_OUTPUT
    assert "did not match the expected JSON after 3 tries" in job.error
    assert job.error_detail.lstrip().startswith("{")  # the model's own (cut) answer is shown
    assert job.invalid_outputs == 3
    kept = type(before).objects.get(pk=before.pk)
    for field in ("title", "text", "body", "front", "back", "pages"):
        if hasattr(before, field):
            assert getattr(kept, field) == getattr(before, field), field


def test_a_model_process_that_segfaults_mid_job_fails_only_that_call_and_the_task_retries_it(
    embedded, space, user, monkeypatch, eager_celery, django_capture_on_commit_callbacks
) -> None:
    """llama.cpp crashing (SIGSEGV to the model process, a second into the call) costs one
    call: the worker's process lives on, the task retries, and the job still ends with a
    message; the model process is a new one."""
    moon = space.documents.get(title="The Moon")
    structured = embedded.structured
    crashes: list[str] = []

    def crash_once(*args: Any, **kwargs: Any) -> Any:
        if not crashes:
            pid = embedded.process_id
            assert pid is not None
            threading.Timer(1.0, os.kill, (pid, signal.SIGSEGV)).start()
        try:
            return structured(*args, **kwargs)
        except ModelCrashed as exc:
            crashes.append(exc.message)
            raise

    if embedded.process_id is None:  # run alone: load the model first
        embedded.chat([Message("user", "Hello")], max_tokens=1)
    monkeypatch.setattr(embedded, "structured", crash_once)
    first_pid = embedded.process_id
    with django_capture_on_commit_callbacks(execute=True):
        job = study_services.flashcards_generate(
            project=space, user=user, documents=[moon], count=1
        )
    job.refresh_from_db()

    assert crashes, "the model process was not killed during the call"
    assert job.attempt == 1  # the task retried the call; nobody had to press Retry
    assert_ended_with_a_message(job, embedded, None)
    assert embedded.process_id != first_pid
