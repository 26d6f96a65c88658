"""A campaign's lore out as a SillyTavern World Info file, and back in through Carrel's own
lorebook import as the same entities."""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from stories import services
from stories.projection import load_state
from tests.stories.views.pages import url

pytestmark = pytest.mark.django_db


def _entities(campaign) -> list[tuple]:
    state = load_state(campaign)
    return sorted(
        (e.kind, e.name, tuple(e.aliases), e.description, e.pinned) for e in state.entities.values()
    )


def test_the_world_info_file_has_an_entry_for_every_entity(signed_in_client, campaign):
    response = signed_in_client.get(url("world_info_export", campaign.pk))
    assert response["Content-Disposition"].startswith("attachment;")
    data = json.loads(response.content)
    entries = data["entries"]
    assert len(entries) == 8
    harbor = next(e for e in entries.values() if e["comment"] == "Harbor")
    assert harbor["key"] == ["Harbor"] and harbor["content"] == "Salt and gulls."
    assert [e["uid"] for e in entries.values()] == list(range(8))
    assert list(entries) == [str(n) for n in range(8)]


def test_the_world_info_export_imports_back_as_the_same_world(signed_in_client, campaign, user):
    book = {
        "entries": [
            {"comment": "Maze", "key": ["maze"], "content": "Twisty.", "constant": True},
            {"comment": "Maze", "key": ["maze"], "content": "Little passages."},
        ]
    }
    services.lorebook_import(campaign=campaign, user=user, data=book)
    exported = signed_in_client.get(url("world_info_export", campaign.pk)).content
    fresh = services.campaign_create(owner=user, title="Empty")
    upload = SimpleUploadedFile("world.json", exported, content_type="application/json")
    signed_in_client.post(url("lorebook_import", fresh.pk), {"file": upload, "kind": "auto"})
    assert _entities(fresh) == _entities(campaign)
    assert ("lore", "Maze (2)", ("Maze",), "Little passages.", False) in _entities(fresh)
