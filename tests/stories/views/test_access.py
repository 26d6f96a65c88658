"""Who may open what in a campaign: every stories URL, taken from the resolver (so a URL
added later is tried too), by a stranger, a viewer, an editor and the owner, with the ids
of a campaign that belongs to someone else.

Campaigns are shared person by person (CampaignMember: owner, editor, player, viewer).
They cannot be shared with a group: a membership carries the character a person plays
and is the actor of their turns, which a group has no meaning for.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Count
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from stories import services
from stories.character_cards import card_parse
from stories.models import Campaign, CampaignMember, EntityProposal, Event, Turn
from stories.turns import turn_play

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}
NOT_ABOUT_ONE_CAMPAIGN = {
    "stories:campaign_list",
    "stories:campaign_create",
    "stories:campaign_import",
}
OWNER_ONLY_POST = {
    "stories:member_add",
    "stories:member_character",
    "stories:member_remove",
    "stories:rolls_setting",
}
# Forms that only the owner and editors may even open.
EDITOR_FORMS = {
    "stories:entity_create",
    "stories:entity_edit",
    "stories:lorebook_preview_detail",
}


def routes() -> list[tuple[str, list[str]]]:
    found: list[tuple[str, list[str]]] = []

    def walk(patterns: list[Any], namespace: str | None, params: list[str]) -> None:
        for pattern in patterns:
            own = list(getattr(pattern.pattern, "converters", {}))
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, pattern.namespace or namespace, params + own)
            elif isinstance(pattern, URLPattern) and pattern.name and namespace == "stories":
                found.append((f"stories:{pattern.name}", params + own))

    walk(get_resolver().url_patterns, None, [])
    assert len(found) > 25, "the resolver walk found too few URLs"
    return [(name, params) for name, params in found if name not in NOT_ABOUT_ONE_CAMPAIGN]


def url_for(name: str, params: list[str], ids: dict[str, int]) -> str:
    unknown = [param for param in params if param not in ids]
    assert not unknown, f"{name}: tell tests/stories/test_access.py which id {unknown} takes"
    return reverse(name, kwargs={param: ids[param] for param in params})


@pytest.fixture
def people(other_user) -> dict[str, User]:
    made = {
        name: User.objects.create_user(username=name, password="correct horse 46")
        for name in ("vera", "ed", "pia")
    }
    roles = {"viewer": "vera", "editor": "ed", "player": "pia"}
    return {"stranger": other_user} | {role: made[name] for role, name in roles.items()}


@pytest.fixture
def ids(campaign, owner_member, people, script) -> dict[str, int]:
    for _ in range(20):
        script.add("The gulls cry over the harbor.", [])
    turn = turn_play(campaign=campaign, member=owner_member, action="I look around.")
    services.member_add(campaign=campaign, username="vera", role="viewer")
    services.member_add(campaign=campaign, username="ed", role="editor")
    player = services.member_add(
        campaign=campaign, username="pia", role="player", character_number=campaign.numbers["Bram"]
    )
    card = {"spec": "chara_card_v2", "data": {"name": "Cole", "description": "Of the Harbor."}}
    character = services.character_card_import(
        campaign=campaign, user=owner_member.user, card=card_parse(json.dumps(card).encode())
    )
    proposal = EntityProposal.objects.create(
        campaign=campaign,
        change={"kind": "create", "entity_kind": "character", "name": "Cora"},
    )
    return {
        "pk": campaign.pk,
        "member_id": player.pk,
        "turn_id": turn.pk,
        "number": campaign.numbers["Harbor"],
        "other": campaign.numbers["Market"],
        "proposal_id": proposal.pk,
        "character": character.number,
        "token": 1,  # a lorebook preview's; one nobody uploaded
    }


def get(client: Client, url: str, **extra: Any) -> int:
    response = client.get(url, **extra)
    if response.streaming:
        b"".join(response.streaming_content)  # type: ignore[attr-defined]
    return response.status_code


def post_rolled_back(client: Client, url: str) -> int:
    with transaction.atomic():
        status = client.post(url, {}).status_code
        transaction.set_rollback(True)
    return status


def statuses(client: Client, ids: dict[str, int], *, roll_back: bool = True) -> dict:
    found = {}
    for name, params in routes():
        url = url_for(name, params, ids)
        found[(name, "GET")] = get(client, url)
        found[(name, "GET htmx")] = get(client, url, **HX)
        if roll_back:
            found[(name, "POST")] = post_rolled_back(client, url)
        else:
            found[(name, "POST")] = client.post(url, {}).status_code
    return found


def wrong(found: dict, allowed: Any) -> list[str]:
    return [f"{name} {method}: {status}" for (name, method), status in found.items()
            if not allowed(name, method, status)]  # fmt: skip


def fingerprint(campaign: Campaign) -> dict[str, Any]:
    """The campaign's story and world, without its lease (taking one changes nothing)."""
    row: dict[str, Any] = dict(Campaign.objects.filter(pk=campaign.pk).values().get())
    for transient in ("lease_token", "lease_until", "lease_label", "summarizing_since"):
        row.pop(transient)
    return {
        "campaign": row,
        "members": list(campaign.members.values_list("user", "role", "character_number")),
        "proposals": list(campaign.proposals.values_list("id", "status")),
        **Campaign.objects.filter(pk=campaign.pk).aggregate(
            events=Count("events", distinct=True),
            turns=Count("turns", distinct=True),
            entities=Count("entities", distinct=True),
            connections=Count("connections", distinct=True),
            holdings=Count("holdings", distinct=True),
            relationships=Count("relationships", distinct=True),
        ),
        "undone": list(Turn.objects.filter(campaign=campaign).values_list("id", "undone")),
        "applied": Event.objects.filter(campaign=campaign, applied=True, undone=False).count(),
    }


def test_the_owner_reaches_every_campaign_url_so_the_ids_below_are_real(client, user, ids):
    client.force_login(user)
    found = statuses(client, ids)
    assert not wrong(found, lambda name, method, status: status not in (403, 404, 500))


def test_a_stranger_gets_404_for_every_campaign_url_and_every_method(client, ids, people):
    client.force_login(people["stranger"])
    found = statuses(client, ids)
    assert not wrong(found, lambda name, method, status: status in (404, 405))
    assert "The Lost Crown" not in client.get(reverse("stories:campaign_list")).content.decode()
    assert "The Lost Crown" not in client.get("/").content.decode()


def test_guessed_campaign_ids_are_404_and_never_an_error(client, user, ids):
    client.force_login(user)
    guessed = {key: value + 10_000 for key, value in ids.items()}
    guessed["pk"] = ids["pk"] + 10_000
    found = statuses(client, guessed)
    assert not wrong(found, lambda name, method, status: status in (404, 405))


def test_a_viewer_reads_every_page_and_no_post_changes_the_campaign(client, campaign, ids, people):
    client.force_login(people["viewer"])
    before = fingerprint(campaign)
    found = statuses(client, ids, roll_back=False)

    def allowed(name: str, method: str, status: int) -> bool:
        if method == "POST":
            return status in (200, 302, 400, 403, 405)
        if name in EDITOR_FORMS:
            return status == 403
        return status in (200, 302, 405)

    assert not wrong(found, allowed)
    assert fingerprint(campaign) == before
    # A branch is the viewer's own new campaign; this one is untouched (checked above).
    assert not Campaign.objects.filter(owner=people["viewer"]).exclude(branched_from=campaign)


def test_an_editor_may_change_the_campaign_but_not_its_members(client, ids, people):
    client.force_login(people["editor"])
    found = statuses(client, ids)

    def allowed(name: str, method: str, status: int) -> bool:
        if method == "POST" and name in OWNER_ONLY_POST:
            return status == 403
        return status not in (403, 404, 500)

    assert not wrong(found, allowed)


def test_campaign_exports_refuse_strangers_and_serve_every_member(client, ids, people):
    exported = {name for name, _params in routes() if "export" in name or "chronicle" in name}
    assert exported == {
        "stories:export_json",
        "stories:chronicle",
        "stories:world_info_export",
        "stories:card_export",
    }, "an export is missing here"
    params = dict(routes())
    urls = [url_for(name, params[name], ids) for name in sorted(exported)]
    client.force_login(people["stranger"])
    for url in urls:
        assert client.get(url).status_code == 404, url
    for who in ("viewer", "player", "editor"):
        client.force_login(people[who])
        for url in urls:
            response = client.get(url)
            assert response.status_code == 200, (who, url)
            assert response["Content-Disposition"].startswith("attachment;"), url
            assert "Harbor" in response.content.decode()


def test_a_removed_member_loses_the_campaign(client, campaign, ids, people):
    member = CampaignMember.objects.get(campaign=campaign, user=people["viewer"])
    services.member_remove(member=member)
    client.force_login(people["viewer"])
    assert client.get(reverse("stories:campaign_detail", args=[campaign.pk])).status_code == 404
    assert client.get(reverse("stories:export_json", args=[campaign.pk])).status_code == 404
