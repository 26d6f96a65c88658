# ruff: noqa: F811  (pytest fixtures imported from the other Q&A tests share names with arguments)
"""Fair use of the web server's threads: one person may hold at most
CARREL_MAX_OPEN_STREAMS answer streams open at once; the next is refused with a message to
close another tab, and a stream gives its slot back when it ends or its client goes away."""

from __future__ import annotations

import pytest

from research.models import Question
from tests.research.qa.test_views import (  # noqa: F401 (fixtures)
    ask,
    eager,
    events,
    project,
    scripted,
)
from workspace.jobs.stream_slots import open_stream_count

pytestmark = [pytest.mark.django_db]

EVENT_SOURCE = {"HTTP_ACCEPT": "text/event-stream"}


def stream_url(question: Question) -> str:
    return f"/research/questions/{question.pk}/stream/"


@pytest.fixture
def four_streams(settings):
    settings.CARREL_MAX_OPEN_STREAMS = 4


def test_the_fifth_open_stream_is_refused_and_one_that_ends_frees_its_slot(
    signed_in_client, user, project, scripted, four_streams
) -> None:
    question = ask(signed_in_client, project, "How do glaciers carve valleys?")
    held = [signed_in_client.get(stream_url(question)) for _ in range(4)]  # four tabs open
    assert all(r.status_code == 200 for r in held) and open_stream_count(user_id=user.pk) == 4

    refused = signed_in_client.get(stream_url(question))
    assert refused.status_code == 429 and refused["Retry-After"]
    text = refused.content.decode()
    assert "Close another Carrel tab" in text and "CARREL_MAX_OPEN_STREAMS" in text
    assert f'id="question-{question.pk}"' in text  # it takes the question's place on the page
    assert f'href="/research/threads/{question.thread_id}/#question-{question.pk}"' in text

    assert events(held[0])[-1][0] == "done"  # one stream runs to its end
    assert open_stream_count(user_id=user.pk) == 3
    again = signed_in_client.get(stream_url(question))
    assert again.status_code == 200 and events(again)[-1][0] == "done"
    for response in held[1:]:
        response.close()
    assert open_stream_count(user_id=user.pk) == 0


def test_a_browser_over_the_limit_gets_the_message_as_the_streams_done_event(
    signed_in_client, user, project, scripted, four_streams
) -> None:
    """An EventSource reads no body but a 200's: the refusal is one `done` event, which
    the page swaps in for the question (and closes the stream, so it does not retry)."""
    question = ask(signed_in_client, project, "How do glaciers carve valleys?")
    held = [signed_in_client.get(stream_url(question), **EVENT_SOURCE) for _ in range(4)]
    refused = signed_in_client.get(stream_url(question), **EVENT_SOURCE)
    assert refused.status_code == 200
    (name, html), *rest = events(refused)
    assert name == "done" and rest == [] and "Close another Carrel tab" in html
    assert open_stream_count(user_id=user.pk) == 4  # the refusal held no slot
    for response in held:
        response.close()  # the client went away before the stream began
    assert open_stream_count(user_id=user.pk) == 0


def test_another_persons_streams_do_not_count(
    client, signed_in_client, user, other_user, project, scripted, four_streams
) -> None:
    question = ask(signed_in_client, project, "How do glaciers carve valleys?")
    held = [signed_in_client.get(stream_url(question)) for _ in range(4)]
    assert open_stream_count(user_id=other_user.pk) == 0
    assert held and open_stream_count(user_id=user.pk) == 4


def test_with_the_limit_at_zero_streams_are_not_counted(
    signed_in_client, user, project, scripted, settings
) -> None:
    settings.CARREL_MAX_OPEN_STREAMS = 0
    question = ask(signed_in_client, project, "How do glaciers carve valleys?")
    held = [signed_in_client.get(stream_url(question)) for _ in range(6)]
    assert all(r.status_code == 200 for r in held) and open_stream_count(user_id=user.pk) == 0
