"""Rolls from the campaign page: recorded in the event log, shown in the rolls panel, and,
when the owner makes rolls private, hidden from the other players."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.urls import reverse

from stories import services
from stories.models import Event

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def players(campaign) -> dict[str, User]:
    made = {}
    for name, character in (("pia", "Bram"), ("pete", None)):
        made[name] = User.objects.create_user(username=name, password="correct horse 46")
        services.member_add(
            campaign=campaign,
            username=name,
            role="player",
            character_number=campaign.numbers[character] if character else None,
        )
    made["vera"] = User.objects.create_user(username="vera", password="correct horse 46")
    services.member_add(campaign=campaign, username="vera", role="viewer")
    return made


def _roll(client, campaign, dice: str, reason: str = "", **extra):
    url = reverse("stories:roll_create", args=[campaign.pk])
    return client.post(url, {"dice": dice, "reason": reason}, **extra)


def test_a_page_roll_appears_in_the_event_log_and_the_rolls_panel(client, campaign, players):
    client.force_login(players["pia"])
    response = _roll(client, campaign, "1d20+3", "climbing the wall")
    assert response.status_code == 302
    event = Event.objects.get(campaign=campaign, kind="roll")
    assert event.source == Event.Source.ROLL and event.applied and event.actor == players["pia"]
    assert (
        event.payload["entity"] == campaign.numbers["Bram"] and event.payload["dice"] == "1d20 + 3"
    )
    assert 4 <= event.payload["total"] <= 23
    line = f"Bram rolled {event.payload['detail']} for climbing the wall"
    page = client.get(reverse("stories:campaign_detail", args=[campaign.pk])).content.decode()
    assert line in page
    timeline = client.get(reverse("stories:campaign_timeline", args=[campaign.pk]))
    assert line in timeline.content.decode()


def test_an_htmx_roll_answers_with_the_panel_and_bad_dice_with_a_message(client, campaign, players):
    client.force_login(players["pete"])
    response = _roll(client, campaign, "2d20kh1", **HX)
    assert response.status_code == 200
    body = response.content.decode()
    assert 'id="rolls"' in body and "pete rolled 2d20kh1 (" in body
    refused = _roll(client, campaign, "1000000d1000000", **HX).content.decode()
    assert "At most 100 dice in one roll" in refused and 'role="alert"' in refused
    assert Event.objects.filter(campaign=campaign, kind="roll").count() == 1


def test_without_javascript_bad_dice_come_back_as_a_message(client, campaign, players):
    client.force_login(players["pete"])
    response = _roll(client, campaign, "roll a lot", follow=True)
    assert "is not dice notation" in response.content.decode()
    assert not Event.objects.filter(campaign=campaign, kind="roll").exists()


def test_a_viewer_cannot_roll(client, campaign, players):
    client.force_login(players["vera"])
    response = _roll(client, campaign, "1d20", follow=True)
    assert "Viewers cannot roll dice" in response.content.decode()
    assert not Event.objects.filter(campaign=campaign, kind="roll").exists()


def test_private_rolls_are_hidden_from_other_players_but_not_the_roller_or_the_owner(
    client, campaign, players, user
):
    client.force_login(user)
    setting = reverse("stories:rolls_setting", args=[campaign.pk])
    assert client.post(setting, {"zero_hp": "dead"}).status_code == 302  # unticked: private
    campaign.refresh_from_db()
    assert campaign.rolls_public is False and campaign.zero_hp == "dead"

    client.force_login(players["pia"])
    _roll(client, campaign, "3d1000", "sneaking past the guard")
    event = Event.objects.get(campaign=campaign, kind="roll")
    secret = event.payload["detail"]
    assert event.payload["public"] is False
    page = reverse("stories:campaign_detail", args=[campaign.pk])
    timeline = reverse("stories:campaign_timeline", args=[campaign.pk])
    assert secret in client.get(page).content.decode()  # the roller sees it

    for other in (players["pete"], players["vera"]):
        client.force_login(other)
        for url in (page, timeline):
            body = client.get(url).content.decode()
            assert secret not in body and "sneaking past" not in body
            assert "Bram rolled in private" in body

    client.force_login(user)
    assert secret in client.get(page).content.decode()  # the game master sees it


def test_only_the_owner_sets_whether_rolls_are_public(client, campaign, players):
    client.force_login(players["pia"])
    setting = reverse("stories:rolls_setting", args=[campaign.pk])
    assert client.post(setting, {"zero_hp": "dead"}).status_code == 403
    campaign.refresh_from_db()
    assert campaign.rolls_public is True and campaign.zero_hp == "unconscious"
