"""Turns: played by a member as their character, streamed over SSE, explained by the context map."""

from __future__ import annotations

import pytest

from stories import services
from stories.models import Turn
from stories.tasks import run_turn
from tests.stories.views.pages import url

pytestmark = pytest.mark.django_db


def test_a_shared_player_acts_as_their_character(client, campaign, other_user, script):
    services.member_add(
        campaign=campaign,
        username=other_user.username,
        role="player",
        character_number=campaign.numbers["Bram"],
    )
    client.force_login(other_user)
    script.add("Bram sharpens his sword.", [])
    client.post(url("turn_create", campaign.pk), {"action": "I sharpen my sword."})
    turn = Turn.objects.get(campaign=campaign)
    assert (
        turn.actor_label == "Bram (played by grace)"
        and turn.character_number == campaign.numbers["Bram"]
    )


def test_with_htmx_the_turn_streams_over_sse_and_ends_with_the_finished_turn(
    signed_in_client, campaign, script
):
    script.add("The gulls scatter as Ada runs.", [{"kind": "clock", "minutes": 5}])
    response = signed_in_client.post(
        url("turn_create", campaign.pk), {"action": "I run."}, HTTP_HX_REQUEST="true"
    )
    html = response.content.decode()
    turn = Turn.objects.get(campaign=campaign)
    assert turn.status == Turn.Status.PENDING
    assert f'sse-connect="{url("turn_stream", campaign.pk, turn.pk)}"' in html
    assert 'sse-close="done"' in html
    stream = signed_in_client.get(url("turn_stream", campaign.pk, turn.pk))
    assert stream["Content-Type"] == "text/event-stream"
    chunks = iter(stream.streaming_content)
    connected = next(chunks)  # the page is listening while the turn waits for a worker
    # What the model worker does once the turn's row commits (which it never does in this
    # test's transaction): the run publishes to the turn's stream, which the view relays.
    run_turn.apply(args=(turn.pk,))
    body = (connected + b"".join(chunks)).decode()
    narration = "".join(
        block.split("data: ", 1)[1]
        for block in body.split("\n\n")
        if block.startswith("event: narration")
    )
    assert narration == "The gulls scatter as Ada runs."
    assert "event: done\n" in body and "5 minutes passed" in body
    turn.refresh_from_db()
    assert turn.status == Turn.Status.DONE
    # A second connection (a browser reconnecting) just gets the finished turn.
    again = b"".join(
        signed_in_client.get(url("turn_stream", campaign.pk, turn.pk)).streaming_content
    ).decode()
    assert "event: narration" not in again and "event: done" in again


def test_the_stream_shows_the_roll_before_the_narration_that_knows_it(
    signed_in_client, campaign, script
):
    check = {"who": "Ada", "what": "pick the lock", "dice": "1d20+3", "target": 15}
    script.add("The lock holds, or gives.", [], check=check)
    signed_in_client.post(
        url("turn_create", campaign.pk), {"action": "I pick the lock."}, HTTP_HX_REQUEST="true"
    )
    turn = Turn.objects.get(campaign=campaign)
    stream = signed_in_client.get(url("turn_stream", campaign.pk, turn.pk))
    chunks = iter(stream.streaming_content)
    connected = next(chunks)
    run_turn.apply(args=(turn.pk,))
    body = (connected + b"".join(chunks)).decode()
    assert "asking whether the dice are needed" in body
    payload = turn.events.get(kind="check").payload
    [line] = [b for b in body.split("\n\n") if b.startswith("event: check")]
    assert f"Ada checks pick the lock: {payload['detail']} against 15" in line
    assert body.index("event: check") < body.index("event: narration")
    assert 'data-testid="turn-check"' in body.split("event: done", 1)[1]


@pytest.mark.django_db(transaction=True)  # the turn is sent on commit
def test_the_context_map_page_explains_the_last_prompt(signed_in_client, campaign, script):
    script.add("Quiet.", [])
    signed_in_client.post(url("turn_create", campaign.pk), {"action": "I listen."})
    turn = Turn.objects.get(campaign=campaign)
    page = signed_in_client.get(url("context_map", campaign.pk, turn.pk)).content.decode()
    assert f"{turn.prompt_tokens:,}" in page
    for section in ("rules", "entities", "summaries", "turns", "action"):
        assert f'data-testid="section-{section}"' in page
    assert "Ada (character)" in page
