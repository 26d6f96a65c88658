"""History: the timeline, the world as of a turn, undo and branch from their forms."""

from __future__ import annotations

import pytest

from stories.models import Campaign
from tests.stories.views.pages import assert_every_control_is_labelled, url

pytestmark = pytest.mark.django_db


@pytest.mark.django_db(transaction=True)  # the turn is sent on commit
def test_undo_state_as_of_and_branch_work_from_their_forms(
    signed_in_client, campaign, script, user
):
    for n in range(3):
        script.add(f"Hour {n + 1}.", [{"kind": "clock", "minutes": 60}])
        signed_in_client.post(url("turn_create", campaign.pk), {"action": "I wait."})
    page = signed_in_client.get(url("state_as_of", campaign.pk), {"turn": 1}).content.decode()
    assert "Day 1, 01:00" in page
    timeline = signed_in_client.get(url("campaign_timeline", campaign.pk)).content.decode()
    assert "Turn 3" in timeline and "60 minutes passed" in timeline
    assert_every_control_is_labelled(timeline)
    response = signed_in_client.post(url("branch", campaign.pk), {"at_turn": 1, "title": "What if"})
    branch = Campaign.objects.get(title="What if")
    assert response["Location"] == url("campaign_detail", branch.pk)
    assert branch.clock_minutes == 60 and branch.head_turn == 1
    signed_in_client.post(url("undo", campaign.pk), {"to_turn": 2})
    campaign.refresh_from_db()
    assert campaign.head_turn == 2 and campaign.clock_minutes == 120
    assert (
        "Undid 1 turn" in signed_in_client.get(url("campaign_detail", campaign.pk)).content.decode()
    )


@pytest.mark.django_db(transaction=True)  # the turn is sent on commit
def test_the_timeline_lists_every_turn_even_one_that_changed_nothing(
    signed_in_client, campaign, script
):
    script.add("Nothing happens.", [])
    script.add("Ada naps.", [{"kind": "clock", "minutes": 30}])
    signed_in_client.post(url("turn_create", campaign.pk), {"action": "I stare at the sea."})
    signed_in_client.post(url("turn_create", campaign.pk), {"action": "I nap."})
    page = signed_in_client.get(url("campaign_timeline", campaign.pk)).content.decode()
    assert page.index("Turn 2") < page.index("Turn 1") < page.index("Setup")
    assert "I stare at the sea." in page and "No changes to the world." in page
    assert "30 minutes passed" in page
