"""Character cards in: V2 and V3 JSON, and PNG files carrying them, become a character with
its lorebook; the card exports back as it came; bad cards are refused with a message."""

from __future__ import annotations

import base64

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from stories.exchange import campaign_export, campaign_import
from stories.models import Entity
from stories.projection import load_state
from stories.selectors import character_card_get_for_entity
from tests.hostile import nested_json
from tests.stories.cards.samples import as_text, card_png, png, v2_card, v3_card
from tests.stories.views.pages import url

pytestmark = pytest.mark.django_db


def _upload(client, campaign, raw: bytes, name: str = "card.json", **extra: str):
    upload = SimpleUploadedFile(name, raw, content_type="application/octet-stream")
    return client.post(
        url("card_import", campaign.pk), {"file": upload, "kind": "auto", **extra}, follow=True
    )


def _said(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def test_a_v2_json_card_becomes_a_character_with_its_book(signed_in_client, campaign):
    response = _upload(signed_in_client, campaign, as_text(v2_card()).encode())
    state = load_state(campaign)
    number = state.find("Seraphina")
    assert number is not None
    assert response.redirect_chain[-1][0] == url("entity_detail", campaign.pk, number)
    seraphina = state.entities[number]
    assert seraphina.kind == "character"
    assert seraphina.description == (
        "A guardian of the Eldoria forest.\n\nPersonality: Kind, protective, wry."
        "\n\nScenario: She found you hurt in the woods."
    )
    for name in ("Eldoria Forest", "Moonblade", "The Shadow Court"):
        entry = state.find(name)
        assert entry is not None and state.entities[entry].kind == "lore"
    assert state.entities[state.find("moonblade") or 0].description == "About Moonblade."
    said = _said(response)
    assert said[0] == "Imported Seraphina from a Character Card V2."
    assert said[1] == "Imported 3 character book entries (3 lore)."
    assert "Download the character card" in response.content.decode()


def test_a_v3_json_card_becomes_a_character_with_its_book(signed_in_client, campaign):
    response = _upload(signed_in_client, campaign, as_text(v3_card()).encode())
    state = load_state(campaign)
    kael = state.entities[state.find("Kael") or 0]
    assert kael.kind == "character" and kael.aliases == ["the Ferryman"]
    assert state.find("the Ferryman") == state.find("Kael")
    styx = state.entities[state.find("The Styx") or 0]
    obol = state.entities[state.find("Item: Obol") or 0]
    assert styx.kind == "location"  # "You are on the bank of…"
    assert obol.kind == "item"  # "Item: Obol"
    assert _said(response)[0] == "Imported Kael from a Character Card V3."


@pytest.mark.parametrize("keyword", [b"chara", b"ccv3"])
def test_a_png_card_imports_from_its_text_chunk(signed_in_client, campaign, keyword):
    card = v2_card() if keyword == b"chara" else v3_card()
    raw = card_png(as_text(card), keyword)
    _upload(signed_in_client, campaign, raw, name="card.png")
    state = load_state(campaign)
    name = card["data"]["name"]
    assert state.find(name) is not None
    assert len(state.entities) == 8 + 1 + len(card["data"]["character_book"]["entries"])


def test_a_png_with_both_chunks_is_read_from_its_v3_chunk(signed_in_client, campaign):
    v2, v3 = as_text(v2_card("Old")), as_text(v3_card("New"))
    raw = png((b"chara", base64.b64encode(v2.encode())), (b"ccv3", base64.b64encode(v3.encode())))
    _upload(signed_in_client, campaign, raw, name="card.png")
    state = load_state(campaign)
    assert state.find("New") is not None and state.find("Old") is None


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        (as_text(v2_card()).encode(), as_text(v2_card())),
        (card_png(as_text(v2_card()) + "\n"), as_text(v2_card()) + "\n"),
        (as_text(v3_card()).encode(), as_text(v3_card())),
    ],
    ids=["v2-json", "v2-png", "v3-json"],
)
def test_a_card_exports_back_exactly_as_it_came(signed_in_client, campaign, raw, text):
    _upload(signed_in_client, campaign, raw, name="card.png")
    character = Entity.objects.get(campaign=campaign, name__in=["Seraphina", "Kael"])
    response = signed_in_client.get(url("card_export", campaign.pk, character.number))
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment;")
    assert response.content == text.encode()


def test_an_entity_not_from_a_card_has_no_card_to_export(signed_in_client, campaign):
    response = signed_in_client.get(url("card_export", campaign.pk, campaign.numbers["Ada"]))
    assert response.status_code == 404


def test_the_card_survives_a_campaign_export_and_import(signed_in_client, campaign, user):
    text = as_text(v3_card())
    _upload(signed_in_client, campaign, text.encode())
    copy = campaign_import(owner=user, data=campaign_export(campaign), title="Copy")
    number = load_state(copy).find("Kael")
    assert number is not None
    card = character_card_get_for_entity(campaign=copy, number=number)
    assert card == {"spec": "chara_card_v3", "text": text, "name": "Kael"}


def test_a_card_whose_name_is_taken_is_refused_whole(signed_in_client, campaign):
    before = Entity.objects.filter(campaign=campaign).count()
    response = _upload(signed_in_client, campaign, as_text(v2_card("Ada")).encode())
    assert _said(response) == [
        "An entity named 'Ada' already exists. Rename it first, or edit the card."
    ]
    assert Entity.objects.filter(campaign=campaign).count() == before


GARBAGE = [
    (b"\xff\xfegarbage", "This character card is not valid JSON: it is not UTF-8 text."),
    (b"\x00\x01garbage", "This character card is not valid JSON (Expecting value at line 1"),
    (b"[1, 2]", "A character card is a JSON object."),
    (b'{"entries": {}}', "This is not a character card Carrel reads"),
    (b'{"spec": "chara_card_v2", "data": []}', "This Character Card V2 has no “data” object."),
    (b'{"spec": "chara_card_v2", "data": {"name": " "}}', "This character card has no name."),
    (
        b'{"spec": "chara_card_v3", "data": {"name": "X", "description": 7}}',
        "This character card's “description” is not text.",
    ),
    (
        b'{"spec": "chara_card_v2", "data": {"name": "X", "character_book": []}}',
        "This character card's “character_book” is not an object.",
    ),
    (nested_json(40), "This character card is nested too deeply to read (Carrel reads 32 levels)."),
    (png(), "This PNG carries no character card (no “chara” or “ccv3” text chunk)."),
    (png((b"chara", b"not base64!")), "The card inside this PNG is not valid base64."),
    (png((b"chara", b"AAAA"))[:45], "This PNG is cut short or damaged: a chunk runs past its end."),
    (b"\x89PNG\r\n\x1a\n\xff\xff\xff\xffIHDR", "This PNG is cut short or damaged"),
    (b"\x89PNG\r\n\x1a\n", "This PNG is cut short: a chunk header is missing."),
]


@pytest.mark.parametrize(("raw", "message"), GARBAGE)
def test_a_garbage_card_is_refused_with_a_message(signed_in_client, campaign, raw, message):
    before = Entity.objects.filter(campaign=campaign).count()
    response = _upload(signed_in_client, campaign, raw)
    assert response.redirect_chain[-1][0] == url("campaign_settings", campaign.pk)
    [said] = _said(response)
    assert said.startswith(message), said
    assert Entity.objects.filter(campaign=campaign).count() == before


def test_an_oversized_card_file_is_refused_before_it_is_read(signed_in_client, campaign, settings):
    settings.CARREL_CARD_MAX_BYTES = 1000
    response = _upload(signed_in_client, campaign, card_png(as_text(v2_card())), name="big.png")
    [said] = _said(response)
    assert said.startswith("“big.png” is ") and said.endswith(
        "a character card may be at most 1000\xa0bytes (CARREL_CARD_MAX_MB)."
    )
    assert load_state(campaign).find("Seraphina") is None


def test_an_oversized_card_inside_a_png_is_refused(signed_in_client, campaign, settings):
    settings.CARREL_LOREBOOK_MAX_BYTES = 3000
    card = v2_card()
    card["data"]["description"] = "x" * 5000
    [said] = _said(_upload(signed_in_client, campaign, card_png(as_text(card)), name="c.png"))
    assert said.startswith("The card inside this PNG is ") and said.endswith(
        "Carrel reads at most 4,004 (CARREL_LOREBOOK_MAX_MB)."
    )
    [said] = _said(_upload(signed_in_client, campaign, as_text(card).encode()))
    assert said.endswith("Carrel reads at most 3,000 (CARREL_LOREBOOK_MAX_MB).")
