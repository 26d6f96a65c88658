"""Viewers are not offered controls they cannot use, and the views refuse them anyway:
no "try again", no "Narrate it now" or "Discard" on someone else's turn, no Branch form.
Branching needs edit rights (a player may not either)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User

from stories import services
from stories.models import Campaign, Turn
from tests.stories.turns.test_stuck_turns import crashed_turn
from tests.stories.views.pages import url

pytestmark = pytest.mark.django_db

CONTROLS = ("Try this action again", "Narrate it now", ">Discard<", ">Retry<")


@pytest.fixture
def turns(campaign, user) -> dict[str, Turn]:
    """The owner's failed turn and waiting turn."""
    failed = Turn.objects.create(
        campaign=campaign,
        actor=user,
        actor_label="ada",
        action="I shout.",
        status=Turn.Status.FAILED,
        error="The model server is not answering.",
    )
    pending = Turn.objects.create(
        campaign=campaign, actor=user, actor_label="ada", action="I wait."
    )
    return {"failed": failed, "pending": pending}


def member(campaign: Campaign, role: str, name: str) -> User:
    person = User.objects.create_user(username=name, password="correct horse 47")
    character = campaign.numbers["Bram"] if role == "player" else None  # type: ignore[attr-defined]
    services.member_add(campaign=campaign, username=name, role=role, character_number=character)
    return person


def test_a_viewer_sees_no_turn_or_branch_controls_and_gets_403_for_each(
    client, campaign, user, turns
):
    client.force_login(member(campaign, "viewer", "vera"))
    story = client.get(url("campaign_detail", campaign.pk)).content.decode()
    assert "I shout." in story and "I wait." in story  # the viewer reads the turns
    assert not [control for control in CONTROLS if control in story]
    for name in ("campaign_timeline", "state_as_of"):
        page = client.get(url(name, campaign.pk)).content.decode()
        assert url("branch", campaign.pk) not in page, name
    refused = [
        ("turn_retry", turns["failed"].pk),
        ("turn_run", turns["pending"].pk),
        ("turn_discard", turns["pending"].pk),
    ]
    for name, turn_id in refused:
        assert client.post(url(name, campaign.pk, turn_id)).status_code == 403, name
    assert client.post(url("branch", campaign.pk), {"at_turn": 0}).status_code == 403
    assert client.post(url("turn_create", campaign.pk), {"action": "I act."}).status_code == 403
    assert Turn.objects.filter(campaign=campaign).count() == 2
    assert Campaign.objects.count() == 1


def test_a_viewer_is_not_offered_retry_or_discard_on_a_stuck_turn(client, campaign, user):
    stuck = crashed_turn(campaign, user)
    client.force_login(member(campaign, "viewer", "vera"))
    story = client.get(url("campaign_detail", campaign.pk)).content.decode()
    assert "This turn stopped" in story
    assert not [control for control in CONTROLS if control in story]
    assert client.post(url("turn_retry", campaign.pk, stuck.pk)).status_code == 403
    assert client.post(url("turn_discard", campaign.pk, stuck.pk)).status_code == 403
    assert Turn.objects.get(pk=stuck.pk).status == Turn.Status.PROPOSING


def test_a_player_acts_only_on_their_own_turns_and_may_not_branch(client, campaign, turns):
    pia = member(campaign, "player", "pia")
    own = Turn.objects.create(campaign=campaign, actor=pia, actor_label="pia", action="I hide.")
    client.force_login(pia)
    story = client.get(url("campaign_detail", campaign.pk)).content.decode()
    assert url("turn_discard", campaign.pk, own.pk) in story
    assert url("turn_discard", campaign.pk, turns["pending"].pk) not in story
    assert url("turn_retry", campaign.pk, turns["failed"].pk) not in story
    assert client.post(url("turn_discard", campaign.pk, turns["pending"].pk)).status_code == 403
    assert client.post(url("turn_retry", campaign.pk, turns["failed"].pk)).status_code == 403
    timeline = client.get(url("campaign_timeline", campaign.pk)).content.decode()
    assert url("branch", campaign.pk) not in timeline
    assert client.post(url("branch", campaign.pk), {"at_turn": 0}).status_code == 403
    client.post(url("turn_discard", campaign.pk, own.pk))
    assert not Turn.objects.filter(pk=own.pk).exists()


def test_the_owner_is_offered_every_control(signed_in_client, campaign, turns):
    story = signed_in_client.get(url("campaign_detail", campaign.pk)).content.decode()
    for control in ("Try this action again", "Narrate it now", ">Discard<"):
        assert control in story, control
    timeline = signed_in_client.get(url("campaign_timeline", campaign.pk)).content.decode()
    assert url("branch", campaign.pk) in timeline
