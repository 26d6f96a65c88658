# ruff: noqa: F811  (pytest fixtures imported from the other Q&A tests share names with arguments)
"""Cancelling a question, and the cap on questions one person has in flight. The answer task
runs in-process (Celery's eager mode) when a test lets it; tests/research/qa/test_worker.py
cancels a running answer on a real worker."""

from __future__ import annotations

import contextlib
import html
import threading

import pytest
from django.test import TestCase

from research.models import Answer, MapNote, ProjectShare, Question
from tests.research.qa.test_mapreduce import (  # noqa: F401 (fixtures)
    WINDOW,
    ask_and_pack,
    big_project,
    reply,
)
from tests.research.qa.test_views import (  # noqa: F401 (fixtures)
    HX,
    ask,
    ask_later,
    eager,
    events,
    project,
    scripted,
)
from workspace.runtime import use_runtime
from workspace.runtime.scripted import ScriptedRuntime

pytestmark = [pytest.mark.django_db]


def cancel(client, question: Question, **extra):
    return client.post(f"/research/questions/{question.pk}/cancel/", **extra)


def test_cancelling_a_queued_question_fails_it_as_cancelled_and_retry_answers_it(
    signed_in_client, project, scripted
) -> None:
    question, sent = ask_later(signed_in_client, project, "How do glaciers carve valleys?")

    response = cancel(signed_in_client, question, **HX)
    assert response.status_code == 200
    page = response.content.decode()
    assert "Cancelled" in page and "You cancelled this question" in page
    assert 'data-testid="retry"' in page and 'data-testid="cancel"' not in page
    question.refresh_from_db()
    assert (question.status, question.error_code) == ("failed", Question.ErrorCode.CANCELLED)

    for send in sent:  # the task sent before the cancel reaches a worker: it does nothing
        send()
    assert scripted.calls == []
    done = events(signed_in_client.get(f"/research/questions/{question.pk}/stream/"))
    assert [name for name, _ in done] == ["done"] and "You cancelled" in done[0][1]

    with TestCase.captureOnCommitCallbacks(execute=True):
        retried = signed_in_client.post(f"/research/questions/{question.pk}/retry/", **HX)
    assert retried.status_code == 200
    question.refresh_from_db()
    assert (question.status, question.attempt) == (Question.Status.DONE, 2)
    streamed = events(signed_in_client.get(f"/research/questions/{question.pk}/stream/"))
    tokens = html.unescape("".join(data for name, data in streamed if name == "token"))
    assert tokens == question.answer.text, "the retry streams afresh, nothing of before"


def test_cancelling_without_javascript_redirects_back_to_the_thread(
    signed_in_client, project, scripted
) -> None:
    question, _ = ask_later(signed_in_client, project, "How do glaciers carve valleys?")
    response = cancel(signed_in_client, question)
    assert response.status_code == 302
    assert response["Location"] == f"/research/threads/{question.thread_id}/#question-{question.pk}"
    question.refresh_from_db()
    assert question.error_code == Question.ErrorCode.CANCELLED
    thread = signed_in_client.get(response["Location"]).content.decode()
    assert "You cancelled this question" in thread and "http-equiv" not in thread


def test_only_the_asker_is_offered_cancel_and_may_use_it(
    client, signed_in_client, project, scripted, other_user
) -> None:
    question, _ = ask_later(signed_in_client, project, "How do glaciers carve valleys?")
    ProjectShare.objects.create(project=project, user=other_user, role="editor")
    client.force_login(other_user)

    thread = client.get(f"/research/threads/{question.thread_id}/").content.decode()
    assert "How do glaciers carve valleys?" in thread
    assert 'data-testid="cancel"' not in thread
    assert cancel(client, question, **HX).status_code == 403
    question.refresh_from_db()
    assert question.status == Question.Status.QUEUED


def test_a_cancelled_map_reduce_calls_the_model_no_more(
    signed_in_client, big_project, eager
) -> None:
    runtime = ScriptedRuntime(reply, context_window=WINDOW)
    with use_runtime(runtime):
        question, chord = ask_and_pack(signed_in_client, big_project)
        assert question.status == Question.Status.MAPPING
        partial = signed_in_client.get(f"/research/questions/{question.pk}/", **HX)
        assert 'data-testid="cancel"' in partial.content.decode()

        assert cancel(signed_in_client, question, **HX).status_code == 200
        for send in chord:  # every map step and the reduce step now run
            send()
    question.refresh_from_db()
    assert (question.status, question.error_code) == ("failed", Question.ErrorCode.CANCELLED)
    assert runtime.calls == [], "no map step nor the reduce step called the model"
    assert not MapNote.objects.filter(question=question).exists()
    assert not Answer.objects.filter(question=question).exists()


def test_a_person_with_too_many_questions_in_flight_is_refused_and_keeps_the_text(
    signed_in_client, project, scripted, settings
) -> None:
    settings.CARREL_MAX_QUESTIONS_IN_FLIGHT = 2
    first, _ = ask_later(signed_in_client, project, "How do glaciers carve valleys?")
    ask_later(signed_in_client, project, "What feeds braided rivers?")

    text = "Why do bees dance?"
    refused = signed_in_client.post(
        f"/research/{project.pk}/ask/", {"question": text, "scope": "all"}, **HX
    )
    assert refused.status_code == 200
    body = html.unescape(refused.content.decode())
    assert "You already have 2 questions being answered (at most 2 at once)" in body
    assert f"{text}</textarea>" in body, "the question stays in the form"
    plain = signed_in_client.post(
        f"/research/{project.pk}/ask/", {"question": text, "scope": "all"}
    )
    assert plain.status_code == 200 and "at most 2 at once" in html.unescape(plain.content.decode())

    follow_up = signed_in_client.post(
        f"/research/threads/{first.thread_id}/", {"question": text}, **HX
    )
    assert "at most 2 at once" in html.unescape(follow_up.content.decode())
    assert f"{text}</textarea>" in html.unescape(follow_up.content.decode())
    assert not Question.objects.filter(text=text).exists()

    cancel(signed_in_client, first, **HX)
    asked = ask(signed_in_client, project, text)
    asked.refresh_from_db()
    assert asked.status == Question.Status.DONE


def test_a_retry_over_the_cap_is_refused_with_the_reason(
    signed_in_client, project, scripted, settings
) -> None:
    settings.CARREL_MAX_QUESTIONS_IN_FLIGHT = 1
    first, _ = ask_later(signed_in_client, project, "How do glaciers carve valleys?")
    cancel(signed_in_client, first, **HX)
    ask_later(signed_in_client, project, "What feeds braided rivers?")

    response = signed_in_client.post(f"/research/questions/{first.pk}/retry/", **HX)
    assert 'data-testid="refusal"' in response.content.decode()
    first.refresh_from_db()
    assert (first.status, first.attempt) == (Question.Status.FAILED, 1)


@pytest.mark.django_db(transaction=True)
def test_two_asks_at_the_same_moment_cannot_both_pass_the_cap(project, settings, monkeypatch):
    """The count of questions in flight is taken, then the question written: two requests of
    one person in between each other's count and write would both pass without the lock."""
    from django.db import connections

    from research.qa import services

    settings.CARREL_MAX_QUESTIONS_IN_FLIGHT = 1
    counted = threading.Barrier(2, timeout=10)
    real_count = services.question_in_flight_count

    def slow_count(*, user):
        found = real_count(user=user)
        with contextlib.suppress(threading.BrokenBarrierError):
            counted.wait(timeout=1)  # without the lock both counts happen before either write
        return found

    monkeypatch.setattr(services, "question_in_flight_count", slow_count)
    outcomes: list[str] = []

    def ask_now(text: str) -> None:
        try:
            services.thread_start(owner=project.owner, project=project, question=text)
            outcomes.append("asked")
        except services.QuestionLimitReached:
            outcomes.append("refused")
        finally:
            connections.close_all()

    threads = [threading.Thread(target=ask_now, args=(f"Question {n}?",)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(outcomes) == ["asked", "refused"]
    assert Question.objects.filter(thread__project=project).count() == 1
