"""Hostile imports: a huge lorebook, JSON nested past Python's recursion limit, numbers of
too many digits. Each gets a message and a redirect, never a server error, and adds nothing."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from stories.exchange import ImportProblem, json_from_upload, lorebook_entries
from stories.models import Campaign, Entity
from tests.hostile import huge_lorebook, nested_json

pytestmark = pytest.mark.django_db


def _post(client, url: str, raw: bytes, **extra: str):
    upload = SimpleUploadedFile("upload.json", raw, content_type="application/json")
    response = client.post(url, {"file": upload, **extra}, follow=True)
    assert response.status_code == 200, response.status_code
    [(location, status)] = response.redirect_chain
    assert status == 302
    return location, [str(m) for m in response.context["messages"]]


def _lorebook(client, campaign, raw: bytes):
    url = reverse("stories:lorebook_import", args=[campaign.pk])
    before = Entity.objects.filter(campaign=campaign).count()
    location, said = _post(client, url, raw, kind="lore")
    assert location == reverse("stories:campaign_settings", args=[campaign.pk])
    assert Entity.objects.filter(campaign=campaign).count() == before
    return said


def _campaign_file(client, raw: bytes):
    before = Campaign.objects.count()
    location, said = _post(client, reverse("stories:campaign_import"), raw)
    assert location == reverse("stories:campaign_list")
    assert Campaign.objects.count() == before
    return said


@pytest.mark.parametrize("depth", [100, 100_000])
def test_deeply_nested_json_is_refused_with_a_message_in_both_imports(
    signed_in_client, campaign, depth
):
    raw = nested_json(depth)
    assert _lorebook(signed_in_client, campaign, raw) == [
        "This lorebook is nested too deeply to read (Carrel reads 64 levels)."
    ]
    assert _campaign_file(signed_in_client, raw) == [
        "This campaign file is nested too deeply to read (Carrel reads 64 levels)."
    ]


def test_a_lorebook_of_more_entries_than_the_limit_is_refused_whole(signed_in_client, campaign):
    [said] = _lorebook(signed_in_client, campaign, huge_lorebook(20_000))
    assert said == (
        "This lorebook has 20,000 entries; Carrel imports at most 2,000 at once "
        "(CARREL_LOREBOOK_MAX_ENTRIES). Split it into smaller lorebooks."
    )


def test_a_lorebook_at_the_entry_limit_imports(signed_in_client, campaign, settings):
    settings.CARREL_LOREBOOK_MAX_ENTRIES = 30
    with pytest.raises(ImportProblem):
        lorebook_entries(json_from_upload(huge_lorebook(31), what="lorebook"))
    url = reverse("stories:lorebook_import", args=[campaign.pk])
    _post(signed_in_client, url, huge_lorebook(30), kind="lore")
    assert Entity.objects.filter(campaign=campaign, name__startswith="Entry ").count() == 30


def test_files_over_the_size_limits_are_refused_before_they_are_read(
    signed_in_client, campaign, settings
):
    settings.CARREL_LOREBOOK_MAX_BYTES = 10_000
    settings.CARREL_CAMPAIGN_IMPORT_MAX_BYTES = 10_000
    raw = huge_lorebook(10, content_chars=2_000)
    [said] = _lorebook(signed_in_client, campaign, raw)
    assert said.startswith("“upload.json” is 20.")
    assert said.endswith("a lorebook may be at most 9.8\xa0KB (CARREL_LOREBOOK_MAX_MB).")
    [said] = _campaign_file(signed_in_client, raw)
    assert said.endswith("campaign file may be at most 9.8\xa0KB (CARREL_CAMPAIGN_IMPORT_MAX_MB).")


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        (b"\xff\xfe{", "is not valid JSON: it is not UTF-8 text."),
        (b'{"entries": [', "is not valid JSON (Expecting value at line 1, column 14)."),
        (b'{"entries": ' + b"9" * 5_000 + b"}", "is not valid JSON (Exceeds the limit"),
        (b"", "The submitted file is empty."),
    ],
)
def test_bad_json_gets_a_message_that_says_what_is_wrong(signed_in_client, campaign, raw, words):
    [said] = _lorebook(signed_in_client, campaign, raw)
    assert words in said
    [said] = _campaign_file(signed_in_client, raw)
    assert words in said


def test_a_missing_file_asks_for_one(signed_in_client, campaign):
    url = reverse("stories:lorebook_import", args=[campaign.pk])
    response = signed_in_client.post(url, {"kind": "lore"}, follow=True)
    assert [str(m) for m in response.context["messages"]] == ["Choose a lorebook to import."]
