"""Campaigns: creating one, the story page, who may open it, members."""

from __future__ import annotations

import pytest

from stories import services
from stories.models import Campaign, Turn
from tests.stories.views.pages import assert_csp_clean, assert_every_control_is_labelled, url

pytestmark = pytest.mark.django_db


def test_creating_a_campaign_makes_its_world_project_and_owner_membership(signed_in_client, user):
    response = signed_in_client.post(
        url("campaign_create"),
        {"title": "Salt", "premise": "Smugglers.", "tone": "", "rules_notes": ""},
    )
    campaign = Campaign.objects.get(title="Salt")
    assert response.status_code == 302 and response["Location"] == url(
        "campaign_detail", campaign.pk
    )
    assert campaign.world_project is not None
    assert campaign.world_project.kind == "world" and campaign.world_project.owner == user
    assert campaign.members.get().role == "owner"
    page = signed_in_client.get(url("campaign_list")).content.decode()
    assert "Salt" in page


@pytest.mark.django_db(transaction=True)  # the turn is sent on commit
def test_the_campaign_page_shows_story_world_and_labelled_controls_without_inline_code(
    signed_in_client, campaign, script
):
    script.add(
        "Ada walks to the market.",
        [
            {"kind": "move", "entity": "Ada", "to": "Market"},
            {"kind": "move", "entity": "Ada", "to": "Atlantis"},
        ],
    )
    response = signed_in_client.post(
        url("turn_create", campaign.pk), {"action": "I walk to the market."}
    )
    assert response.status_code == 302
    page = signed_in_client.get(url("campaign_detail", campaign.pk)).content.decode()
    assert "Ada walks to the market." in page
    assert "Ada moved from Harbor to Market" in page
    assert "Not applied" in page and "Atlantis" in page
    assert 'data-testid="context-meter"' in page
    assert "Day 1, 00:00" in page
    assert_csp_clean(page)
    assert_every_control_is_labelled(page)


def test_someone_who_is_not_a_member_gets_404_everywhere(client, campaign, other_user):
    client.force_login(other_user)
    turn = Turn.objects.create(campaign=campaign, actor_label="x", action="y")
    for path in (
        url("campaign_detail", campaign.pk),
        url("world_panel", campaign.pk),
        url("campaign_timeline", campaign.pk),
        url("state_as_of", campaign.pk),
        url("export_json", campaign.pk),
        url("chronicle", campaign.pk),
        url("entity_detail", campaign.pk, campaign.numbers["Ada"]),
        url("turn_stream", campaign.pk, turn.pk),
        url("context_map", campaign.pk, turn.pk),
        url("proposals", campaign.pk),
        url("campaign_settings", campaign.pk),
    ):
        assert client.get(path).status_code == 404, path
    for path in (
        url("turn_create", campaign.pk),
        url("undo", campaign.pk),
        url("branch", campaign.pk),
        url("entity_edit", campaign.pk, campaign.numbers["Ada"]),
    ):
        assert client.post(path, {"action": "x", "to_turn": 0, "at_turn": 0}).status_code == 404, (
            path
        )
    assert "The Lost Crown" not in client.get(url("campaign_list")).content.decode()


def test_a_viewer_reads_but_cannot_play_or_change_the_world(client, campaign, other_user):
    services.member_add(campaign=campaign, username=other_user.username, role="viewer")
    client.force_login(other_user)
    page = client.get(url("campaign_detail", campaign.pk)).content.decode()
    assert "The Lost Crown" in page and 'id="turn-form"' not in page
    assert (
        client.post(url("entity_edit", campaign.pk, campaign.numbers["Ada"]), {}).status_code == 403
    )
    assert client.post(url("entity_create", campaign.pk), {}).status_code == 403
    client.post(url("turn_create", campaign.pk), {"action": "I act."})
    assert not Turn.objects.filter(campaign=campaign).exists()
    client.post(url("undo", campaign.pk), {"to_turn": 0})
    assert Campaign.objects.get(pk=campaign.pk).head_turn == 0


def test_the_owner_shares_the_campaign_and_assigns_characters(
    signed_in_client, campaign, other_user
):
    page = signed_in_client.get(url("campaign_settings", campaign.pk)).content.decode()
    assert_every_control_is_labelled(page)
    signed_in_client.post(
        url("member_add", campaign.pk),
        {"username": other_user.username, "role": "player", "character": campaign.numbers["Bram"]},
    )
    member = campaign.members.get(user=other_user)
    assert member.role == "player" and member.character_number == campaign.numbers["Bram"]
    signed_in_client.post(
        url("member_add", campaign.pk), {"username": "nobody", "role": "player", "character": ""}
    )
    assert campaign.members.count() == 2
    signed_in_client.post(url("member_remove", campaign.pk, member.pk))
    assert campaign.members.count() == 1
