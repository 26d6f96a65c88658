"""Map-reduce answers: a question about every document, over material far beyond the window
with no summaries to answer from, is read in window-sized parts (a chord of map steps), then
combined by a reduce step; the page shows progress meanwhile.

The answer task and the chord run in-process (Celery's eager mode), each sent when the test
lets its on-commit callbacks run, so the test can script the model's words and look at the
page between the steps; tests/research/qa/test_worker.py runs real worker processes."""

from __future__ import annotations

import html
from collections.abc import Iterator, Sequence

import pytest
from django.test import TestCase

from research.models import MapNote, Project, Question
from tests.research.qa.test_views import HX, add_document, events
from workspace.celery import app
from workspace.packing import ContextMap
from workspace.packing.cost import plan_cost
from workspace.runtime import use_runtime
from workspace.runtime.scripted import ScriptedRuntime
from workspace.runtime.tokenizer import get_tokenizer
from workspace.runtime.types import Message

pytestmark = [pytest.mark.django_db]

WINDOW = 4096


def long_pages(topic: str, count: int) -> list[str]:
    return [
        "\n\n".join(
            f"Page {n} of the {topic} survey, paragraph {p}: the {topic} record for station "
            f"{n}-{p} lists readings, dates and observers in careful detail." * 3
            for p in range(4)
        )
        for n in range(1, count + 1)
    ]


@pytest.fixture
def big_project(user) -> Project:
    project = Project.objects.create(owner=user, title="Surveys")
    add_document(project, "Glacier survey", long_pages("glacier", 40), target=300)
    add_document(project, "Tide survey", long_pages("tide", 40), target=300)
    project.documents.update(summary="")  # no summaries yet: only map-reduce reads all
    return project


QUESTION = "How are readings logged across all the documents?"


@pytest.fixture
def eager() -> Iterator[None]:
    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    try:
        yield
    finally:
        app.conf.task_always_eager = previous


def reply(messages: Sequence[Message]) -> str:
    """Map steps note the first page marker they were shown; the reduce step cites it."""
    system = messages[0].content
    text = messages[1].content
    if system.startswith("You are reading one part"):
        start = text.index("\n[") + 1
        return "Readings are logged per station " + text[start : text.index("]", start) + 1]
    notes = [line for line in text.splitlines() if line.startswith("Readings")]
    return f"From {len(notes)} parts: " + notes[0].removeprefix("Readings are logged per station ")


def ask_and_pack(client, project: Project) -> tuple[Question, list]:
    """Ask; the answer task packs the question (map-reduce), the asker chooses to run it,
    and the task sends the chord, which is held back: the returned callbacks send it."""
    with TestCase.captureOnCommitCallbacks() as sent:
        response = client.post(
            f"/research/{project.pk}/ask/", {"question": QUESTION, "scope": "all"}, **HX
        )
    assert response.status_code == 204
    for send in sent:
        send()
    question = Question.objects.get()
    assert question.status == Question.Status.CONFIRM, "map-reduce waits for the asker"
    with TestCase.captureOnCommitCallbacks() as sent:
        chosen = client.post(
            f"/research/questions/{question.pk}/route/", {"choice": "map_reduce"}, **HX
        )
    assert chosen.status_code == 200
    with TestCase.captureOnCommitCallbacks() as chord:
        for send in sent:
            send()
    question.refresh_from_db()
    return question, chord


def test_far_beyond_the_window_the_answer_is_read_in_parts_then_combined(
    signed_in_client, big_project, eager
) -> None:
    runtime = ScriptedRuntime(reply, context_window=WINDOW)
    with use_runtime(runtime):
        question, chord = ask_and_pack(signed_in_client, big_project)
        streamed = events(signed_in_client.get(f"/research/questions/{question.pk}/stream/"))
        for send in chord:
            send()
    assert [name for name, _ in streamed] == ["done"], "map-reduce is polled, not streamed"
    assert 'data-testid="map-reduce-progress"' in streamed[0][1]

    question.refresh_from_db()
    groups = question.context_map["groups"]
    assert question.strategy == "map_reduce" and len(groups) >= 4
    assert question.status == Question.Status.DONE
    assert (question.groups_done, question.groups_total) == (len(groups), len(groups))
    assert MapNote.objects.filter(question=question).count() == len(groups)
    map_calls = [call for call in runtime.calls if call[0].content.startswith("You are reading")]
    assert len(map_calls) == len(groups)
    for call in runtime.calls:
        assert get_tokenizer().count_messages(call) <= question.context_map["prompt_limit"]
    answer = question.answer
    assert answer.text.startswith(f"From {len(groups)} parts: [Glacier survey, p. 1]")
    assert answer.flagged_count == 0

    page = signed_in_client.get(f"/research/questions/{question.pk}/context/").content.decode()
    assert "map_reduce" in page and "Part" in page


def test_progress_is_polled_while_the_parts_are_being_read(
    signed_in_client, big_project, eager
) -> None:
    with use_runtime(ScriptedRuntime(reply, context_window=WINDOW)):
        question, _ = ask_and_pack(signed_in_client, big_project)
        # the chord is never sent, so the question stays mid-way
        events(signed_in_client.get(f"/research/questions/{question.pk}/stream/"))
    question.refresh_from_db()
    assert question.status == Question.Status.MAPPING
    partial = signed_in_client.get(f"/research/questions/{question.pk}/", **HX).content.decode()
    assert 'hx-trigger="every 2s"' in partial
    assert f"0 of {question.groups_total} parts read" in partial


def test_before_map_reduce_the_page_shows_its_cost_and_one_prompt_answers_instead(
    signed_in_client, big_project, eager
) -> None:
    runtime = ScriptedRuntime.echo()
    runtime.context_window = WINDOW
    with use_runtime(runtime):
        with TestCase.captureOnCommitCallbacks(execute=True):
            signed_in_client.post(
                f"/research/{big_project.pk}/ask/", {"question": QUESTION, "scope": "all"}, **HX
            )
        question = Question.objects.get()
        assert question.status == Question.Status.CONFIRM and runtime.calls == []
        streamed = events(signed_in_client.get(f"/research/questions/{question.pk}/stream/"))
        assert [name for name, _ in streamed] == ["done"]
        choice = streamed[0][1]
        cost = plan_cost(ContextMap.from_dict(question.context_map))
        assert cost.model_calls >= question.groups_total + 1 >= 5  # map steps + reduce rounds
        assert f"Run it ({cost.model_calls} model calls)" in choice
        assert html.escape(cost.describe()) in choice
        assert "Answer from one prompt (summaries + excerpts)" in choice
        assert (
            "asks about every document"
            in signed_in_client.get(f"/research/questions/{question.pk}/context/").content.decode()
        )

        with TestCase.captureOnCommitCallbacks(execute=True):
            chosen = signed_in_client.post(
                f"/research/questions/{question.pk}/route/", {"choice": "one_prompt"}, **HX
            )
        assert chosen.status_code == 200
    question.refresh_from_db()
    assert question.status == Question.Status.DONE
    assert question.strategy == "near_edge" and question.route_choice == "one_prompt"
    assert len(runtime.calls) == 1, "one prompt, no map step"
    assert get_tokenizer().count_messages(runtime.calls[0]) <= question.context_map["prompt_limit"]
    assert not MapNote.objects.filter(question=question).exists()


def test_without_javascript_the_choice_is_a_plain_form_that_redirects_to_the_thread(
    signed_in_client, big_project, eager
) -> None:
    with use_runtime(ScriptedRuntime(reply, context_window=WINDOW)):
        with TestCase.captureOnCommitCallbacks(execute=True):
            asked = signed_in_client.post(
                f"/research/{big_project.pk}/ask/", {"question": QUESTION, "scope": "all"}
            )
        thread = signed_in_client.get(asked["Location"]).content.decode()
        question = Question.objects.get()
        route_url = f"/research/questions/{question.pk}/route/"
        assert f'method="post" action="{route_url}"' in thread
        assert 'name="choice" value="map_reduce"' in thread
        assert signed_in_client.post(route_url, {"choice": "everything"}).status_code == 400
        with TestCase.captureOnCommitCallbacks() as sent:
            chosen = signed_in_client.post(route_url, {"choice": "map_reduce"})
    assert chosen.status_code == 302 and chosen["Location"] == asked["Location"]
    question.refresh_from_db()
    assert (question.status, question.route_choice) == ("queued", "map_reduce")
    assert len(sent) == 1, "the answer task is sent again, to run the map-reduce"
