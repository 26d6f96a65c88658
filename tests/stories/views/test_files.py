"""Files: export, import and the chronicle through the pages, and a lorebook upload."""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from stories.models import Campaign
from stories.projection import load_state
from tests.stories.views.pages import url

pytestmark = pytest.mark.django_db


@pytest.mark.django_db(transaction=True)  # the turn is sent on commit
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
