"""A turn whose worker died (a crash, a restart) offers Retry and Discard instead of saying
"Working out what changed." forever, and undo and branch say plainly when no turn finished."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from stories.history import HistoryProblem, campaign_branch, campaign_undo
from stories.models import Campaign, Turn
from stories.projection import load_state
from stories.turns import TURN_STREAM
from tests.stories.views.pages import url
from workspace.jobs.streams import stream_reset

pytestmark = pytest.mark.django_db


def crashed_turn(campaign: Campaign, user, *, lease_left: float = -1.0) -> Turn:
    """What a worker killed mid-turn leaves behind: the turn numbered and proposing, part of
    its narration saved, and the campaign's lease still there until it expires (`lease_left`
    seconds from now: negative, it has expired)."""
    turn = Turn.objects.create(
        campaign=campaign,
        actor=user,
        actor_label="Ada (played by ada)",
        character_number=campaign.numbers["Ada"],  # type: ignore[attr-defined]
        action="I run to the market.",
        status=Turn.Status.PROPOSING,
        number=campaign.head_turn + 1,
        narration="Ada runs.",
    )
    stream_reset(kind=TURN_STREAM, item_id=turn.pk)  # ids come back between tests
    Campaign.objects.filter(pk=campaign.pk).update(
        lease_token="f" * 32,
        lease_until=timezone.now() + timedelta(seconds=lease_left),
        lease_label="Ada (played by ada)'s turn",
    )
    return turn


def test_a_turn_whose_worker_died_offers_retry_and_discard_instead_of_working_forever(
    signed_in_client, campaign, user
):
    turn = crashed_turn(campaign, user)
    page = signed_in_client.get(url("campaign_detail", campaign.pk)).content.decode()
    assert 'data-testid="turn-stuck"' in page and "This turn stopped" in page
    assert f'action="{url("turn_retry", campaign.pk, turn.pk)}"' in page
    assert f'action="{url("turn_discard", campaign.pk, turn.pk)}"' in page
    assert "Working out what changed…" not in page
    assert f'hx-get="{url("turn_detail", campaign.pk, turn.pk)}"' not in page  # no polling


def test_a_turn_whose_worker_still_holds_the_lease_is_shown_working_and_polled(
    signed_in_client, campaign, user
):
    turn = crashed_turn(campaign, user, lease_left=60)
    page = signed_in_client.get(url("campaign_detail", campaign.pk)).content.decode()
    assert 'data-testid="turn-stuck"' not in page and "Working out what changed…" in page
    assert f'hx-get="{url("turn_detail", campaign.pk, turn.pk)}"' in page
    assert 'hx-trigger="every 2s"' in page
    check = f'href="{url("turn_detail", campaign.pk, turn.pk)}"'
    assert check in page  # the poll's real href, for a page without JavaScript
    response = signed_in_client.get(url("turn_detail", campaign.pk, turn.pk))
    assert response["Location"] == url("campaign_detail", campaign.pk) + f"#turn-{turn.pk}"
    # Retry is refused while the worker may still finish it.
    signed_in_client.post(url("turn_retry", campaign.pk, turn.pk))
    assert Turn.objects.get(pk=turn.pk).status == Turn.Status.PROPOSING


@pytest.mark.django_db(transaction=True)  # the retried turn is sent on commit
def test_retry_tells_the_stuck_turns_action_again_in_its_place(
    signed_in_client, campaign, user, script, tasks_inline
):
    stuck = crashed_turn(campaign, user)
    script.add("Ada reaches the market.", [{"kind": "move", "entity": "Ada", "to": "Market"}])
    response = signed_in_client.post(url("turn_retry", campaign.pk, stuck.pk))
    assert not Turn.objects.filter(pk=stuck.pk).exists()
    retried = Turn.objects.get(campaign=campaign)
    assert response["Location"] == url("campaign_detail", campaign.pk) + f"#turn-{retried.pk}"
    assert retried.status == Turn.Status.DONE and retried.number == 1
    assert retried.action == stuck.action and retried.actor_label == stuck.actor_label
    assert retried.narration == "Ada reaches the market."
    campaign.refresh_from_db()
    assert campaign.head_turn == 1 and campaign.lease_until is None  # the lease is free
    ada = load_state(campaign).entities[campaign.numbers["Ada"]]
    assert ada.location == campaign.numbers["Market"]
    page = signed_in_client.get(url("campaign_detail", campaign.pk)).content.decode()
    assert "Ada reaches the market." in page and "This turn stopped" not in page


def test_discard_removes_the_stuck_turn_and_the_next_turn_takes_its_number(
    signed_in_client, campaign, user, owner_member, script
):
    from stories.turns import turn_play

    stuck = crashed_turn(campaign, user)
    before = load_state(campaign).as_dict()
    signed_in_client.post(url("turn_discard", campaign.pk, stuck.pk))
    assert not Turn.objects.filter(pk=stuck.pk).exists()
    campaign.refresh_from_db()
    assert load_state(campaign).as_dict() == before and campaign.head_turn == 0
    script.add("Ada waits.", [])
    assert turn_play(campaign=campaign, member=owner_member, action="I wait.").number == 1


def test_the_stream_of_a_stuck_turn_ends_at_once_with_its_retry_button(
    signed_in_client, campaign, user
):
    stuck = crashed_turn(campaign, user)
    body = b"".join(
        signed_in_client.get(url("turn_stream", campaign.pk, stuck.pk)).streaming_content
    ).decode()
    assert "event: done\n" in body and "This turn stopped" in body and ">Retry<" in body
    assert "event: narration" not in body


def test_the_stream_stops_when_the_worker_dies_while_the_page_listens(
    signed_in_client, campaign, user, monkeypatch
):
    """The stream is idle, the turn is narrating; then its lease expires (the worker died):
    the page gets the turn as it is, with Retry, instead of waiting forever."""
    from stories.views import turns as turn_views

    monkeypatch.setattr(turn_views, "STREAM_IDLE_MS", 50)
    stuck = crashed_turn(campaign, user, lease_left=60)
    response = signed_in_client.get(url("turn_stream", campaign.pk, stuck.pk))
    chunks = iter(response.streaming_content)
    assert next(chunks).startswith(b": connected")
    assert next(chunks).startswith(b": still working")  # idle, and the lease is live
    Campaign.objects.filter(pk=campaign.pk).update(lease_until=timezone.now())
    rest = b"".join(chunks).decode()
    assert "event: done\n" in rest and ">Retry<" in rest


def test_undo_and_branch_say_plainly_that_no_turn_has_finished(
    signed_in_client, campaign, user, owner_member
):
    crashed_turn(campaign, user)
    with pytest.raises(HistoryProblem) as undo:
        campaign_undo(campaign=campaign, member=owner_member, to_turn=0)
    assert undo.value.message == "No turn has finished yet, so there is nothing to undo."
    with pytest.raises(HistoryProblem) as branch:
        campaign_branch(campaign=campaign, user=user, at_turn=1)
    assert "between 0 and 0" not in branch.value.message
    assert "No turn has finished yet" in branch.value.message
    page = signed_in_client.get(url("campaign_timeline", campaign.pk)).content.decode()
    assert 'data-testid="undo-none"' in page
    assert f'action="{url("undo", campaign.pk)}"' not in page
    signed_in_client.post(url("undo", campaign.pk), {"to_turn": 0})
    shown = signed_in_client.get(url("campaign_detail", campaign.pk)).content.decode()
    assert "nothing to undo" in shown and "between 0 and 0" not in shown
