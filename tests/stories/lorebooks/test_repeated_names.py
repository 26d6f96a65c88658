"""A lorebook keeps every entry: names it repeats are numbered, the repeated name kept as an
alias, and one message says so; each entry's kind comes from its own fields."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from stories import services
from stories.projection import load_state
from tests.stories.views.pages import url

pytestmark = pytest.mark.django_db

MAZE = "You are in a maze of twisty little passages, all alike."


def colossal_cave() -> dict[str, Any]:
    """175 entries as a Colossal Cave world has them: rooms, many of one name, and objects."""
    entries: list[dict[str, Any]] = []
    for n in range(140):
        name = "Maze all alike" if n % 10 == 0 else f"Room {n}"
        entries.append({"comment": name, "key": [name], "content": f"{MAZE} ({n})"})
    for n in range(35):
        name = "Dwarf" if n % 7 == 0 else f"Object {n}"
        entries.append(
            {"comment": name, "key": [name.lower()], "content": f"It is {n}.", "group": "Items"}
        )
    return {"entries": {str(uid): {"uid": uid, **e} for uid, e in enumerate(entries)}}


def test_a_lorebook_that_repeats_names_keeps_every_entry(campaign, user):
    result = services.lorebook_import(campaign=campaign, user=user, data=colossal_cave())
    assert len(result.created) == 175 and result.skipped == []
    state = load_state(campaign)
    assert len(state.entities) == 8 + 175
    mazes = sorted(
        (e for e in state.entities.values() if e.name.startswith("Maze all alike")),
        key=lambda e: e.description,
    )
    assert len(mazes) == 14
    assert {m.name for m in mazes} == {"Maze all alike"} | {
        f"Maze all alike ({n})" for n in range(2, 15)
    }
    first = state.entities[state.find("Maze all alike") or 0]
    assert first.description == f"{MAZE} (0)" and first.aliases == []
    second = state.entities[state.find("Maze all alike (2)") or 0]
    assert second.description == f"{MAZE} (10)"
    assert second.aliases == ["Maze all alike"]
    assert [new for new, _old in result.renamed][:2] == ["Maze all alike (2)", "Maze all alike (3)"]
    assert len(result.renamed) == 13 + 4  # 14 mazes and 5 dwarves, the first of each kept


def test_each_entry_kind_comes_from_its_own_fields(campaign, user):
    services.lorebook_import(campaign=campaign, user=user, data=colossal_cave())
    state = load_state(campaign)
    kind = {e.name: e.kind for e in state.entities.values()}
    assert kind["Maze all alike (3)"] == "location"  # "You are in…"
    assert kind["Object 1"] == "item"  # group "Items"
    book = {
        "entries": [
            {"comment": "Location: Hall of Mists", "content": "Mist."},
            {"comment": "[NPC] Troll", "content": "Wants treasure."},
            {"comment": "The Thieves", "content": "A gang.", "category": "Faction"},
            {"comment": "Plugh", "content": "A magic word."},
            {"comment": "Lamp", "content": "Brass.", "extensions": {"carrel": {"kind": "item"}}},
        ]
    }
    result = services.lorebook_import(campaign=campaign, user=user, data=book)
    state = load_state(campaign)
    assert {name: state.entities[state.find(name) or 0].kind for name in result.created} == {
        "Location: Hall of Mists": "location",
        "[NPC] Troll": "character",
        "The Thieves": "faction",
        "Plugh": "lore",
        "Lamp": "item",
    }


def test_a_chosen_kind_applies_to_every_entry(campaign, user):
    services.lorebook_import(campaign=campaign, user=user, data=colossal_cave(), kind="lore")
    state = load_state(campaign)
    assert {e.kind for n, e in state.entities.items() if n > 8} == {"lore"}


def test_the_page_says_in_one_message_which_entries_were_renamed(signed_in_client, campaign):
    raw = json.dumps(colossal_cave()).encode()
    upload = SimpleUploadedFile("cave.json", raw, content_type="application/json")
    response = signed_in_client.post(
        url("lorebook_import", campaign.pk), {"file": upload, "kind": "auto"}, follow=True
    )
    said = [str(m) for m in response.context["messages"]]
    assert said[0] == "Imported 175 lorebook entries (35 item, 140 location)."
    assert said[1].startswith(
        "17 entries repeated a name used earlier in the lorebook; each was kept under a "
        "numbered name with the repeated name as an alias: “Maze all alike (2)”, "
    )
    assert said[1].endswith(" and 5 more.")
    assert len(said) == 2


def test_names_already_in_the_world_are_skipped_in_one_message(signed_in_client, campaign):
    book = {"entries": [{"comment": n, "content": "Again."} for n in ("Harbor", "Ada", "New")]}
    upload = SimpleUploadedFile("b.json", json.dumps(book).encode(), "application/json")
    response = signed_in_client.post(
        url("lorebook_import", campaign.pk), {"file": upload, "kind": "lore"}, follow=True
    )
    said = [str(m) for m in response.context["messages"]]
    assert said == [
        "Imported 1 lorebook entry (1 lore).",
        "Skipped 2 entries: Harbor: An entity named 'Harbor' already exists.; "
        "Ada: An entity named 'Ada' already exists.",
    ]
