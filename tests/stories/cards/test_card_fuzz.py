"""Fuzzing character cards with hypothesis: real V2 and V3 cards with random edits, as JSON
and inside a PNG, and random bytes after a PNG signature. Whatever arrives, the page
answers with a redirect and a message, never a server error; a refused card adds nothing."""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from hypothesis import given
from hypothesis import strategies as st

from stories.models import Entity
from tests.stories.cards.samples import card_png, v2_card, v3_card
from tests.stories.test_fuzz_import import FUZZ, mutate
from tests.stories.views.pages import url

pytestmark = pytest.mark.django_db


def _post(client, campaign, raw: bytes) -> None:
    """Post the card, check the answer, and roll the import back for the next example."""
    before = Entity.objects.filter(campaign=campaign).count()
    upload = SimpleUploadedFile("card", raw, content_type="application/octet-stream")
    with transaction.atomic():
        response = client.post(url("card_import", campaign.pk), {"file": upload, "kind": "auto"})
        assert response.status_code == 302, response.status_code
        if response["Location"] == url("campaign_settings", campaign.pk):  # refused
            assert Entity.objects.filter(campaign=campaign).count() == before
        else:
            assert Entity.objects.filter(campaign=campaign).count() > before
        transaction.set_rollback(True)


@FUZZ
@given(data=st.data(), as_png=st.booleans())
def test_a_card_with_random_edits_is_imported_or_refused_with_a_message(
    signed_in_client, campaign, data, as_png
):
    card = data.draw(st.sampled_from([v2_card(), v3_card()]))
    value = mutate(data, card, edits=data.draw(st.integers(1, 4)))
    text = json.dumps(value, ensure_ascii=False, allow_nan=True)
    _post(signed_in_client, campaign, card_png(text) if as_png else text.encode())


@FUZZ
@given(tail=st.binary(max_size=200))
def test_random_bytes_after_a_png_signature_are_refused_with_a_message(
    signed_in_client, campaign, tail
):
    _post(signed_in_client, campaign, b"\x89PNG\r\n\x1a\n" + tail)
