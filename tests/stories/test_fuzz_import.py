"""Fuzzing the JSON imports with hypothesis: a campaign file and a SillyTavern lorebook,
as random bytes, random JSON, and a real export or lorebook with random edits. Whatever
arrives, the page answers with a redirect and a message, never a server error, and a
refused file leaves nothing behind."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from stories.exchange import campaign_export
from stories.models import Campaign, Entity
from tests.stories.test_exchange import LOREBOOK
from tests.stories.test_exchange import rich_campaign as rich_campaign  # a fixture

pytestmark = pytest.mark.django_db

FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),  # unbounded: far past what a database column holds
    st.integers(min_value=-(2**63), max_value=2**63),
    st.floats(),  # NaN and infinities too (Python's json writes and reads them)
    st.text(max_size=30),
    st.sampled_from(["", "\x00", "2024-01-01T00:00:00", "9999-12-31T23:59:59+14:00", "done"]),
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place inside a JSON value, the root included."""
    found = [prefix]
    if isinstance(value, dict):
        for key, inner in value.items():
            found += _paths(inner, (*prefix, key))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            found += _paths(inner, (*prefix, index))
    return found


def mutate(data: st.DataObject, document: Any, edits: int) -> Any:
    """A copy of `document` with a few random edits: a value replaced, a key or item removed,
    an unknown key added, a list item repeated."""
    document = json.loads(json.dumps(document))
    for _ in range(edits):
        path = data.draw(st.sampled_from(_paths(document)))
        if not path:
            return data.draw(json_values)
        parent = document
        for step in path[:-1]:
            parent = parent[step]
        last = path[-1]
        action = data.draw(st.sampled_from(["replace", "replace", "delete", "add", "repeat"]))
        if action == "replace":
            parent[last] = data.draw(json_values)
        elif action == "delete":
            del parent[last]
        elif action == "add" and isinstance(parent, dict):
            parent[data.draw(st.text(max_size=12))] = data.draw(json_values)
        elif action == "repeat" and isinstance(parent, list):
            parent.append(parent[last])
    return document


def as_file(value: Any) -> SimpleUploadedFile:
    raw = value if isinstance(value, bytes) else json.dumps(value, allow_nan=True).encode()
    return SimpleUploadedFile("upload.json", raw, content_type="application/json")


def _post_campaign_file(client, value: Any) -> None:
    before = Campaign.objects.count()
    response = client.post(reverse("stories:campaign_import"), {"file": as_file(value)})
    assert response.status_code == 302, response.status_code
    after = Campaign.objects.count()
    if response["Location"] == reverse("stories:campaign_list"):
        assert after == before  # refused whole
    else:
        assert after == before + 1


@pytest.fixture
def export(rich_campaign) -> dict[str, Any]:
    return campaign_export(rich_campaign)


@FUZZ
@example(value=b"")
@example(value=b"\xff\xfe{}")
@example(value={"format": "carrel-campaign", "version": 1})
@example(value={"format": "carrel-campaign", "version": math.inf})
@given(value=st.one_of(st.binary(max_size=300), json_values))
def test_random_bytes_or_json_as_a_campaign_file_are_refused_with_a_message(
    signed_in_client, value
):
    _post_campaign_file(signed_in_client, value)


@FUZZ
@given(data=st.data())
def test_a_real_export_with_random_edits_is_imported_or_refused_whole(
    signed_in_client, export, data
):
    edited = mutate(data, export, edits=data.draw(st.integers(1, 4)))
    _post_campaign_file(signed_in_client, edited)


@FUZZ
@given(data=st.data())
def test_a_lorebook_with_random_edits_is_imported_or_refused_with_a_message(
    signed_in_client, campaign, data
):
    if data.draw(st.booleans()):
        value: Any = data.draw(st.one_of(st.binary(max_size=200), json_values))
    else:
        value = mutate(data, LOREBOOK, edits=data.draw(st.integers(1, 4)))
    kind = data.draw(st.sampled_from(["lore", "character", "item", "nonsense", ""]))
    before = Entity.objects.filter(campaign=campaign).count()
    response = signed_in_client.post(
        reverse("stories:lorebook_import", args=[campaign.pk]),
        {"file": as_file(value), "kind": kind},
    )
    assert response.status_code == 302, response.status_code
    if response["Location"] == reverse("stories:campaign_settings", args=[campaign.pk]):
        assert Entity.objects.filter(campaign=campaign).count() == before


EDGES = [
    (("campaign", "head_turn"), 2**70),
    (("campaign", "history_version"), 2**63),
    (("campaign", "title"), "A\x00B"),
    (("campaign", "created_at"), "0001-01-01T00:00:00-14:00"),
    (("campaign", "created_at"), "9999-12-31T23:59:59-14:00"),
    (("turns", 0, "number"), 2**40),
    (("turns", 0, "action"), "\x00"),
    (("turns", 0, "context_map"), {"\x00": "\x00"}),
    (("events", 0, "sequence"), 2**70),
    (("events", 0, "turn"), -1),
    (("events", 0, "payload"), {"number": 2**70}),
    (("events", 0, "payload"), {"number": math.nan}),
    (("summaries", 0, "first_turn"), 2**70),
    (("world", "clock"), math.inf),
    (("world", "entities"), [1, 2, 3]),
]


@pytest.mark.parametrize(("path", "value"), EDGES)
def test_edge_values_in_a_real_export_are_imported_or_refused_whole(
    signed_in_client, export, path, value
):
    parent = export
    for step in path[:-1]:
        parent = parent[step]
    parent[path[-1]] = value
    _post_campaign_file(signed_in_client, export)


LOREBOOK_EDGES = [
    {"entries": {"1": {"key": True, "content": "x"}}},
    {"entries": {"1": {"key": 7, "comment": {"a": 1}}}},
    {"entries": [{"keys": [None, {"a": []}], "content": ["x"], "constant": "no"}]},
    {"entries": {"1": {"comment": "Nul\x00name", "content": "Nul\x00content"}}},
    {"entries": {"1": {"comment": " ", "key": [" "], "uid": 2**70}}},
    {"character_book": {"entries": {"x": "not an entry"}}},
    {"entries": {"1": {"comment": "x" * 5000, "content": "y" * 50_000}}},
]


@pytest.mark.parametrize("book", LOREBOOK_EDGES)
def test_odd_lorebooks_are_imported_or_refused_with_a_message(signed_in_client, campaign, book):
    response = signed_in_client.post(
        reverse("stories:lorebook_import", args=[campaign.pk]),
        {"file": as_file(book), "kind": "lore"},
    )
    assert response.status_code == 302, response.status_code
