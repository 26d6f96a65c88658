"""Every question is answered by a worker on the "model" queue: without JavaScript the page
shows the saved answer on reload; with it, the SSE view relays the tokens the worker
streams; Cancel stops a running answer. Real `celery worker` processes, real Redis; model
words are scripted (CARREL_BACKEND=scripted) or come from the fake Ollama server."""

from __future__ import annotations

import html
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from django.conf import settings
from django.db import connection

from research.models import Answer, Question
from research.qa import views
from tests.fakes.ollama_server import FakeOllama
from tests.research.qa.test_views import events_of, make_project
from workspace.jobs.streams import stream_key, stream_read
from workspace.runtime import use_runtime
from workspace.runtime.scripted import ScriptedRuntime

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


class NoModelHere(ScriptedRuntime):
    """The web process's model: any call to it fails the test (the worker must answer)."""

    def __init__(self) -> None:
        super().__init__(lambda messages: pytest.fail("a model was called in the web process"))


def read_stream(client, question: Question, into: list[bytes]) -> threading.Thread:
    """Read the question's SSE stream in a thread (the browser's side), chunk by chunk."""

    def run() -> None:
        try:
            response = client.get(f"/research/questions/{question.pk}/stream/")
            into.extend(response.streaming_content)
        finally:
            connection.close()

    reader = threading.Thread(target=run)
    reader.start()
    return reader


def test_a_worker_answered_question_streams_its_tokens_to_the_sse_view(
    celery_worker_factory, signed_in_client, user, monkeypatch
) -> None:
    monkeypatch.setattr(views, "IDLE_MS", 200)
    project = make_project(user)
    with use_runtime(NoModelHere()):
        response = signed_in_client.post(
            f"/research/{project.pk}/ask/",
            {"question": "How do glaciers carve valleys?", "scope": "all"},
            HTTP_HX_REQUEST="true",
        )
        assert response.status_code == 204
        question = Question.objects.get()
        body: list[bytes] = []
        reader = read_stream(signed_in_client, question, body)
        while not body:  # the page waits for a worker, kept alive by comments
            time.sleep(0.05)
        assert body[0].startswith(b": waiting for the model")
        worker = celery_worker_factory(queues="model")
        reader.join(timeout=120)
    assert not reader.is_alive()

    question.refresh_from_db()
    assert question.status == Question.Status.DONE, worker.log.read_text()[-3000:]
    streamed = events_of(b"".join(body))
    assert streamed[-1][0] == "done" and 'data-testid="answer"' in streamed[-1][1]
    tokens = [data for name, data in streamed if name == "token"]
    assert len(tokens) > 3, "the answer came piece by piece"
    assert html.unescape("".join(tokens)) == question.answer.text
    assert question.answer.text.startswith("Scripted answer to: How do glaciers carve valleys?")


@pytest.fixture
def slow_model(settings) -> Iterator[FakeOllama]:
    fake = FakeOllama()
    fake.add_model(settings.OLLAMA_MODEL)
    fake.reply = " ".join(f"word{n}" for n in range(LONG_REPLY_WORDS))
    fake.chunk_delay = 0.1  # a whole answer would take 30 s
    fake.start()
    try:
        yield fake
    finally:
        fake.release()
        fake.stop()


LONG_REPLY_WORDS = 300


def test_cancel_stops_a_running_answer_and_retry_answers_it_again(
    celery_worker_factory, signed_in_client, user, slow_model
) -> None:
    project = make_project(user)
    worker = celery_worker_factory(
        queues="model", env={"CARREL_BACKEND": "ollama", "OLLAMA_HOST": slow_model.url}
    )
    with use_runtime(NoModelHere()):
        signed_in_client.post(
            f"/research/{project.pk}/ask/",
            {"question": "How do glaciers carve valleys?", "scope": "all"},
            HTTP_HX_REQUEST="true",
        )
        question = Question.objects.get()
        entries = stream_read(kind="question", item_id=question.pk, timeout_seconds=60)
        first = next(entry for entry in entries if not entry.idle)
        assert first.event == "token", worker.log.read_text()[-3000:]

        cancelled = signed_in_client.post(
            f"/research/questions/{question.pk}/cancel/", HTTP_HX_REQUEST="true"
        )
        assert "You cancelled this question" in cancelled.content.decode()
        question.refresh_from_db()
        assert question.error_code == Question.ErrorCode.CANCELLED
        assert not Answer.objects.filter(question=question).exists()

        # One worker process: the next question runs only once the cancelled one stopped.
        slow_model.reply, slow_model.chunk_delay = "Braided rivers, fed by meltwater.", 0.0
        signed_in_client.post(
            f"/research/{project.pk}/ask/",
            {"question": "What feeds braided rivers?", "scope": "all"},
            HTTP_HX_REQUEST="true",
        )
        second = Question.objects.get(text="What feeds braided rivers?")
        wait_for(second, Question.Status.DONE, Question.Status.FAILED)
        assert second.status == Question.Status.DONE, worker.log.read_text()[-3000:]
        key = stream_key(kind="question", item_id=question.pk)
        written: Any = redis.Redis.from_url(settings.REDIS_URL).xrange(key)
        tokens = [fields for _, fields in written if fields[b"event"] == b"token"]
        assert 0 < len(tokens) < LONG_REPLY_WORDS / 2, "the writer stopped soon after the cancel"
        question.refresh_from_db()
        assert question.status == Question.Status.FAILED

        signed_in_client.post(f"/research/questions/{question.pk}/retry/")
        question.refresh_from_db()
        assert question.attempt == 2
        wait_for(question, Question.Status.DONE, Question.Status.FAILED)
    assert question.status == Question.Status.DONE, worker.log.read_text()[-3000:]
    assert question.answer.text == "Braided rivers, fed by meltwater."
