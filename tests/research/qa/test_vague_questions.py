"""A look-up whose words are in most of its documents ("What is our experiment result?" of
twenty papers) could be about any of them: the answer says so and asks for something
specific, counted from the full-text index (SQLite FTS5, PostgreSQL tsvector)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from research.library.search import documents_holding_words
from research.models import Project, Question
from tests.research.qa.test_views import (  # noqa: F401 (eager: a fixture)
    HX,
    add_document,
    answered,
    eager,
    events,
    post,
)
from workspace.retrieval.specific import (
    MIN_DOCUMENTS,
    names_something_specific,
    question_words,
    vague_question_note,
)
from workspace.runtime import use_runtime
from workspace.runtime.scripted import ScriptedRuntime

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("eager")]
TOPICS = [f"{kind}{n}" for kind in ("glacier", "tide", "comet", "orchid") for n in range(6)]


def survey_pages(topic: str) -> list[str]:
    return [
        f"Page {page} of the {topic} survey: our experiment result for station {page} lists "
        f"readings, dates and observers of the {topic} field record in careful detail. " * 4
        for page in range(1, 4)
    ]


@pytest.fixture
def library(user) -> Project:
    project = Project.objects.create(owner=user, title="Surveys")
    for topic in TOPICS:
        add_document(project, f"The {topic} survey", survey_pages(topic), target=120)
    return project


@pytest.fixture
def small_window() -> Iterator[ScriptedRuntime]:
    """A window far smaller than the library: a look-up takes the one-prompt route."""
    runtime = ScriptedRuntime.echo()
    runtime.context_window = 2048
    with use_runtime(runtime):
        yield runtime


def test_a_question_names_something_specific_when_few_documents_hold_its_words() -> None:
    assert question_words("What are the results of our experiments?") == ["results", "experiments"]
    assert question_words("Results, and the result") == ["results"]
    assert question_words("Station 9-2, tide: station 9") == ["station", "9", "2", "tide"]
    every = set(range(24))
    assert names_something_specific({"result": every, "glacier3": {3}}, 24), "a rare word"
    assert not names_something_specific({"result": every, "unknown": set()}, 24)
    tide_and_nine = {"tide": {1, 9, 17}, "9": {6, 7, 8, 9}}
    assert names_something_specific(tide_and_nine, 40), "the two rarest, together"
    assert not names_something_specific({"tide": {1, 9, 17}, "9": {1, 9, 17}}, 40)
    assert vague_question_note({"result": every}, MIN_DOCUMENTS - 1) == "", "too few to tell"
    assert vague_question_note({"zebra": set()}, 24) == "", "nothing matched: no note"
    note = vague_question_note({"results": every, "experiments": every - {0}}, 24)
    assert "could be about any of" in note and "(“results”, “experiments”)" in note


def test_the_full_text_index_finds_the_documents_that_hold_each_word(library) -> None:
    ids = list(library.documents.order_by("id").values_list("id", flat=True))
    holders = documents_holding_words(
        words=["readings", "glacier3", "volcano", "observer"], document_ids=ids
    )
    assert holders == {
        "readings": set(ids),
        "glacier3": {ids[3]},
        "volcano": set(),
        "observer": set(ids),  # stemmed as the index stems
    }
    assert documents_holding_words(words=["readings"], document_ids=ids[:5]) == {
        "readings": set(ids[:5])
    }


def test_a_vague_lookup_over_many_documents_says_so_and_a_specific_one_does_not(
    signed_in_client, library, small_window
) -> None:
    vague = answered(signed_in_client, library, "What is our experiment result?")
    assert vague.context_map["route"] == "lookup"
    assert "could be about any of" in vague.context_map["vague_note"]
    thread = signed_in_client.get(f"/research/threads/{vague.thread_id}/").content.decode()
    assert 'data-testid="vague-question"' in thread and "of the 24 documents" in thread
    context = signed_in_client.get(f"/research/questions/{vague.pk}/context/").content.decode()
    assert 'data-testid="vague-question"' in context

    specific = answered(signed_in_client, library, "What does the comet4 survey record?")
    assert specific.context_map["route"] == "lookup"
    assert specific.context_map["vague_note"] == ""
    thread = signed_in_client.get(f"/research/threads/{specific.thread_id}/").content.decode()
    assert 'data-testid="vague-question"' not in thread


def test_a_follow_up_is_judged_with_the_question_before_it(
    signed_in_client, library, small_window
) -> None:
    first = answered(signed_in_client, library, "What does the comet4 survey record?")
    post(
        signed_in_client,
        f"/research/threads/{first.thread_id}/",
        {"question": "What is our experiment result?"},
        **HX,
    )
    follow = Question.objects.get(text="What is our experiment result?")
    events(signed_in_client.get(f"/research/questions/{follow.pk}/stream/"))
    follow.refresh_from_db()
    assert follow.status == Question.Status.DONE and follow.thread_id == first.thread_id
    assert follow.context_map["route"] == "lookup"
    assert follow.context_map["vague_note"] == "", "comet4, from the question before, names it"
