# ruff: noqa: F811  (pytest fixtures imported from the map-reduce tests share names with arguments)
"""An answer that says the excerpts did not hold the answer offers "read the whole library":
the question is asked again, routed to map-reduce, and shows its cost before it runs."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from django.test import TestCase

from research.citations import Citation
from research.models import Question
from research.qa.noanswer import answer_says_not_found
from tests.research.qa.test_mapreduce import WINDOW, big_project, eager  # noqa: F401 (fixtures)
from tests.research.qa.test_mapreduce import reply as map_reduce_reply
from tests.research.qa.test_views import HX
from workspace.runtime import use_runtime
from workspace.runtime.scripted import ScriptedRuntime
from workspace.runtime.types import Message

LOOKUP = "Which observer logged station 12-3 of the glacier survey?"
NOT_FOUND = "The sources do not contain the name of the observer for that station."


def cite(*, flagged: bool) -> Citation:
    return Citation(0, 1, "T, p. 1", "T", 1, 1, source_id=1, flagged=flagged)


@pytest.mark.parametrize(
    "text",
    [
        NOT_FOUND,
        "The provided excerpts don\u2019t mention who logged it.",
        "I could not find this in the documents.",
        "There is no information about the observer in the context.",
        "Station 12-3 is listed. However, the passages do not say who the observer was.",
    ],
)
def test_an_answer_saying_the_excerpts_lack_the_answer_is_recognised(text):
    assert answer_says_not_found(text, [])
    assert answer_says_not_found(text, [cite(flagged=True)]), "a page it did not see is no find"


@pytest.mark.parametrize(
    "text",
    [
        "Observer Hale logged station 12-3.",
        "The tithe was not paid in grain.",  # a denial, but about the world, not the sources
        "The sources list three observers.",
        "One. Two. Three. The sources do not contain more.",  # past the opening sentences
    ],
)
def test_answers_that_found_something_are_not_taken_for_a_no_answer(text):
    assert not answer_says_not_found(text, [])


def test_an_answer_that_cites_a_page_it_saw_is_not_a_no_answer():
    assert not answer_says_not_found(NOT_FOUND, [cite(flagged=False)])


def replies(messages: Sequence[Message]) -> str:
    """One prompt of excerpts: not found. Map steps and the reduce: as in the map-reduce
    tests (they note and cite a page marker)."""
    if "using only the sources below" in messages[0].content:
        return NOT_FOUND
    return map_reduce_reply(messages)


def scripted() -> ScriptedRuntime:
    return ScriptedRuntime(replies, context_window=WINDOW)


def ask(client, project) -> Question:
    with TestCase.captureOnCommitCallbacks(execute=True):
        client.post(f"/research/{project.pk}/ask/", {"question": LOOKUP, "scope": "all"}, **HX)
    return Question.objects.get()


@pytest.mark.django_db
def test_a_not_found_answer_offers_to_read_the_whole_library_which_shows_its_cost_first(
    signed_in_client, big_project, eager
):
    runtime = scripted()
    with use_runtime(runtime):
        first = ask(signed_in_client, big_project)
        assert first.status == Question.Status.DONE and first.strategy == "near_edge"
        thread = signed_in_client.get(f"/research/threads/{first.thread_id}/").content.decode()
        assert 'data-testid="read-whole-library"' in thread
        assert f"/research/questions/{first.pk}/whole-library/" in thread
        calls = len(runtime.calls)

        with TestCase.captureOnCommitCallbacks(execute=True):
            response = signed_in_client.post(f"/research/questions/{first.pk}/whole-library/")
        again = Question.objects.exclude(pk=first.pk).get()
        assert response["Location"].endswith(f"#question-{again.pk}")
        assert (again.thread_id, again.text) == (first.thread_id, first.text)
        assert again.status == Question.Status.CONFIRM, "nothing runs before the cost is seen"
        assert again.strategy == "map_reduce" and len(runtime.calls) == calls
        page = signed_in_client.get(f"/research/questions/{again.pk}/", **HX).content.decode()
        assert "you asked to read the whole library" in page
        assert 'data-testid="plan-cost"' in page and "time unknown until the first answer" in page

        with TestCase.captureOnCommitCallbacks(execute=True):
            signed_in_client.post(
                f"/research/questions/{again.pk}/route/", {"choice": "map_reduce"}, **HX
            )
    again.refresh_from_db()
    assert again.status == Question.Status.DONE
    assert again.groups_done == again.groups_total >= 2
    read_all = signed_in_client.get(f"/research/questions/{again.pk}/", **HX).content.decode()
    assert 'data-testid="read-whole-library"' not in read_all, "it read everything already"


@pytest.mark.django_db
def test_an_answer_that_found_its_page_offers_nothing_more(signed_in_client, big_project, eager):
    echo = ScriptedRuntime.echo()
    echo.context_window = WINDOW
    with use_runtime(echo):
        question = ask(signed_in_client, big_project)
    assert question.status == Question.Status.DONE and question.answer.flagged_count == 0
    page = signed_in_client.get(f"/research/questions/{question.pk}/", **HX).content.decode()
    assert "Read the whole library" not in page


@pytest.mark.django_db
def test_only_the_asker_may_read_the_whole_library_again(
    client, signed_in_client, big_project, eager, other_user
):
    with use_runtime(scripted()):
        first = ask(signed_in_client, big_project)
    client.force_login(other_user)
    response = client.post(f"/research/questions/{first.pk}/whole-library/")
    assert response.status_code == 404
    assert Question.objects.count() == 1
