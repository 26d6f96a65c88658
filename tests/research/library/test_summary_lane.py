"""When documents get their model summary: the cost shown before summarising, "when idle"
and "off" leaving documents ready and askable without one, and the low-priority lane that
summary tasks take (real Redis, real routing)."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from django.urls import reverse

from research.library import summary_lane
from research.library.search import chunk_search
from research.models import Chunk, Document, Project, Question, Thread
from tests.research.ingest_support import file_from, file_of, indexed_rows, upload
from workspace.celery import app
from workspace.local_redis import PrivateRedis, start_private_redis
from workspace.management.commands.runcarrel import INTERACTIVE_QUEUES, MAIN_QUEUES
from workspace.runtime import Message, use_runtime
from workspace.runtime.scripted import ScriptedRuntime

pytest_plugins = ["tests.research.ingest_fixtures"]  # fixtures: eager_celery, project
pytestmark = pytest.mark.django_db

Stage = Document.Stage
SummaryStatus = Document.SummaryStatus


class CountingModel:
    def __init__(self) -> None:
        self.calls = 0

    def runtime(self) -> ScriptedRuntime:
        def reply(messages: Sequence[Message]) -> str:
            self.calls += 1
            pages = re.findall(r"\[p\. (\d+)\]", messages[-1].content) or ["1"]
            return f"What the passage says [p. {pages[0]}]."

        return ScriptedRuntime(reply, context_window=128 * 1024)


def add_sources(project, user, shared_data, capture) -> None:
    upload(
        project,
        user,
        [
            file_from(shared_data / "papers" / "pdflatex-4-pages.pdf"),
            file_of("notes.md", b"# Field notes\n\nThe heron nests by the weir in April.\n"),
        ],
        capture,
    )


def test_the_cost_line_appears_before_summarising_and_later_leaves_documents_ready_without_summaries(  # noqa: E501
    eager_celery, signed_in_client, project, user, shared_data, django_capture_on_commit_callbacks
):
    summary_lane.project_set_summary_mode(project=project, mode=Project.SummaryMode.OFF)
    model = CountingModel()
    with use_runtime(model.runtime()):
        add_sources(project, user, shared_data, django_capture_on_commit_callbacks)
    assert model.calls == 0
    documents = list(Document.objects.filter(project=project))
    assert [(d.stage, d.summary, d.summary_status) for d in documents] == [
        (Stage.READY, "", SummaryStatus.PENDING)
    ] * 2
    assert all(indexed_rows(d) == d.chunk_count > 0 for d in documents)  # askable now
    assert chunk_search(query="heron weir", document_ids=[d.pk for d in documents])

    page = signed_in_client.get(reverse("research:project_detail", args=[project.pk]))
    text = " ".join(page.content.decode().split())
    passages = Chunk.objects.filter(document__project=project).count()
    calls = passages + 2  # one a passage, one reduction a document
    assert (
        "2 documents are ready without a model summary. Summarising: Reads 2 documents in "
        f"{calls} model calls: about " in text
    )
    assert text.index('data-testid="summary-cost"') < text.index('data-testid="document-list"')

    with use_runtime(model.runtime()), django_capture_on_commit_callbacks(execute=True):
        response = signed_in_client.post(
            reverse("research:project_summaries", args=[project.pk]),
            {"action": "start"},
            follow=True,
        )
    assert "Summarising 2 documents; questions go first." in response.content.decode()
    assert model.calls == calls
    assert {(d.stage, d.summary_status) for d in Document.objects.filter(project=project)} == {
        (Stage.READY, SummaryStatus.DONE)
    }
    assert 'data-testid="summary-cost"' not in response.content.decode()


def test_a_project_that_summarises_now_shows_no_waiting_cost_and_summarises_at_once(
    eager_celery, signed_in_client, project, user, shared_data, django_capture_on_commit_callbacks
):
    model = CountingModel()
    with use_runtime(model.runtime()):
        add_sources(project, user, shared_data, django_capture_on_commit_callbacks)
    assert model.calls > 0
    assert set(Document.objects.values_list("summary_status", flat=True)) == {SummaryStatus.DONE}
    page = signed_in_client.get(reverse("research:project_detail", args=[project.pk]))
    assert 'data-testid="summary-cost"' not in page.content.decode()


def test_the_summary_mode_is_chosen_on_the_project_page(signed_in_client, project):
    response = signed_in_client.post(
        reverse("research:project_summaries", args=[project.pk]),
        {"action": "mode", "summary_mode": "idle"},
        follow=True,
    )
    assert "Summaries of new documents: When the model is idle." in response.content.decode()
    project.refresh_from_db()
    assert project.summary_mode == Project.SummaryMode.IDLE


def test_when_idle_summaries_start_only_while_no_question_waits_and_a_few_at_a_time(
    eager_celery, project, user, shared_data, django_capture_on_commit_callbacks
):
    summary_lane.project_set_summary_mode(project=project, mode=Project.SummaryMode.IDLE)
    model = CountingModel()
    with use_runtime(model.runtime()):
        add_sources(project, user, shared_data, django_capture_on_commit_callbacks)
        assert model.calls == 0
        thread = Thread.objects.create(project=project, owner=user, title="Herons")
        question = Question.objects.create(thread=thread, text="Where does the heron nest?")
        assert summary_lane.summaries_start_when_idle() == 0

        Question.objects.filter(pk=question.pk).update(status="done")
        with django_capture_on_commit_callbacks(execute=True):
            assert summary_lane.summaries_start_when_idle(limit=1) == 1
    statuses = sorted(Document.objects.values_list("summary_status", flat=True))
    assert statuses == [SummaryStatus.DONE, SummaryStatus.PENDING]


@pytest.fixture
def broker(tmp_path) -> Iterator[PrivateRedis]:
    server = start_private_redis(workdir=tmp_path / "redis")
    yield server
    server.stop()


def test_summary_tasks_wait_behind_other_batch_work_and_questions_have_their_own_worker(
    broker,
):
    """Ten summary messages are queued first; a study job sent after them is taken first."""
    with app.connection_for_write(broker.url) as connection:
        for chunk in range(10):
            app.send_task("research.tasks.summarize_chunk", (1, 1, chunk), connection=connection)
        app.send_task("research.study_tasks.study_generate", (7, 1), connection=connection)
        app.send_task("research.qa_tasks.qa_answer", (3, 1), connection=connection)
        channel: Any = connection.default_channel  # kombu's virtual channel (basic_get)
        first = channel.basic_get("batch", no_ack=True)
        assert first.headers["task"] == "research.study_tasks.study_generate"
        assert channel.basic_get("batch", no_ack=True).headers["task"] == (
            "research.tasks.summarize_chunk"
        )
        assert channel.basic_get("model", no_ack=True).headers["task"] == (
            "research.qa_tasks.qa_answer"
        )
    assert INTERACTIVE_QUEUES == "model"  # a worker of its own: never busy with a summary
    assert MAIN_QUEUES.split(",")[0] == "model"
