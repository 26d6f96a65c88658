"""Export/import round trip, the Markdown chronicle and SillyTavern lorebooks."""

from __future__ import annotations

import json

import pytest

from stories import services
from stories.exchange import ImportProblem, campaign_export, campaign_import, chronicle_markdown
from stories.history import campaign_undo
from stories.models import Campaign, Summary, Turn
from stories.projection import load_state
from stories.turns import CHANGE_ATTEMPTS, turn_play

pytestmark = pytest.mark.django_db


@pytest.fixture
def rich_campaign(campaign, owner_member, user, script):
    """Turns with applied, rejected and undone changes, a failed change call, a hand edit
    and an arc summary over session summaries."""
    script.add(
        "Ada buys bread.",
        [
            {"kind": "transfer", "item": "Gold coin", "quantity": 1, "from_holder": "Ada"},
            {"kind": "transfer", "item": "Gold coin", "quantity": 50, "from_holder": "Ada"},
        ],
    )
    script.add(
        "Ada meets Cora.",
        [
            {
                "kind": "create",
                "entity_kind": "character",
                "name": "Cora",
                "location": "Harbor",
                "stats": {"wit": 3},
                "traits": ["sly"],
            },
            {
                "kind": "relationship",
                "source": "Cora",
                "target": "Ada",
                "relation": "owes",
                "delta": -25,
                "note": "an old debt",
            },
        ],
    )
    script.add("Ada sings.", raw_answers=["nonsense"] * CHANGE_ATTEMPTS)
    script.add("Ada sleeps.", [{"kind": "clock", "minutes": 480}])
    for action in ("I buy bread.", "I say hello.", "I sing.", "I sleep."):
        turn_play(campaign=campaign, member=owner_member, action=action)
    campaign_undo(campaign=campaign, member=owner_member, to_turn=3)
    script.add("Ada wakes early.", [{"kind": "clock", "minutes": 300}])
    turn_play(campaign=campaign, member=owner_member, action="I wake.")
    services.entity_edit(
        campaign=campaign,
        user=user,
        number=campaign.numbers["Bram"],
        values={"goals": ["sell swords"]},
    )
    first = Summary.objects.create(
        campaign=campaign, first_turn=1, last_turn=2, text="Bread and Cora.", token_count=9
    )
    second = Summary.objects.create(
        campaign=campaign, first_turn=3, last_turn=3, text="A song.", token_count=6
    )
    arc = Summary.objects.create(
        campaign=campaign, kind="arc", first_turn=1, last_turn=3, text="Early days.", token_count=7
    )
    Summary.objects.filter(pk__in=[first.pk, second.pk]).update(superseded_by=arc)
    campaign.refresh_from_db()
    return campaign


def test_a_campaign_survives_export_and_import_without_loss(rich_campaign, other_user):
    exported = campaign_export(rich_campaign)
    assert {t["undone"] for t in exported["turns"]} == {True, False}
    assert any(not e["applied"] for e in exported["events"])
    text = json.dumps(exported)
    imported = campaign_import(owner=other_user, data=json.loads(text))
    assert imported.owner == other_user and imported.pk != rich_campaign.pk
    assert campaign_export(imported) == exported
    assert load_state(imported).as_dict() == load_state(rich_campaign).as_dict()
    assert imported.world_project is not None and imported.world_project.kind == "world"


def test_an_inconsistent_or_foreign_file_is_refused_whole(rich_campaign, other_user):
    exported = campaign_export(rich_campaign)
    exported["world"]["clock"] += 1
    before = Campaign.objects.count()
    with pytest.raises(ImportProblem, match="does not match"):
        campaign_import(owner=other_user, data=exported)
    with pytest.raises(ImportProblem, match="not a Carrel campaign"):
        campaign_import(owner=other_user, data={"entries": {}})
    broken = campaign_export(rich_campaign)
    broken["events"][0]["payload"] = {"number": "x"}
    with pytest.raises(ImportProblem):
        campaign_import(owner=other_user, data=broken)
    assert Campaign.objects.count() == before


def test_the_chronicle_tells_the_live_story_with_its_changes(rich_campaign):
    text = chronicle_markdown(rich_campaign)
    assert text.startswith("# The Lost Crown\n")
    assert "## Turn 1" in text and "## Turn 4" in text and "## Turn 5" not in text
    assert "**Ada (played by ada):** I buy bread." in text
    assert "Ada lost Gold coin" in text
    assert "Ada holds 4 Gold coin, so cannot give 50." in text
    assert "New character: Cora at Harbor" in text
    assert "Ada wakes early." in text and "Ada sleeps." not in text  # undone
    assert "after 3 attempts" in text
    assert "*Day 1, 05:00*" in text
    assert "Edited by hand afterwards" in text


LOREBOOK = {
    "name": "Saltmarsh",
    "entries": {
        "0": {
            "uid": 0,
            "key": ["Salt Guild", "guild"],
            "keysecondary": [],
            "comment": "The Salt Guild",
            "content": "Merchants who own the harbor.",
            "constant": True,
            "disable": False,
        },
        "1": {
            "uid": 1,
            "key": ["Old Lighthouse"],
            "comment": "",
            "content": "A ruin on the point.",
            "constant": False,
            "disable": False,
        },
        "2": {
            "uid": 2,
            "key": ["secret"],
            "comment": "Hidden",
            "content": "Not yet.",
            "disable": True,
        },
        "3": {"uid": 3, "key": ["harbor"], "comment": "Harbor", "content": "Duplicate name."},
    },
}


def test_a_sillytavern_lorebook_becomes_entities_with_aliases_and_canon(campaign, user):
    result = services.lorebook_import(campaign=campaign, user=user, data=LOREBOOK, kind="lore")
    assert result.created == ["The Salt Guild", "Old Lighthouse"]
    assert any(s.startswith("Hidden: disabled") for s in result.skipped)
    assert any(s.startswith("Harbor:") and "already exists" in s for s in result.skipped)
    state = load_state(campaign)
    number = state.find("guild")  # found by its alias
    assert number is not None
    guild = state.entities[number]
    assert guild.name == "The Salt Guild" and guild.pinned and guild.kind == "lore"
    assert guild.aliases == ["Salt Guild", "guild"]
    assert guild.description == "Merchants who own the harbor."


def test_canon_from_a_lorebook_is_always_in_the_prompt(campaign, owner_member, user, script):
    services.lorebook_import(campaign=campaign, user=user, data=LOREBOOK)
    script.add("Nothing much.", [])
    turn = turn_play(campaign=campaign, member=owner_member, action="I look at the sea.")
    assert turn.status == Turn.Status.DONE
    from workspace.runtime import get_runtime

    system = get_runtime().calls[0][0].content  # type: ignore[attr-defined]
    assert "Merchants who own the harbor." in system
    assert "A ruin on the point." not in system  # not canon, and not mentioned
    rules = turn.context_map["sections"][0]
    assert [e["label"] for e in rules["included"]] == ["The Salt Guild (lore)"]


def test_a_character_book_list_format_is_read_too(campaign, user):
    book = {
        "character_book": {
            "entries": [{"keys": ["Mira"], "content": "A smuggler.", "enabled": True}]
        }
    }
    result = services.lorebook_import(campaign=campaign, user=user, data=book, kind="character")
    assert result.created == ["Mira"]
    state = load_state(campaign)
    mira = state.find("Mira")
    assert mira is not None and state.entities[mira].kind == "character"
