"""Entities: hand edits from the entity pages are events."""

from __future__ import annotations

import pytest

from stories.models import Event
from stories.projection import load_state
from tests.stories.views.pages import assert_every_control_is_labelled, url

pytestmark = pytest.mark.django_db


def test_editing_an_entity_by_hand_is_an_event(signed_in_client, campaign):
    ada = campaign.numbers["Ada"]
    form = signed_in_client.get(url("entity_edit", campaign.pk, ada)).content.decode()
    assert_every_control_is_labelled(form)
    response = signed_in_client.post(
        url("entity_edit", campaign.pk, ada),
        {
            "kind": "character",
            "name": "Ada Vance",
            "description": "A sailor.",
            "status": "alive",
            "location": campaign.numbers["Tower"],
            "stats": "hp = 12\nwit = 4",
            "traits": "brave, curious",
            "goals": "find the crown",
            "aliases": "Ada",
            "pinned": "on",
        },
    )
    assert response.status_code == 302
    entity = load_state(campaign).entities[ada]
    assert (entity.name, entity.location, entity.stats, entity.pinned) == (
        "Ada Vance",
        campaign.numbers["Tower"],
        {"hp": 12, "wit": 4},
        True,
    )
    event = Event.objects.filter(campaign=campaign, kind="edit").latest("sequence")
    assert event.source == "user" and set(event.payload["set"]) >= {"name", "location", "stats"}
    page = signed_in_client.get(url("entity_detail", campaign.pk, ada)).content.decode()
    assert "Ada Vance" in page and "edited by hand" in page
    bad = signed_in_client.post(
        url("entity_edit", campaign.pk, ada),
        {"kind": "character", "name": "Bram", "stats": "hp: x"},
    )
    assert bad.status_code == 200 and "name = number" in bad.content.decode()


def test_inventory_relationship_and_path_forms_change_the_world(signed_in_client, campaign):
    n = campaign.numbers
    signed_in_client.post(
        url("holding_set", campaign.pk, n["Bram"]), {"item": n["Gold coin"], "quantity": 7}
    )
    signed_in_client.post(
        url("relationship_set", campaign.pk, n["Bram"]),
        {"target": n["Ada"], "relation": "fears", "strength": -40, "note": ""},
    )
    signed_in_client.post(url("connection_add", campaign.pk, n["Harbor"]), {"other": n["Tower"]})
    signed_in_client.post(url("connection_remove", campaign.pk, n["Market"], n["Tower"]))
    state = load_state(campaign)
    assert state.holdings[(n["Bram"], n["Gold coin"])] == 7
    assert state.relationships[(n["Bram"], n["Ada"], "fears")].strength == -40
    assert state.links == {(n["Harbor"], n["Market"]), (n["Harbor"], n["Tower"])}
