"""The campaign pages: access control, forms, the streamed turn, files."""

from __future__ import annotations

import json
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from stories import services
from stories.models import Campaign, Event, Turn
from stories.projection import load_state

pytestmark = pytest.mark.django_db


def url(name: str, *args) -> str:
    return reverse(f"stories:{name}", args=args)


def assert_csp_clean(html: str) -> None:
    assert not re.search(r"\sstyle=", html), "inline style attribute"
    assert not re.search(r"<script(?![^>]*\ssrc=)[^>]*>", html), "inline script"
    assert not re.search(r"<[^>]+\son[a-z]+=", html), "inline event handler"


def assert_every_control_is_labelled(html: str) -> None:
    ids = set(re.findall(r'<label[^>]*for="([^"]+)"', html))
    for tag in re.findall(r"<(?:input|select|textarea)\b[^>]*>", html):
        if re.search(r'type="(hidden|submit)"', tag):
            continue
        control_id = re.search(r'id="([^"]+)"', tag)
        assert (control_id and control_id.group(1) in ids) or "aria-label" in tag, tag


def test_creating_a_campaign_makes_its_world_collection_and_owner_membership(
    signed_in_client, user
):
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
    body = b"".join(stream.streaming_content).decode()
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


def test_the_context_map_page_explains_the_last_prompt(signed_in_client, campaign, script):
    script.add("Quiet.", [])
    signed_in_client.post(url("turn_create", campaign.pk), {"action": "I listen."})
    turn = Turn.objects.get(campaign=campaign)
    page = signed_in_client.get(url("context_map", campaign.pk, turn.pk)).content.decode()
    assert f"{turn.prompt_tokens:,}" in page
    for section in ("rules", "entities", "summaries", "turns", "action"):
        assert f'data-testid="section-{section}"' in page
    assert "Ada (character)" in page


def test_export_and_import_through_the_pages(signed_in_client, campaign, script, user):
    script.add("Ada sighs.", [])
    signed_in_client.post(url("turn_create", campaign.pk), {"action": "I sigh."})
    exported = signed_in_client.get(url("export_json", campaign.pk))
    assert exported["Content-Disposition"].startswith("attachment;")
    upload = SimpleUploadedFile("crown.json", exported.content, content_type="application/json")
    response = signed_in_client.post(url("campaign_import"), {"file": upload})
    copy = Campaign.objects.exclude(pk=campaign.pk).get()
    assert response["Location"] == url("campaign_detail", copy.pk)
    assert load_state(copy).as_dict() == load_state(campaign).as_dict()
    chronicle = signed_in_client.get(url("chronicle", campaign.pk)).content.decode()
    assert "Ada sighs." in chronicle
    bad = SimpleUploadedFile("x.json", b"{not json", content_type="application/json")
    signed_in_client.post(url("campaign_import"), {"file": bad})
    assert Campaign.objects.count() == 2


def test_a_lorebook_upload_adds_entities(signed_in_client, campaign):
    book = {
        "entries": {
            "0": {"key": ["Mira"], "comment": "Mira the smuggler", "content": "Runs the docks."}
        }
    }
    upload = SimpleUploadedFile(
        "book.json", json.dumps(book).encode(), content_type="application/json"
    )
    signed_in_client.post(
        url("lorebook_import", campaign.pk), {"file": upload, "kind": "character"}
    )
    state = load_state(campaign)
    number = state.find("Mira")
    assert number is not None
    mira = state.entities[number]
    assert mira.name == "Mira the smuggler" and mira.kind == "character"


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
