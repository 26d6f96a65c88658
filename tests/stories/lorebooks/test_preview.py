"""A lorebook from the page is previewed first: every entry with the kind its own fields
give and a short excerpt, a kind to choose for each, and nothing imported until the person
confirms. The parsed entries wait server-side under a token; the file is sent once."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from stories import selectors, services
from stories.exchange import ImportProblem
from stories.models import Event
from stories.projection import load_state
from tests.stories.lorebooks.test_repeated_names import colossal_cave
from tests.stories.views.pages import assert_csp_clean, assert_every_control_is_labelled, url

pytestmark = pytest.mark.django_db

BOOK: dict[str, Any] = {
    "entries": [
        {"comment": "Location: Hall of Mists", "content": "Mist rises from a pit. " * 20},
        {"comment": "Troll", "key": ["troll", "bridge troll"], "content": "Wants treasure."},
        {"comment": "Plugh", "content": "A magic word.", "group": "Lore"},
        {"comment": "Troll", "content": "A second troll."},
        {"comment": "Harbor", "content": "Already in the world."},
        {"comment": "Old note", "content": "Off.", "disable": True},
    ]
}


def test_what_the_preview_says_of_each_entry_is_what_the_import_does(campaign, user):
    book = {
        "entries": [
            {"comment": "Harbor", "content": "In the world already."},
            {"comment": "Harbor", "content": "And again."},
            {"comment": "Cove", "content": "Off.", "disable": True},
            {"comment": "Cove", "content": "On."},
            {"comment": "Cove", "content": "Twice."},
        ]
    }
    token = services.lorebook_preview_create(campaign=campaign, user=user, data=book)
    view = selectors.lorebook_preview_get(campaign=campaign, user=user, token=token)
    assert view is not None
    assert [r.note.split(":")[0] for r in view.rows] == [
        "The world already has this name",
        "The world already has this name",
        "Disabled in the lorebook",
        "",
        "Repeats an earlier name",
    ]
    result = services.lorebook_preview_import(
        campaign=campaign, user=user, token=token, kinds=[r.kind for r in view.rows]
    )
    assert result.created == ["Cove", "Cove (2)"] and len(result.skipped) == 3
    assert view.to_import == 2


def _upload(client, campaign, book: dict[str, Any], kind: str = "auto"):
    raw = json.dumps(book).encode()
    upload = SimpleUploadedFile("book.json", raw, content_type="application/json")
    return client.post(url("lorebook_preview", campaign.pk), {"file": upload, "kind": kind})


def _token(response) -> str:
    match = re.search(r"/lorebook/preview/([\w-]+)/$", response["Location"])
    assert match, response["Location"]
    return match.group(1)


def test_an_upload_shows_every_entry_with_its_inferred_kind_and_imports_nothing(
    signed_in_client, campaign
):
    events_before = Event.objects.filter(campaign=campaign).count()
    response = _upload(signed_in_client, campaign, BOOK)
    assert response.status_code == 302
    page = signed_in_client.get(response["Location"])
    html = page.content.decode()
    rows = page.context["rows"]
    assert [r.name for r in rows] == [
        "Location: Hall of Mists",
        "Troll",
        "Plugh",
        "Troll",
        "Harbor",
        "Old note",
    ]
    assert [r.inferred for r in rows] == ["location", None, "lore", None, None, None]
    assert [r.kind for r in rows] == ["location", "lore", "lore", "lore", "lore", "lore"]
    assert rows[0].excerpt.endswith("…") and len(rows[0].excerpt) == 161
    assert rows[1].aliases == ["bridge troll"]
    assert rows[3].note.startswith("Repeats an earlier name")
    assert rows[4].note == "The world already has this name: skipped."
    assert rows[5].note == "Disabled in the lorebook: skipped."
    assert "6 entries (at most 2000 in one import); 4 will be imported." in " ".join(html.split())
    assert '<option value="location" selected>' in html
    assert 'name="kind-5"' in html
    assert_csp_clean(html)
    assert_every_control_is_labelled(html)
    assert Event.objects.filter(campaign=campaign).count() == events_before


def test_confirming_imports_each_entry_as_the_kind_chosen_for_it(signed_in_client, campaign):
    token = _token(_upload(signed_in_client, campaign, BOOK))
    response = signed_in_client.post(
        url("lorebook_preview_detail", campaign.pk, token),
        {"kind-1": "character", "kind-2": "item", "kind-3": "character"},
        follow=True,
    )
    state = load_state(campaign)
    kinds = {name: state.entities[state.find(name) or 0].kind for name in ("Troll", "Troll (2)")}
    assert kinds == {"Troll": "character", "Troll (2)": "character"}
    assert state.entities[state.find("Plugh") or 0].kind == "item"
    assert state.entities[state.find("Location: Hall of Mists") or 0].kind == "location"
    assert state.entities[state.find("Troll (2)") or 0].aliases == ["Troll"]
    said = [str(m) for m in response.context["messages"]]
    assert said[0] == "Imported 4 lorebook entries (2 character, 1 item, 1 location)."
    assert said[1].startswith("1 entry repeated a name used earlier in the lorebook")
    assert said[2] == (
        "Skipped 2 entries: Harbor: An entity named 'Harbor' already exists.; "
        "Old note: disabled in the lorebook"
    )
    assert len(said) == 3


def test_a_preview_imports_once_and_a_second_submit_says_it_is_gone(signed_in_client, campaign):
    token = _token(_upload(signed_in_client, campaign, colossal_cave(), kind="lore"))
    target = url("lorebook_preview_detail", campaign.pk, token)
    said = [str(m) for m in signed_in_client.post(target, {}, follow=True).context["messages"]]
    assert said[0] == "Imported 175 lorebook entries (175 lore)."
    assert len(load_state(campaign).entities) == 8 + 175
    again = signed_in_client.post(target, {}, follow=True)
    assert [str(m) for m in again.context["messages"]] == [services.LOREBOOK_PREVIEW_EXPIRED]
    assert len(load_state(campaign).entities) == 8 + 175
    assert signed_in_client.get(target).status_code == 302


def test_a_kind_chosen_at_upload_is_what_every_entry_is_offered_as(signed_in_client, campaign):
    token = _token(_upload(signed_in_client, campaign, colossal_cave(), kind="lore"))
    page = signed_in_client.get(url("lorebook_preview_detail", campaign.pk, token))
    assert {r.kind for r in page.context["rows"]} == {"lore"}
    assert page.context["inferred"] == {"item": 35, "location": 140}


def test_a_preview_belongs_to_whoever_uploaded_it(client, signed_in_client, campaign, other_user):
    token = _token(_upload(signed_in_client, campaign, BOOK))
    campaign.members.create(user=other_user, role="editor")
    client.force_login(other_user)
    response = client.post(url("lorebook_preview_detail", campaign.pk, token), {}, follow=True)
    assert [str(m) for m in response.context["messages"]] == [services.LOREBOOK_PREVIEW_EXPIRED]
    assert load_state(campaign).find("Plugh") is None


def test_a_kind_that_is_not_a_kind_is_refused_and_nothing_is_imported(signed_in_client, campaign):
    token = _token(_upload(signed_in_client, campaign, BOOK))
    target = url("lorebook_preview_detail", campaign.pk, token)
    response = signed_in_client.post(target, {"kind-2": "dragon"}, follow=True)
    assert [str(m) for m in response.context["messages"]] == ["Entry 3: choose one of the kinds."]
    assert load_state(campaign).find("Plugh") is None
    signed_in_client.post(target, {"kind-2": "quest"})  # the preview is still there
    state = load_state(campaign)
    assert state.entities[state.find("Plugh") or 0].kind == "quest"


def test_a_lorebook_over_the_entry_limit_is_refused_at_upload(signed_in_client, campaign, settings):
    settings.CARREL_LOREBOOK_MAX_ENTRIES = 5
    response = _upload(signed_in_client, campaign, BOOK)
    assert response["Location"] == url("campaign_settings", campaign.pk)
    said = [str(m) for m in signed_in_client.get(response["Location"]).context["messages"]]
    assert said == [
        "This lorebook has 6 entries; Carrel imports at most 5 at once "
        "(CARREL_LOREBOOK_MAX_ENTRIES). Split it into smaller lorebooks."
    ]


def test_the_service_wants_one_known_kind_per_entry(campaign, user):
    token = services.lorebook_preview_create(campaign=campaign, user=user, data=BOOK)
    with pytest.raises(ImportProblem, match="Choose a kind for each of the 6 entries"):
        services.lorebook_preview_import(campaign=campaign, user=user, token=token, kinds=["lore"])
    with pytest.raises(ImportProblem, match="Unknown entity kind 'dragon'"):
        services.lorebook_preview_import(
            campaign=campaign, user=user, token=token, kinds=["dragon"] * 6
        )
    result = services.lorebook_preview_import(
        campaign=campaign, user=user, token=token, kinds=["lore"] * 6
    )
    assert result.kinds == {"lore": 4}
