"""A story turn's live stream counts against the person's open streams
(CARREL_MAX_OPEN_STREAMS) like an answer's: past the limit, the page gets a message to
close another tab in the turn's place, and a finished stream frees its slot."""

from __future__ import annotations

import pytest

from stories.models import Turn
from stories.turns import turn_start
from tests.stories.views.pages import url
from workspace.jobs.stream_slots import open_stream_count

pytestmark = pytest.mark.django_db

EVENT_SOURCE = {"HTTP_ACCEPT": "text/event-stream"}


def test_a_fifth_turn_stream_is_refused_in_the_turns_place_until_one_ends(
    signed_in_client, campaign, owner_member, user, settings
):
    settings.CARREL_MAX_OPEN_STREAMS = 4
    turn = turn_start(campaign=campaign, member=owner_member, action="I wait.")
    Turn.objects.filter(pk=turn.pk).update(status=Turn.Status.FAILED)  # streams just say done
    stream = url("turn_stream", campaign.pk, turn.pk)
    held = [signed_in_client.get(stream, **EVENT_SOURCE) for _ in range(4)]
    assert open_stream_count(user_id=user.pk) == 4

    refused = b"".join(signed_in_client.get(stream, **EVENT_SOURCE).streaming_content).decode()
    assert refused.startswith("event: done\n") and "Close another Carrel tab" in refused
    assert f'id="turn-{turn.pk}"' in refused
    assert f'hx-get="{url("turn_detail", campaign.pk, turn.pk)}"' in refused
    assert signed_in_client.get(stream).status_code == 429  # not a browser's EventSource

    b"".join(held[0].streaming_content)  # one stream ends
    assert open_stream_count(user_id=user.pk) == 3
    assert b"data: <div" in b"".join(signed_in_client.get(stream).streaming_content)
