"""Without JavaScript, a worker on the "model" queue answers, and the page shows the saved
answer on reload. Real `celery worker` processes, real Redis; model words are scripted."""

from __future__ import annotations

import time

import pytest

from research.models import Question
from tests.research.qa.test_views import make_project

pytestmark = [pytest.mark.worker, pytest.mark.slow]


def wait_for(question: Question, *statuses: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        question.refresh_from_db()
        if question.status in statuses:
            return
        time.sleep(0.2)
    pytest.fail(f"question still {question.status!r} after {seconds} s")


def test_without_javascript_a_worker_answers_and_the_reloaded_page_shows_it(
    celery_worker_factory, signed_in_client, user
) -> None:
    project = make_project(user)
    worker = celery_worker_factory(queues="model")

    response = signed_in_client.post(
        f"/research/{project.pk}/ask/",
        {"question": "How do glaciers carve valleys?", "scope": "all"},
    )
    question = Question.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/research/threads/{question.thread_id}/#question-{question.pk}"

    wait_for(question, Question.Status.DONE, Question.Status.FAILED)
    assert question.status == Question.Status.DONE, worker.log.read_text()[-3000:]
    page = signed_in_client.get(response["Location"]).content.decode()
    assert "Scripted answer to: How do glaciers carve valleys?" in page
    assert question.answer.flagged_count == 0
